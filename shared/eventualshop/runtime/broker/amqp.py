"""RabbitMQ topology and connection helpers shared by the publisher and the dispatcher.

Follows eventing-rabbitmq's layout: ONE durable headers exchange per broker; per Trigger one
durable queue bound to it with ``x-match: all`` on the filter attributes and an informational
``x-knative-trigger`` argument (``x-`` arguments take no part in matching). The filter keys are
the ``ce-`` headers the binding writes (see :mod:`.binding` for why the prefix).

Added for retries (eventing-rabbitmq retries inside its dispatcher instead): per Trigger and
backoff delay one durable *retry queue* whose messages expire after that delay and are
dead-lettered back, through the default exchange, to the Trigger's queue only.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator, Mapping
from typing import Any

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

from eventualshop.runtime.broker.binding import AMQP_PREFIX, AmqpMessage
from eventualshop.runtime.registry import Subscription
from eventualshop.runtime.unavailable import causes, described

#: Attempts already made for this message, written by the dispatcher when it schedules a retry.
ATTEMPTS_HEADER = "x-eventualshop-attempts"
TRIGGER_ARGUMENT = "x-knative-trigger"
# Headers RabbitMQ writes while dead-lettering; a retried copy starts without them, so a message
# that went round the retry loop many times does not carry an ever-growing history.
_BROKER_HEADERS = ("x-death", "x-first-death-", "x-last-death-")

# Every failure that means "the connection or channel is gone", as opposed to a broker verdict
# on one message (NackError, UnroutableError) which leaves the channel usable.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    pika.exceptions.AMQPConnectionError,
    pika.exceptions.ChannelClosed,
    pika.exceptions.ChannelWrongStateError,
    OSError,
)


def parameters(url: str, *, connect_timeout: float = 5.0) -> pika.URLParameters:
    """Parameters that fail fast: one attempt, a bounded socket timeout, unless the URL says."""
    params = pika.URLParameters(url)
    if "connection_attempts" not in url:
        params.connection_attempts = 1
    if "socket_timeout" not in url:
        params.socket_timeout = connect_timeout
    if "stack_timeout" not in url:
        # The whole connection set-up (TCP, AMQP handshake), which socket_timeout alone leaves
        # at pika's 15 s.
        params.stack_timeout = connect_timeout
    if "blocked_connection_timeout" not in url:
        # A broker under a memory or disk alarm blocks publishers forever otherwise.
        params.blocked_connection_timeout = 30.0
    return params


class BrokerRefused(pika.exceptions.AMQPConnectionError):
    """RabbitMQ answered, and refused: the login (user or password), or the vhost (none of that
    name, or not this user's). Still pika's connection error, so everything that counts an
    unreachable broker as an outage (a 503, exit 69, the outbox left for later) counts this
    too; its text is one line saying which, naming the broker without the password, where pika
    said "Client was disconnected at a connection stage indicating a probable authentication
    error: (\"ConnectionClosedByBroker: (403) …\",)" and the command line called the broker
    unreachable, sending the operator to the network."""

    def __init__(self, line: str) -> None:
        super().__init__(line)
        self.line = line

    def __str__(self) -> str:
        return self.line

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.line!r})"


def broker(params: pika.connection.Parameters) -> str:
    """Where a connection goes, for a line: ``RabbitMQ at host:port``."""
    return f"RabbitMQ at {params.host}:{params.port}"


def _refused(params: pika.connection.Parameters, error: BaseException) -> BrokerRefused:
    where, vhost = broker(params), params.virtual_host
    user = getattr(params.credentials, "username", "")
    if isinstance(error, pika.exceptions.ProbableAuthenticationError):
        return BrokerRefused(
            f"{where} refused the login for user {user!r}: correct the user or the password "
            "of the RabbitMQ URL (--rabbitmq-url, EVENTUALSHOP_RABBITMQ_URL)"
        )
    if "not found" in str(error):  # (530) 'NOT_ALLOWED - vhost x not found'
        return BrokerRefused(
            f"{where} has no vhost {vhost!r}: create it (rabbitmqctl add_vhost {vhost}) or "
            "correct the path of the RabbitMQ URL"
        )
    return BrokerRefused(
        f"{where} refused user {user!r} access to vhost {vhost!r}: grant it (rabbitmqctl "
        f"set_permissions -p {vhost} {user} …) or correct the RabbitMQ URL"
    )


def connect(url: str, *, connect_timeout: float = 5.0) -> BlockingConnection:
    """A connection; a TLS handshake that fails (``amqps://`` to a plain port, a certificate
    refused) is pika's connection error like any other, where pika let ``ssl.SSLError`` through
    as it was and the command line said "SSLError: …", exit 1, naming no broker. A login or a
    vhost RabbitMQ refuses is :class:`BrokerRefused`."""
    params = parameters(url, connect_timeout=connect_timeout)
    try:
        return pika.BlockingConnection(params)
    except ssl.SSLError as error:
        raise pika.exceptions.AMQPConnectionError(error) from error
    except (
        pika.exceptions.ProbableAuthenticationError,
        pika.exceptions.ProbableAccessDeniedError,
    ) as error:
        raise _refused(params, error) from error


def refusal(error: BaseException) -> BrokerRefused | None:
    """The broker's refusal among ``error``'s causes, if it is one."""
    return next((c for c in causes(error) if isinstance(c, BrokerRefused)), None)


def failure(url: str, error: BaseException) -> str:
    """Why publishing to ``url`` failed, in one plain line naming the broker without its
    password: the refusal as it is, else ``RabbitMQ at host:port cannot be reached: …`` in the
    socket's words (pika's were nested reprs: ``AMQPConnectionError((AMQPConnectorSocket…``)."""
    refused = refusal(error)
    if refused is not None:
        return str(refused)
    try:
        where = broker(pika.URLParameters(url))
    except Exception:  # a URL pika cannot read fails elsewhere, in words of its own
        where = "RabbitMQ"
    reason = " ".join(described(error).split())[:200] or type(error).__name__
    return f"{where} cannot be reached: {reason}"


@contextlib.contextmanager
def channel(url: str) -> Iterator[BlockingChannel]:
    """A short-lived connection and channel, for declarations and administration."""
    connection = connect(url)
    try:
        yield connection.channel()
    finally:
        if connection.is_open:
            connection.close()


def declare_exchange(chan: BlockingChannel, exchange: str) -> None:
    chan.exchange_declare(exchange, exchange_type="headers", durable=True)


def binding_arguments(subscription: Subscription) -> dict[str, str]:
    arguments = {"x-match": "all", TRIGGER_ARGUMENT: subscription.name}
    for name, value in subscription.filters.items():
        arguments[AMQP_PREFIX + name] = value
    return arguments


def trigger_queue(prefix: str, trigger: str) -> str:
    return f"{prefix}.{trigger}"


def retry_queue(queue: str, delay_ms: int) -> str:
    # Named by delay, not by attempt: a changed backoff declares new queues instead of failing on
    # a queue whose x-message-ttl differs (PRECONDITION_FAILED), and equal delays share one.
    return f"{queue}.retry.{delay_ms}ms"


def delay_ms(subscription: Subscription, attempt: int) -> int:
    return round(subscription.delivery.delay_seconds(attempt) * 1000)


def retry_queues(queue: str, subscription: Subscription) -> list[str]:
    """Retry queue of each retry (index 0: the wait after the first failed attempt)."""
    return [
        retry_queue(queue, delay_ms(subscription, n))
        for n in range(1, subscription.delivery.retry + 1)
    ]


def declare_trigger(
    chan: BlockingChannel, exchange: str, queue: str, subscription: Subscription
) -> None:
    chan.queue_declare(queue, durable=True)
    chan.queue_bind(queue, exchange, arguments=binding_arguments(subscription))
    for n in range(1, subscription.delivery.retry + 1):
        ttl = delay_ms(subscription, n)
        chan.queue_declare(
            retry_queue(queue, ttl),
            durable=True,
            arguments={
                # One TTL per queue: messages expire in arrival order, never one stuck behind a
                # longer wait (per-message TTLs only expire at the head of a queue).
                "x-message-ttl": ttl,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": queue,
            },
        )


def properties(
    message: AmqpMessage, extra: Mapping[str, Any] | None = None
) -> pika.BasicProperties:
    headers: dict[str, Any] = dict(message.headers)
    if extra:
        headers.update(extra)
    return pika.BasicProperties(
        content_type=message.content_type,
        headers=headers,
        message_id=message.message_id,
        delivery_mode=pika.DeliveryMode.Persistent,
    )


def retried_properties(original: pika.BasicProperties, attempts: int) -> pika.BasicProperties:
    """The same message for its next attempt: broker history dropped, attempts counted."""
    headers = {
        key: value
        for key, value in (original.headers or {}).items()
        if not key.startswith(_BROKER_HEADERS)
    }
    headers[ATTEMPTS_HEADER] = attempts
    return pika.BasicProperties(
        content_type=original.content_type,
        content_encoding=original.content_encoding,
        headers=headers,
        message_id=original.message_id,
        delivery_mode=pika.DeliveryMode.Persistent,
    )


def attempts_made(headers: Mapping[str, Any] | None) -> int:
    value = (headers or {}).get(ATTEMPTS_HEADER, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0

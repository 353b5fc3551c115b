"""Publishers behind the kernel's outbox port: Knative broker ingress, RabbitMQ, in-process.

Every publisher parses the outbox row (structured-mode JSON) into a :class:`CloudEventMessage`
first, so a malformed row fails before anything of the batch is sent, and either returns with
every entry accepted or raises ``PublishError``; the relay then leaves the rows pending and the
next sweep publishes them again (at least once, in outbox order).

Knative semantics followed: events are POSTed to the broker ingress (``K_SINK``) in HTTP binary
mode and a 2xx answer means the broker accepted the event; on RabbitMQ the message is what the
RabbitMQBroker's ingress would put on its exchange (see :mod:`.binding` for the ``ce-`` headers).
Deviation: the ingress answers per event, so a batch is not atomic; a failure part-way leaves
the whole batch pending and the accepted part is published again later (consumers are idempotent).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

from eventualshop.kernel.eventstore import OutboxEntry
from eventualshop.kernel.outbox import PublishError
from eventualshop.runtime.broker.binding import (
    AmqpMessage,
    BindingError,
    CloudEventMessage,
    from_outbox,
    to_amqp,
    to_binary,
)
from eventualshop.runtime.broker.httpclient import HttpFailure, HttpPoster

if TYPE_CHECKING:
    from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

log = logging.getLogger(__name__)


def parse_entries(entries: Sequence[OutboxEntry]) -> list[CloudEventMessage]:
    try:
        return [from_outbox(entry) for entry in entries]
    except BindingError as error:
        raise PublishError(str(error)) from None


class KnativeSinkPublisher:
    """POSTs each event in binary mode to the broker ingress; a non-2xx answer is a failure."""

    def __init__(
        self, url: str, *, timeout: float = 10.0, poster: HttpPoster | None = None
    ) -> None:
        self.url = url
        self._poster = poster or HttpPoster(timeout=timeout)

    def publish(self, entries: Sequence[OutboxEntry]) -> None:
        for message in parse_entries(entries):
            headers, body = to_binary(message)
            try:
                reply = self._poster.post(self.url, headers, body)
            except HttpFailure as error:
                raise PublishError(f"broker ingress unreachable: {error}") from None
            if not 200 <= reply.status < 300:
                detail = reply.body[:200].decode(errors="replace")
                raise PublishError(
                    f"broker ingress answered {reply.status} for event {message.id}: {detail}"
                )


class RabbitMqPublisher:
    """Publishes to the broker's headers exchange with publisher confirms, persistent messages.

    One connection, opened on first use and reopened once per call when it turns out dropped
    (idle connections die: heartbeats are only answered while pika is called). A nack, an
    unroutable ``mandatory`` message or a broker that stays unreachable raise ``PublishError``.
    Thread-safe: a lock serialises publishes, since a pika connection is not thread-safe.
    """

    def __init__(self, url: str, exchange: str, *, connect_timeout: float = 5.0) -> None:
        self.url = url
        self.exchange = exchange
        self.connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._connection: BlockingConnection | None = None
        self._channel: BlockingChannel | None = None

    def publish(self, entries: Sequence[OutboxEntry]) -> None:
        self.publish_messages(parse_entries(entries))

    def publish_messages(self, messages: Sequence[CloudEventMessage]) -> None:
        """Through the exchange: each message reaches every Trigger whose filter it matches."""
        self.send([(self.exchange, "", to_amqp(m)) for m in messages])

    def send(
        self, items: Sequence[tuple[str, str, AmqpMessage]], *, mandatory: bool = False
    ) -> None:
        """Publish (exchange, routing key, message) triples in order, each one confirmed.

        ``mandatory`` makes a message no queue takes a failure (used to replay into one queue);
        through the broker exchange an event no Trigger wants is simply dropped, as in Knative.
        """
        import pika.exceptions

        from eventualshop.runtime.broker import amqp

        with self._lock:
            index, retried = 0, False
            while index < len(items):
                exchange, routing_key, message = items[index]
                had_channel = self._channel is not None
                try:
                    channel = self._open_channel()
                    channel.basic_publish(
                        exchange,
                        routing_key,
                        message.body,
                        amqp.properties(message),
                        mandatory=mandatory,
                    )
                except pika.exceptions.UnroutableError:
                    raise PublishError(
                        f"event {message.message_id} was routed to no queue ({routing_key!r})"
                    ) from None
                except pika.exceptions.NackError:
                    raise PublishError(
                        f"broker refused event {message.message_id} (nack)"
                    ) from None
                except amqp.CONNECTION_ERRORS as error:
                    self._drop()
                    if had_channel and not retried:
                        # The connection we had went away (idle, broker restarted): reconnect
                        # once. The unconfirmed message is sent again, nothing is skipped.
                        retried = True
                        continue
                    raise PublishError(amqp.failure(self.url, error)) from None
                index += 1

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _open_channel(self) -> BlockingChannel:
        if self._channel is not None and self._channel.is_open:
            return self._channel
        from eventualshop.runtime.broker import amqp

        self._drop()
        connection = amqp.connect(self.url, connect_timeout=self.connect_timeout)
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            amqp.declare_exchange(channel, self.exchange)
        except BaseException:
            connection.close()
            raise
        self._connection, self._channel = connection, channel
        return channel

    def _drop(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except Exception:  # already broken: closing is only tidying up
                log.debug("closing a broken RabbitMQ connection failed", exc_info=True)


class MessageSink(Protocol):
    """What the in-process publisher hands events to (the in-process broker)."""

    def hand_over(self, messages: Iterable[CloudEventMessage]) -> None: ...


class InProcessPublisher:
    """Hands events to the in-process broker, which routes them like the real one.

    It returns, so the relay marks the events published, only once every Trigger had its first
    attempt at each (delivered, scheduled for a retry, or dead-lettered): an event in a queue of
    this process is not handed over, and a crash there must leave it to the relay to send again.
    """

    def __init__(self, broker: MessageSink) -> None:
        self.broker = broker

    def publish(self, entries: Sequence[OutboxEntry]) -> None:
        self.broker.hand_over(parse_entries(entries))

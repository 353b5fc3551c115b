"""Delivery with Knative Trigger semantics: the in-process broker and the RabbitMQ dispatcher.

Both read the same declarations, ``(Subscription, subscriber)`` pairs, and share one delivery
rule, so local routing is production routing:

* An event goes to every Trigger whose filters all equal the event's attributes (exact match on
  context attributes and extensions alike; no filter matches everything).
* The subscriber answers like an HTTP endpoint. 2xx: delivered. No answer (refused, timeout,
  exception), 5xx, 404, 408, 409 or 429: retried, as Knative's ``SelectiveRetry`` does, after
  ``Delivery.delay_seconds(n)`` (linear: delay * n, exponential: delay * 2^(n-1)), at most
  ``retry`` times after the first attempt. Any other status (3xx, 400, 401, 403, 413, 422, ...)
  says the event itself is unacceptable: dead-lettered at once, never retried.
* Then the event goes to the dead-letter store with the reason (last status and the start of the
  answer, or the error), the attempts made and the trigger; without a ``dead_letter_sink`` it is
  dropped, as Knative does.

Deviations: Knative treats an empty filter value as "any value"; here every value is compared
exactly (``Subscription.matches``). Knative's optional Retry-After handling is not implemented.
The RabbitMQ dispatcher keeps waiting messages in per-trigger retry queues instead of holding
them in memory (see :class:`RabbitMqDispatcher`).
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Any

from eventualshop.kernel.messages import utc_now
from eventualshop.runtime.broker.binding import (
    BindingError,
    CloudEventMessage,
    from_amqp,
    to_amqp,
    to_binary,
)
from eventualshop.runtime.broker.deadletters import DeadLetter, DeadLetterStore, ReplayError
from eventualshop.runtime.broker.httpclient import HttpFailure, HttpPoster
from eventualshop.runtime.registry import Subscription

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication
    from pika import BasicProperties
    from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection
    from pika.spec import Basic

    from eventualshop.runtime.broker.publishers import RabbitMqPublisher

log = logging.getLogger(__name__)

#: How much of a subscriber's answer a dead letter keeps (Knative keeps 1024 bytes too).
DETAIL_LIMIT = 1024
RETRYABLE_STATUSES = frozenset({404, 408, 409, 429})


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """A subscriber's answer: an HTTP status, or ``None`` when there was no answer at all."""

    status: int | None
    detail: str = ""

    def describe(self) -> str:
        head = "no response" if self.status is None else f"status {self.status}"
        return f"{head}: {self.detail}" if self.detail else head


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    REJECTED = "rejected"


def verdict(outcome: DeliveryOutcome) -> Verdict:
    """Knative's ``SelectiveRetry``: what is worth another attempt."""
    status = outcome.status
    if status is None or status >= 500 or status in RETRYABLE_STATUSES:
        return Verdict.RETRY
    if 200 <= status < 300:
        return Verdict.DELIVERED
    return Verdict.REJECTED


#: A subscriber is a URL (POSTed in binary mode) or a callable answering like one: an HTTP status,
#: or a ``DeliveryOutcome`` to add a detail for the dead letter. An exception means "no answer".
Subscriber = Callable[[CloudEventMessage], int | DeliveryOutcome] | str


def call_subscriber(
    subscriber: Subscriber, message: CloudEventMessage, poster: HttpPoster
) -> DeliveryOutcome:
    if isinstance(subscriber, str):
        headers, body = to_binary(message)
        try:
            reply = poster.post(subscriber, headers, body)
        except HttpFailure as error:
            return DeliveryOutcome(None, str(error)[:DETAIL_LIMIT])
        return DeliveryOutcome(reply.status, excerpt(reply.body))
    try:
        answer = subscriber(message)
    except Exception as error:  # the subscriber's bug must not kill the broker: retry it
        log.exception("subscriber raised on event %s", message.id)
        return DeliveryOutcome(None, f"{type(error).__name__}: {error}"[:DETAIL_LIMIT])
    if isinstance(answer, DeliveryOutcome):
        return answer
    return DeliveryOutcome(int(answer))


def excerpt(body: bytes) -> str:
    return body[:DETAIL_LIMIT].decode(errors="replace")


class WsgiSubscriber:
    """Delivers to a WSGI app in-process, in HTTP binary mode, without a socket.

    For delivering to a functions-framework app exactly as Knative would, e.g. ``WsgiSubscriber(
    functions_framework.create_app(target, source, "cloudevent"))`` (the local server instead
    calls its targets directly, see ``runtime.local.DirectSubscriber``).
    """

    def __init__(self, app: WSGIApplication, path: str = "/") -> None:
        from werkzeug.test import Client

        self.path = path
        self._client = Client(app)

    def __call__(self, message: CloudEventMessage) -> DeliveryOutcome:
        headers, body = to_binary(message)
        response = self._client.post(self.path, headers=headers, data=body)
        return DeliveryOutcome(response.status_code, excerpt(response.get_data()))


@dataclass(frozen=True, slots=True)
class Trigger:
    subscription: Subscription
    subscriber: Subscriber

    @property
    def name(self) -> str:
        return self.subscription.name


def _triggers(pairs: Iterable[tuple[Subscription, Subscriber]]) -> dict[str, Trigger]:
    triggers: dict[str, Trigger] = {}
    for subscription, subscriber in pairs:
        if subscription.name in triggers:
            raise ValueError(f"two triggers named {subscription.name!r}")
        triggers[subscription.name] = Trigger(subscription, subscriber)
    return triggers


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    trigger: str
    event_id: str
    delivered: bool
    attempts: int
    outcome: DeliveryOutcome
    dead_letter_id: int | None = None


# ------------------------------------------------------------------------------ in-process broker


class InProcessBroker:
    """Routes each published event to every matching Trigger and delivers it, retrying per
    Trigger, then dead-lettering. Deterministic: ``sleep`` and ``clock`` are injectable.

    By default delivery is synchronous, in the publishing thread; an event published *while*
    delivering (a saga reacting) is queued and delivered after the current one, so delivery
    never recurses. ``start()`` moves delivery to one background thread instead (the local
    server, so a slow retry never holds up a command); ``join()`` waits until it is idle.
    """

    def __init__(
        self,
        triggers: Iterable[tuple[Subscription, Subscriber]],
        dead_letters: DeadLetterStore,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = utc_now,
        poster: HttpPoster | None = None,
    ) -> None:
        self.triggers = _triggers(triggers)
        self.dead_letters = dead_letters
        self.sleep = sleep
        self.clock = clock
        self.poster = poster or HttpPoster()
        self.reports: collections.deque[DeliveryReport] = collections.deque(maxlen=1000)
        self._local = threading.local()
        self._queue: queue.Queue[CloudEventMessage | None] | None = None
        self._worker: threading.Thread | None = None

    def routes(self, message: CloudEventMessage) -> list[str]:
        """Names of the Triggers this event goes to, in declaration order."""
        attributes = dict(message.attributes)
        return [t.name for t in self.triggers.values() if t.subscription.matches(attributes)]

    def publish(self, message: CloudEventMessage) -> None:
        if self._queue is not None:
            self._queue.put(message)
            return
        pending: collections.deque[CloudEventMessage] | None = getattr(self._local, "pending", None)
        if pending is not None:  # called from inside a delivery on this thread
            pending.append(message)
            return
        pending = self._local.pending = collections.deque([message])
        try:
            while pending:
                self._route(pending.popleft())
        finally:
            self._local.pending = None

    def deliver(self, trigger: str, message: CloudEventMessage) -> DeliveryReport:
        """Deliver to one Trigger with its retry policy; dead-letter when that fails."""
        target = self.triggers.get(trigger)
        if target is None:
            raise KeyError(f"no trigger {trigger!r}")
        report = self._deliver(target, message)
        self.reports.append(report)
        return report

    def redeliver(self, letter: DeadLetter) -> None:
        """Replay target: the letter goes through its Trigger's delivery policy again."""
        if letter.trigger not in self.triggers:
            raise ReplayError(f"no trigger {letter.trigger!r} on this broker")
        self.deliver(letter.trigger, letter.message())

    def start(self) -> None:
        if self._worker is not None:
            return
        self._queue = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="inprocess-broker", daemon=True)
        self._worker.start()

    def join(self) -> None:
        if self._queue is not None:
            self._queue.join()

    def stop(self) -> None:
        worker, work = self._worker, self._queue
        if worker is None or work is None:
            return
        work.put(None)
        worker.join()
        self._worker = self._queue = None

    def _work(self) -> None:
        assert self._queue is not None
        work = self._queue
        while True:
            message = work.get()
            try:
                if message is None:
                    return
                self._route(message)
            except Exception:  # keep the worker alive whatever one event does
                log.exception("in-process delivery failed")
            finally:
                work.task_done()

    def _route(self, message: CloudEventMessage) -> None:
        for name in self.routes(message):
            self.deliver(name, message)

    def _deliver(self, trigger: Trigger, message: CloudEventMessage) -> DeliveryReport:
        delivery = trigger.subscription.delivery
        attempts = 0
        while True:
            attempts += 1
            outcome = call_subscriber(trigger.subscriber, message, self.poster)
            result = verdict(outcome)
            if result is Verdict.DELIVERED:
                return DeliveryReport(trigger.name, message.id, True, attempts, outcome)
            if result is Verdict.RETRY and attempts <= delivery.retry:
                self.sleep(delivery.delay_seconds(attempts))
                continue
            reason = failure_reason(outcome, result)
            letter_id = None
            if delivery.dead_letter_sink is None:
                log.warning("dropped event %s for %s: %s", message.id, trigger.name, reason)
            else:
                letter = DeadLetter.of(
                    trigger.name, message, reason=reason, attempts=attempts, dead_at=self.clock()
                )
                letter_id = self.dead_letters.add(letter)
            return DeliveryReport(trigger.name, message.id, False, attempts, outcome, letter_id)


def failure_reason(outcome: DeliveryOutcome, result: Verdict) -> str:
    described = outcome.describe()
    if result is Verdict.REJECTED:
        return f"rejected, not retried: {described}"
    return described


# --------------------------------------------------------------------------- RabbitMQ dispatcher


class Action(StrEnum):
    ACK = "ack"  # delivered, or dropped for want of a dead-letter sink
    RETRY = "retry"  # republish to the retry queue, then ack
    DEAD = "dead"  # keep in the dead-letter store, then ack
    REQUEUE = "requeue"  # could not settle (dead-letter store down): nack, deliver again later


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    attempts: int
    retry_queue: str | None = None
    letter: DeadLetter | None = None


def decide(
    trigger: Trigger,
    retry_queues: Sequence[str],
    headers: Mapping[str, Any] | None,
    body: bytes,
    *,
    content_type: str | None,
    message_id: str | None,
    poster: HttpPoster,
    clock: Callable[[], datetime] = utc_now,
) -> Decision:
    """What to do with one AMQP delivery for ``trigger``: attempt it, then ack, retry or bury.

    Pure apart from calling the subscriber, so the policy is tested without RabbitMQ. A message
    that is not a CloudEvent is dead-lettered at once with ``attempts`` 0: no subscriber saw it.
    """
    from eventualshop.runtime.broker import amqp

    made = amqp.attempts_made(headers)
    try:
        message = from_amqp(headers, body, content_type=content_type, message_id=message_id)
    except BindingError as error:
        letter = _malformed_letter(trigger.name, headers, body, message_id, str(error), made, clock)
        return Decision(Action.DEAD, made, letter=letter)
    attempt = made + 1
    outcome = call_subscriber(trigger.subscriber, message, poster)
    result = verdict(outcome)
    if result is Verdict.DELIVERED:
        return Decision(Action.ACK, attempt)
    if result is Verdict.RETRY and attempt <= len(retry_queues):
        return Decision(Action.RETRY, attempt, retry_queue=retry_queues[attempt - 1])
    reason = failure_reason(outcome, result)
    if trigger.subscription.delivery.dead_letter_sink is None:
        log.warning("dropped event %s for %s: %s", message.id, trigger.name, reason)
        return Decision(Action.ACK, attempt)
    letter = DeadLetter.of(trigger.name, message, reason=reason, attempts=attempt, dead_at=clock())
    return Decision(Action.DEAD, attempt, letter=letter)


def _malformed_letter(
    trigger: str,
    headers: Mapping[str, Any] | None,
    body: bytes,
    message_id: str | None,
    error: str,
    attempts: int,
    clock: Callable[[], datetime],
) -> DeadLetter:
    from eventualshop.runtime.broker import binding

    # Keep what can be read, so an operator sees what arrived; only text values survive.
    attributes: dict[str, str] = {}
    for key, value in (headers or {}).items():
        name = key.lower()
        if name.startswith("x-"):
            continue
        if name.startswith(binding.AMQP_PREFIX):
            name = name[len(binding.AMQP_PREFIX) :]
        if isinstance(value, bytes):
            value = value.decode(errors="replace")
        if isinstance(value, str | int):
            attributes[name] = str(value)
    return DeadLetter(
        trigger=trigger,
        event_id=attributes.get("id") or message_id or "",
        event_type=attributes.get("type", ""),
        attributes=attributes,
        data=bytes(body),
        reason=f"malformed, not retried: {error}",
        attempts=attempts,
        dead_at=clock(),
    )


@dataclass
class _Session:
    """One connection's worth of state; work finished for an older session is dropped (RabbitMQ
    redelivers its unacked messages on the new connection)."""

    connection: BlockingConnection
    inflight: int = 0


class RabbitMqDispatcher:
    """Consumes one durable queue per Trigger and delivers like a Knative RabbitMQ dispatcher.

    Topology (:mod:`.amqp`): the broker's headers exchange, per Trigger a queue bound with
    ``x-match: all`` on its filters as ``ce-`` headers, and per retry delay a retry queue.

    Retries: a failed attempt is republished (confirmed) to the retry queue of its delay with the
    attempt count in ``x-eventualshop-attempts``, then acked; the queue's TTL dead-letters it back
    to this Trigger's queue only. Chosen over Knative's in-memory retry loop because the waiting
    message is in RabbitMQ, not in the dispatcher: it survives a dispatcher restart with its count,
    does not occupy a prefetch slot for the whole backoff, and needs no timer thread. One queue per
    delay, because RabbitMQ only expires messages at the head of a queue.

    Parallelism: ``prefetch`` unacked messages per Trigger, handled by a pool of worker threads;
    every channel operation happens on the connection's own thread (pika is not thread-safe).
    Dead letters go to ``dead_letters``; if that store fails the message is nacked back after
    ``store_retry_delay``, so it is attempted again rather than lost.
    """

    def __init__(
        self,
        url: str,
        exchange: str,
        triggers: Iterable[tuple[Subscription, Subscriber]],
        dead_letters: DeadLetterStore,
        *,
        prefetch: int = 10,
        workers: int | None = None,
        queue_prefix: str | None = None,
        poster: HttpPoster | None = None,
        clock: Callable[[], datetime] = utc_now,
        reconnect_delay: float = 1.0,
        store_retry_delay: float = 1.0,
    ) -> None:
        from eventualshop.runtime.broker import amqp

        self.url = url
        self.exchange = exchange
        self.triggers = _triggers(triggers)
        self.dead_letters = dead_letters
        self.prefetch = prefetch
        self.workers = workers or max(1, min(32, prefetch * len(self.triggers)))
        self.prefix = queue_prefix or exchange
        self.poster = poster or HttpPoster()
        self.clock = clock
        self.reconnect_delay = reconnect_delay
        self.store_retry_delay = store_retry_delay
        self.queues = {name: amqp.trigger_queue(self.prefix, name) for name in self.triggers}
        self.retry_queues = {
            name: amqp.retry_queues(self.queues[name], t.subscription)
            for name, t in self.triggers.items()
        }
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._replayer: RabbitMqPublisher | None = None
        self._replayer_lock = threading.Lock()

    # -- topology

    def declare(self) -> None:
        """Declare exchange, Trigger queues, bindings and retry queues (idempotent)."""
        from eventualshop.runtime.broker import amqp

        with amqp.channel(self.url) as chan:
            self._declare(chan)

    def _declare(self, chan: BlockingChannel) -> None:
        from eventualshop.runtime.broker import amqp

        amqp.declare_exchange(chan, self.exchange)
        for name, trigger in self.triggers.items():
            amqp.declare_trigger(chan, self.exchange, self.queues[name], trigger.subscription)

    def delete(self, *, exchange: bool = False) -> None:
        """Delete this dispatcher's queues (and the exchange if asked): tests and teardown."""
        from eventualshop.runtime.broker import amqp

        with amqp.channel(self.url) as chan:
            for name in self.triggers:
                for retry in set(self.retry_queues[name]):
                    chan.queue_delete(retry)
                chan.queue_delete(self.queues[name])
            if exchange:
                chan.exchange_delete(self.exchange)

    # -- running

    def start(self, *, timeout: float = 15.0) -> None:
        """Consume in a background thread; return once every Trigger's consumer is set up."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._ready.clear()
        self._thread = threading.Thread(target=self.run, name="rabbitmq-dispatcher", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise TimeoutError(f"dispatcher not consuming from {self.url} after {timeout} s")

    def stop(self, timeout: float = 15.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        with self._replayer_lock:
            if self._replayer is not None:
                self._replayer.close()
                self._replayer = None

    def run(self) -> None:
        """Consume until ``stop()``; reconnect after a lost connection."""
        import pika.exceptions

        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="dispatch")
        try:
            while not self._stopping.is_set():
                try:
                    self._consume()
                except (pika.exceptions.AMQPError, OSError) as error:
                    self._ready.clear()
                    log.warning("RabbitMQ dispatcher lost its connection: %r", error)
                    self._stopping.wait(self.reconnect_delay)
        finally:
            self._executor.shutdown(wait=True)
            self._executor = None

    def _consume(self) -> None:
        from eventualshop.runtime.broker import amqp

        connection = amqp.connect(self.url)
        session = _Session(connection)
        try:
            channels: list[tuple[BlockingChannel, str]] = []
            for name, trigger in self.triggers.items():
                chan = connection.channel()
                chan.confirm_delivery()  # a retry copy must be in its queue before the ack
                chan.basic_qos(prefetch_count=self.prefetch)
                if not channels:
                    self._declare(chan)
                callback = partial(self._on_message, session, trigger)
                tag = chan.basic_consume(self.queues[name], on_message_callback=callback)
                channels.append((chan, tag))
            self._ready.set()
            while not self._stopping.is_set():
                connection.process_data_events(time_limit=0.1)
            # Graceful stop: take no new messages, settle the ones being worked on.
            for chan, tag in channels:
                chan.basic_cancel(tag)
            deadline = time.monotonic() + 10.0
            while session.inflight and time.monotonic() < deadline:
                connection.process_data_events(time_limit=0.05)
        finally:
            if connection.is_open:
                connection.close()

    def _on_message(
        self,
        session: _Session,
        trigger: Trigger,
        chan: BlockingChannel,
        method: Basic.Deliver,
        properties: BasicProperties,
        body: bytes,
    ) -> None:
        assert self._executor is not None
        assert method.delivery_tag is not None
        session.inflight += 1
        self._executor.submit(
            self._work, session, trigger, chan, method.delivery_tag, properties, body
        )

    def _work(
        self,
        session: _Session,
        trigger: Trigger,
        chan: BlockingChannel,
        tag: int,
        properties: BasicProperties,
        body: bytes,
    ) -> None:
        try:
            decision = decide(
                trigger,
                self.retry_queues[trigger.name],
                properties.headers,
                body,
                content_type=properties.content_type,
                message_id=properties.message_id,
                poster=self.poster,
                clock=self.clock,
            )
            if decision.action is Action.DEAD:
                assert decision.letter is not None
                try:
                    self.dead_letters.add(decision.letter)
                except Exception:
                    log.exception("dead-letter store failed; event will be attempted again")
                    self._stopping.wait(self.store_retry_delay)
                    decision = Decision(Action.REQUEUE, decision.attempts)
        except Exception:  # never lose the message to a bug here: nack it back
            log.exception("dispatching to %s failed", trigger.name)
            decision = Decision(Action.REQUEUE, 0)
        settle = partial(self._settle, session, chan, tag, decision, properties, body)
        try:
            session.connection.add_callback_threadsafe(settle)
        except Exception:
            # The connection is gone; RabbitMQ redelivers the unacked message after reconnect.
            log.info("connection closed before settling a message for %s", trigger.name)

    def _settle(
        self,
        session: _Session,
        chan: BlockingChannel,
        tag: int,
        decision: Decision,
        properties: BasicProperties,
        body: bytes,
    ) -> None:
        import pika.exceptions

        from eventualshop.runtime.broker import amqp

        session.inflight -= 1
        if not chan.is_open:
            return
        if decision.action is Action.REQUEUE:
            chan.basic_nack(tag, requeue=True)
            return
        if decision.action is Action.RETRY:
            assert decision.retry_queue is not None
            try:
                chan.basic_publish(
                    "",
                    decision.retry_queue,
                    body,
                    amqp.retried_properties(properties, decision.attempts),
                    mandatory=True,
                )
            except (pika.exceptions.NackError, pika.exceptions.UnroutableError):
                log.warning("could not park a retry in %s; requeued", decision.retry_queue)
                chan.basic_nack(tag, requeue=True)
                return
        chan.basic_ack(tag)

    # -- replay

    def redeliver(self, letter: DeadLetter) -> None:
        """Replay target: publish the event into its Trigger's queue only, attempts reset."""
        from eventualshop.kernel.outbox import PublishError
        from eventualshop.runtime.broker.publishers import RabbitMqPublisher

        queue_name = self.queues.get(letter.trigger)
        if queue_name is None:
            raise ReplayError(f"no trigger {letter.trigger!r} on this dispatcher")
        message = to_amqp(letter.message())
        with self._replayer_lock:
            if self._replayer is None:
                self._replayer = RabbitMqPublisher(self.url, self.exchange)
            try:
                self._replayer.send([("", queue_name, message)], mandatory=True)
            except PublishError as error:
                raise ReplayError(str(error)) from error

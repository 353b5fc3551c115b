"""The RabbitMQ dispatcher: delivers a headers exchange's events to the subscribers with the
Triggers' semantics (see :mod:`eventualshop.runtime.broker.delivery`), one durable queue per
Trigger, retries parked in TTL queues so that a waiting message survives a restart."""

from __future__ import annotations

import logging
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
    from_amqp,
    to_amqp,
)
from eventualshop.runtime.broker.deadletters import DeadLetter, DeadLetterStore, ReplayError
from eventualshop.runtime.broker.delivery import (
    Subscriber,
    Trigger,
    Verdict,
    call_subscriber,
    failure_reason,
    log_dead_letter,
    log_retry,
    triggers_by_name,
    verdict,
)
from eventualshop.runtime.broker.httpclient import HttpPoster
from eventualshop.runtime.registry import Subscription

if TYPE_CHECKING:
    from pika import BasicProperties
    from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection
    from pika.spec import Basic

    from eventualshop.runtime.broker.publishers import RabbitMqPublisher

log = logging.getLogger(__name__)


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
        log_retry(trigger, message, attempt, outcome)
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
        reconnect_longest: float = 10.0,
        store_retry_delay: float = 1.0,
    ) -> None:
        from eventualshop.runtime.broker import amqp

        self.url = url
        self.exchange = exchange
        self.triggers = triggers_by_name(triggers)
        self.dead_letters = dead_letters
        self.prefetch = prefetch
        self.workers = workers or max(1, min(32, prefetch * len(self.triggers)))
        self.prefix = queue_prefix or exchange
        self.poster = poster or HttpPoster()
        self.clock = clock
        self.reconnect_delay = reconnect_delay
        self.reconnect_longest = reconnect_longest
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
            from eventualshop.runtime.urls import shown

            raise TimeoutError(f"dispatcher not consuming from {shown(self.url)} after {timeout} s")

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
        """Consume until ``stop()``; reconnect after a lost connection.

        While RabbitMQ cannot be reached, each attempt waits twice as long as the one before,
        from ``reconnect_delay`` up to ``reconnect_longest``, and says so in one line: an attempt
        every second made a warning a second for as long as the broker was down. A connection
        that consumed again resets the pause, and the first says so once."""
        import pika.exceptions

        from eventualshop.runtime.unavailable import described

        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="dispatch")
        failures = 0
        try:
            while not self._stopping.is_set():
                try:
                    self._consume(failures)
                except (pika.exceptions.AMQPError, OSError) as error:
                    consuming = self._ready.is_set()
                    if consuming:  # a new outage
                        failures = 0
                    self._ready.clear()
                    pause = min(self.reconnect_delay * 2**failures, self.reconnect_longest)
                    failures += 1
                    log.warning(
                        "RabbitMQ dispatcher %s: %s: %s; trying again in %g s",
                        "lost its connection" if consuming else "cannot connect",
                        type(error).__name__,
                        described(error) or "no reason given",
                        pause,
                    )
                    self._stopping.wait(pause)
        finally:
            self._executor.shutdown(wait=True)
            self._executor = None

    def _consume(self, failures: int = 0) -> None:
        """Connect, declare and consume until ``stop()``; ``failures``: the attempts that failed
        in a row before this one (the first to consume after them says so)."""
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
            self._consuming(failures)
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

    def _consuming(self, failures: int) -> None:
        self._ready.set()
        if failures:
            log.info("RabbitMQ dispatcher consuming again after %d failed attempts", failures)

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
                    log_dead_letter(decision.letter, self.dead_letters.add(decision.letter))
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

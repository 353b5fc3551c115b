"""The in-process broker: the local shop's Knative Broker, with the same Trigger semantics
(see :mod:`eventualshop.runtime.broker.delivery`)."""

from __future__ import annotations

import collections
import heapq
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from eventualshop.kernel.messages import utc_now
from eventualshop.runtime.broker.binding import (
    CloudEventMessage,
)
from eventualshop.runtime.broker.deadletters import DeadLetter, DeadLetterStore, ReplayError
from eventualshop.runtime.broker.delivery import (
    DeliveryOutcome,
    DeliveryReport,
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

log = logging.getLogger(__name__)


class InProcessBroker:
    """Routes each published event to every matching Trigger and delivers it, retrying per
    Trigger, then dead-lettering. Deterministic: ``sleep`` and ``clock`` are injectable.

    By default delivery is synchronous, in the publishing thread; an event published *while*
    delivering (a saga reacting) is queued and delivered after the current one, so delivery
    never recurses. ``start()`` moves delivery to one background thread instead (the local
    server): there a failed attempt does not sleep its backoff in line, it waits in a retry
    schedule while the thread goes on with other events and other retries, so one struggling
    subscriber never holds up the rest. :meth:`hand_over` returns once every Trigger had its
    first attempt (delivered, scheduled for a retry, or dead-lettered): the outbox relay marks
    an event published only then. ``join()`` waits until nothing is queued or scheduled.
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
        self.triggers = triggers_by_name(triggers)
        self.dead_letters = dead_letters
        self.sleep = sleep
        self.clock = clock
        self.poster = poster or HttpPoster()
        self.reports: collections.deque[DeliveryReport] = collections.deque(maxlen=1000)
        self._local = threading.local()
        self._queue: queue.Queue[_Work | None] | None = None
        self._worker: threading.Thread | None = None
        # Retries waiting for their time: (due on the monotonic clock, sequence, retry).
        self._retries: list[tuple[float, int, _Retry]] = []
        self._sequence = itertools.count()
        self._retrying = False

    def routes(self, message: CloudEventMessage) -> list[str]:
        """Names of the Triggers this event goes to, in declaration order."""
        attributes = dict(message.attributes)
        return [t.name for t in self.triggers.values() if t.subscription.matches(attributes)]

    def publish(self, message: CloudEventMessage) -> None:
        if self._queue is not None:
            self._queue.put(_Work(message))
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

    def hand_over(self, messages: Iterable[CloudEventMessage]) -> None:
        """Publish, and return once each Trigger had its first attempt at every message."""
        if self._queue is None or threading.current_thread() is self._worker:
            for message in messages:  # synchronous, or a subscriber publishing: never wait here
                self.publish(message)
            return
        handed = [_Work(message, threading.Event()) for message in messages]
        for work in handed:
            self._queue.put(work)
        for work in handed:
            assert work.attempted is not None
            work.attempted.wait()

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
        """Wait until nothing is queued and no retry is scheduled."""
        while self._queue is not None:
            self._queue.join()
            if not self._retries and not self._retrying:
                return
            time.sleep(0.005)

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
            try:
                item = work.get(timeout=self._next_retry_in())
            except queue.Empty:
                self._retry_due()
                continue
            try:
                if item is None:
                    return
                self._first_attempts(item.message)
            except Exception:  # keep the worker alive whatever one event does
                log.exception("in-process delivery failed")
            finally:
                if item is not None and item.attempted is not None:
                    item.attempted.set()
                work.task_done()
            self._retry_due()

    def _next_retry_in(self) -> float | None:
        if not self._retries:
            return None
        return max(0.0, self._retries[0][0] - time.monotonic())

    def _first_attempts(self, message: CloudEventMessage) -> None:
        for name in self.routes(message):
            self._attempt(_Retry(self.triggers[name], message, 1))

    def _attempt(self, retry: _Retry) -> None:
        trigger, message, attempts = retry.trigger, retry.message, retry.attempts
        outcome = call_subscriber(trigger.subscriber, message, self.poster)
        result = verdict(outcome)
        delivery = trigger.subscription.delivery
        if result is Verdict.DELIVERED:
            self.reports.append(DeliveryReport(trigger.name, message.id, True, attempts, outcome))
        elif result is Verdict.RETRY and attempts <= delivery.retry:
            log_retry(trigger, message, attempts, outcome)
            due = time.monotonic() + delivery.delay_seconds(attempts)
            heapq.heappush(
                self._retries, (due, next(self._sequence), _Retry(trigger, message, attempts + 1))
            )
        else:
            self.reports.append(self._give_up(trigger, message, attempts, outcome, result))

    def _retry_due(self) -> None:
        while self._retries and self._retries[0][0] <= time.monotonic():
            self._retrying = True
            _, _, retry = heapq.heappop(self._retries)
            try:
                self._attempt(retry)
            except Exception:
                log.exception("in-process retry failed")
            finally:
                self._retrying = False

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
                log_retry(trigger, message, attempts, outcome)
                self.sleep(delivery.delay_seconds(attempts))
                continue
            return self._give_up(trigger, message, attempts, outcome, result)

    def _give_up(
        self,
        trigger: Trigger,
        message: CloudEventMessage,
        attempts: int,
        outcome: DeliveryOutcome,
        result: Verdict,
    ) -> DeliveryReport:
        reason = failure_reason(outcome, result)
        letter_id = None
        if trigger.subscription.delivery.dead_letter_sink is None:
            log.warning("dropped event %s for %s: %s", message.id, trigger.name, reason)
        else:
            letter = DeadLetter.of(
                trigger.name, message, reason=reason, attempts=attempts, dead_at=self.clock()
            )
            letter_id = self.dead_letters.add(letter)
            log_dead_letter(letter, letter_id)
        return DeliveryReport(trigger.name, message.id, False, attempts, outcome, letter_id)


@dataclass(frozen=True, slots=True)
class _Work:
    message: CloudEventMessage
    #: Set once every Trigger had its first attempt (for :meth:`InProcessBroker.hand_over`).
    attempted: threading.Event | None = None


@dataclass(frozen=True, slots=True)
class _Retry:
    trigger: Trigger
    message: CloudEventMessage
    attempts: int  # the number this attempt will have

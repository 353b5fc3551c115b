"""The in-process broker: the local shop's Knative Broker, with the same Trigger semantics
(see :mod:`eventualshop.runtime.broker.delivery`)."""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from eventualshop.kernel.messages import utc_now
from eventualshop.runtime.broker.binding import (
    CloudEventMessage,
)
from eventualshop.runtime.broker.deadletters import DeadLetter, DeadLetterStore, ReplayError
from eventualshop.runtime.broker.delivery import (
    DeliveryReport,
    Subscriber,
    Trigger,
    Verdict,
    call_subscriber,
    failure_reason,
    triggers_by_name,
    verdict,
)
from eventualshop.runtime.broker.httpclient import HttpPoster
from eventualshop.runtime.registry import Subscription

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


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
        self.triggers = triggers_by_name(triggers)
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

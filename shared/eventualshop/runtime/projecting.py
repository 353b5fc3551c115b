"""Projectors in a process of their own, fed from the event store (``eventualshop project``).

On Knative every projector is a Service of its own; locally ``serve`` runs them in the shop's
process, where their CPU competes with the commands' under one interpreter lock. This worker
runs every declared projector in a separate process instead, reading each context's event store
by global position (``read_all``) and applying runs of events with ``Projector.handle_batch``:
one transaction per run on a SQL read-model store, each aggregate's cursor written once.

Where it starts: each projector resumes after the highest position its cursors record (the
lag's ``last_applied_position``). Its cursors make a re-applied event a no-op, and an event
below that position which nobody applied (a broker delivery lost while this worker was down)
is what the sweep's catch-up applies. It can run beside broker deliveries: both paths go
through the same cursor guards.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from eventualshop.kernel.eventstore import EventStore, StoredEvent
from eventualshop.kernel.lag import lag
from eventualshop.kernel.messages import RecordedEvent
from eventualshop.kernel.projection import Projector
from eventualshop.kernel.repository import Repository
from eventualshop.runtime.root import Root

log = logging.getLogger("eventualshop.project")

#: Events per run read from the store (one transaction of the read-model store each).
RUN = 500


@dataclass
class StoreFeed:
    """One projector and the store it tails; ``position``: the last one it has handled."""

    projector: Projector
    store: EventStore
    decode: Callable[[StoredEvent], RecordedEvent]
    position: int

    def run_once(self, limit: int = RUN) -> int:
        """Apply the next run of events; how many the store gave (0: caught up)."""
        events: Sequence[StoredEvent] = self.store.read_all(self.position, limit=limit)
        if events:
            # Contexts may share one store (one URL): only this projection's aggregate type is
            # decoded, since another context's event types are not this context's to read.
            mine = self.projector.projection.aggregate_type
            self.projector.handle_batch(
                [self.decode(e) for e in events if e.aggregate_type == mine]
            )
            last = events[-1].position
            self.position = last if last is not None else self.position + len(events)
        return len(events)


def feeds(root: Root) -> list[StoreFeed]:
    """A feed per declared projector, each resuming where its cursors say."""
    found: list[StoreFeed] = []
    for context in root.contexts:
        store = root.event_store(context)
        decode = Repository(store, root.aggregate(context)).decode
        for projection in root.projections(context):
            projector = root.projector(context, projection.name)
            start = lag(projector.store, projection, store).last_applied_position
            found.append(StoreFeed(projector, store, decode, start))
    return found


#: The pause before a failed feed is given again, doubled after each failure in a row, up to
#: the longest: an outage of the database costs a line per projector now and then, not one
#: every idle pause.
RETRY_FIRST_S = 0.1
RETRY_LONGEST_S = 30.0


@dataclass
class _Failing:
    """A feed whose runs fail: how many in a row, and when it is given again."""

    runs: int
    again_at: float


def run(root: Root, stop: threading.Event, *, idle_seconds: float = 0.05) -> None:
    """Feed every projector until ``stop`` is set, resting ``idle_seconds`` when caught up.

    A run that fails (the database unreachable a moment, a lock cycle with a rebuild's swap)
    wrote nothing: one log line, and that feed is given again after a pause that grows with each
    failure in a row (``RETRY_FIRST_S`` doubled, up to ``RETRY_LONGEST_S``) while the others go
    on; its first run that succeeds again says so once."""
    every = feeds(root)
    failing: dict[int, _Failing] = {}
    while not stop.is_set():
        applied = 0
        for index, feed in enumerate(every):
            failed = failing.get(index)
            if failed is not None and time.monotonic() < failed.again_at:
                continue
            name = feed.projector.projection.name
            try:
                applied += feed.run_once()
            except Exception as error:
                runs = 1 if failed is None else failed.runs + 1
                pause = min(RETRY_FIRST_S * 2 ** (runs - 1), RETRY_LONGEST_S)
                failing[index] = _Failing(runs, time.monotonic() + pause)
                reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
                log.warning(
                    "projector %s: %s %s; the run is given again in %g s",
                    name,
                    type(error).__name__,
                    reason,
                    pause,
                )
                continue
            if failed is not None:
                del failing[index]
                log.info("projector %s: running again after %d failed runs", name, failed.runs)
        if applied == 0:
            stop.wait(idle_seconds)

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
            self.projector.handle_batch([self.decode(e) for e in events])
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


def run(root: Root, stop: threading.Event, *, idle_seconds: float = 0.05) -> None:
    """Feed every projector until ``stop`` is set, resting ``idle_seconds`` when caught up.

    A run that fails (the database unreachable a moment, a lock cycle with a rebuild's swap)
    wrote nothing and is given again on the next turn: one log line, and the worker goes on."""
    every = feeds(root)
    while not stop.is_set():
        applied = 0
        for feed in every:
            try:
                applied += feed.run_once()
            except Exception as error:
                reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
                log.warning(
                    "projector %s: %s %s; the run is given again",
                    feed.projector.projection.name,
                    type(error).__name__,
                    reason,
                )
        if applied == 0:
            stop.wait(idle_seconds)

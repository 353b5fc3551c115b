"""Recorded events of any aggregate for read-model tests: real commands run through the
aggregate (``execute``), stored in an in-memory event store and read back as a projector
receives them (a version per aggregate, a timestamp one second after the previous event's)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from eventualshop.kernel.aggregate import AggregateKind, execute
from eventualshop.kernel.memory import InMemoryEventStore
from eventualshop.kernel.messages import Command, RecordedEvent
from eventualshop.kernel.projection import Projection, Projector
from eventualshop.kernel.readmodels import ReadModelStore
from eventualshop.kernel.repository import Repository

T0 = datetime(2024, 5, 17, 9, 30, tzinfo=UTC)


class History:
    """Aggregates of one kind driven by commands; ``events`` is everything they raised."""

    def __init__(self, kind: AggregateKind[Any]) -> None:
        self.kind = kind
        self.store = InMemoryEventStore()
        self.states: dict[UUID, Any] = {}
        self.events: list[RecordedEvent] = []
        self._now = T0
        self.repository = Repository(self.store, kind, clock=self._tick)

    def _tick(self) -> datetime:
        self._now += timedelta(seconds=1)
        return self._now

    def run(self, *commands: Command) -> list[RecordedEvent]:
        recorded: list[RecordedEvent] = []
        for command in commands:
            id = self.kind.target(command)
            steps = execute(self.kind, self.states.get(id), command)
            if not steps:
                continue  # decided nothing (already so): no event, nothing stored
            batch = self.repository.batch(id, steps, correlation_id=f"test-{id}")
            positions = self.store.append(batch)
            recorded += [
                self.repository.decode(replace(stored, position=position))
                for stored, position in zip(batch.events, positions, strict=True)
            ]
            self.states[id] = steps[-1].state
        self.events += recorded
        return recorded


def project(
    store: ReadModelStore, projections: Iterable[Projection], events: Iterable[RecordedEvent]
) -> ReadModelStore:
    """The read models after delivering ``events`` once each, in the order given."""
    every = [Projector(store, projection) for projection in projections]
    for projector in every:
        projector.ensure_indexes()
    for event in events:
        for projector in every:
            projector.handle(event)
    return store

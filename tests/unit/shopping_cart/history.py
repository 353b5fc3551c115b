"""Recorded cart events for read-model tests: real commands run through the aggregate
(``execute``), stored in an event store and read back as a projector receives them.

Each event gets the next version of its cart and a timestamp one second after the previous
event's, so documents that show a time are predictable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from eventualshop.kernel.aggregate import execute
from eventualshop.kernel.errors import AggregateNotFound, DomainRejection
from eventualshop.kernel.eventstore import EventStore
from eventualshop.kernel.memory import InMemoryEventStore
from eventualshop.kernel.messages import Command, RecordedEvent
from eventualshop.kernel.projection import STATUS, Projection, Projector, cursor_collection
from eventualshop.kernel.readmodels import Document, InMemoryReadModelStore, ReadModelStore
from eventualshop.kernel.repository import Repository
from eventualshop.shopping_cart import CART, Cart
from eventualshop.shopping_cart.cart import target
from eventualshop.shopping_cart.read_models import PROJECTIONS

T0 = datetime(2024, 5, 17, 9, 30, tzinfo=UTC)


class CartHistory:
    """Carts driven by commands; ``events`` is everything they raised, in the order written."""

    def __init__(self, store: EventStore | None = None, *, start: datetime = T0) -> None:
        self.store: EventStore = store if store is not None else InMemoryEventStore()
        self.states: dict[UUID, Cart] = {}
        self.events: list[RecordedEvent] = []
        self._now = start
        self.repository = Repository(self.store, CART, clock=self._tick)

    def _tick(self) -> datetime:
        self._now += timedelta(seconds=1)
        return self._now

    def run(self, *commands: Command) -> list[RecordedEvent]:
        """Run commands that must all be accepted; the events they raised."""
        recorded: list[RecordedEvent] = []
        for command in commands:
            recorded += self._record(command)
        return recorded

    def attempt(self, command: Command) -> list[RecordedEvent]:
        """Run a command that may be rejected: then it raises nothing and changes nothing."""
        try:
            return self._record(command)
        except (DomainRejection, AggregateNotFound):
            return []

    def _record(self, command: Command) -> list[RecordedEvent]:
        cart_id = target(command)
        steps = execute(CART, self.states.get(cart_id), command)
        if not steps:
            return []
        batch = self.repository.batch(cart_id, steps, correlation_id=f"test-{cart_id}")
        positions = self.store.append(batch)
        recorded = [
            self.repository.decode(replace(stored, position=position))
            for stored, position in zip(batch.events, positions, strict=True)
        ]
        self.states[cart_id] = steps[-1].state
        self.events += recorded
        return recorded


def projectors(
    store: ReadModelStore, projections: Iterable[Projection] = PROJECTIONS
) -> list[Projector]:
    return [Projector(store, projection) for projection in projections]


def project(events: Iterable[RecordedEvent], store: ReadModelStore | None = None) -> ReadModelStore:
    """Every cart read model after delivering ``events`` once each, in the order given."""
    target_store: ReadModelStore = store if store is not None else InMemoryReadModelStore()
    every = projectors(target_store)
    for event in events:
        for projector in every:
            projector.handle(event)
    return target_store


def collections(projections: Iterable[Projection] = PROJECTIONS) -> list[str]:
    """Every collection the projections write: their read models, cursors and the status."""
    names: list[str] = []
    for projection in projections:
        names += [*projection.collections, cursor_collection(projection)]
    return [*names, STATUS]


def contents(
    store: ReadModelStore, projections: Iterable[Projection] = PROJECTIONS
) -> dict[str, dict[str, Document]]:
    """Every document of every collection the projections write, by collection and id."""
    return {
        name: {document["id"]: document for document in store.find(name)}
        for name in collections(projections)
    }


def live(documents: Mapping[str, Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The documents that are not tombstones."""
    return {id_: d for id_, d in documents.items() if not d.get("isDeleted")}

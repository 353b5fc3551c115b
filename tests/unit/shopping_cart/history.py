"""Recorded cart events for read-model tests: real commands run through the aggregate
(``execute``), stored in an event store and read back as a projector receives them.

Each event gets the next version of its cart and a timestamp one second after the previous
event's, so documents that show a time are predictable.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from eventualshop.adapters.read_models_sql import SqlReadModelStore
from eventualshop.kernel.aggregate import execute
from eventualshop.kernel.errors import AggregateNotFound, DomainRejection
from eventualshop.kernel.eventstore import EventStore
from eventualshop.kernel.memory import InMemoryEventStore
from eventualshop.kernel.messages import Command, RecordedEvent
from eventualshop.kernel.projection import Projection, Projector, cursor_collection
from eventualshop.kernel.readmodels import Document, ReadModelStore
from eventualshop.kernel.readmodels_memory import InMemoryReadModelStore
from eventualshop.kernel.repository import Repository
from eventualshop.shopping_cart import (
    CART,
    AddBillingAddress,
    AddShippingAddress,
    Cart,
    ChangeCartItemQuantity,
    CheckOutCart,
    CreateCart,
    DiscardCart,
    RemoveCartItem,
    RemovePaymentMethod,
)
from eventualshop.shopping_cart.cart import target
from eventualshop.shopping_cart.read_models import PROJECTIONS

from .examples import (
    CUSTOMER_ID,
    HOME,
    ITEM_ID,
    KEYBOARD,
    MOUSE,
    OFFICE,
    OTHER_ITEM_ID,
    OTHER_METHOD_ID,
    add_credit_card,
    add_debit_card,
    add_item,
    add_pay_pal,
)

T0 = datetime(2024, 5, 17, 9, 30, tzinfo=UTC)
CHECKED_OUT = UUID("0c000000-0000-4000-8000-00000000ca11")
DISCARDED = UUID("0c000000-0000-4000-8000-00000000ca12")
ACTIVE = UUID("0c000000-0000-4000-8000-00000000ca13")
OTHER_CUSTOMER_ID = UUID("0c000000-0000-4000-8000-00000000c002")


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


@contextmanager
def sqlite_read_models() -> Iterator[ReadModelStore]:
    """The SQL read-model store on a new SQLite file, removed afterwards.

    Without the fsync at every commit (a test file needs no durability): the engine's own set-up
    asks for ``synchronous = FULL``, and that would make commits, not the code, the test's cost.
    """
    with tempfile.TemporaryDirectory() as directory:
        store = SqlReadModelStore.from_url(f"sqlite:///{Path(directory) / 'read_models.sqlite3'}")
        sa.event.listen(store.engine, "connect", _no_fsync)
        try:
            yield store
        finally:
            store.close()


def _no_fsync(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA synchronous = OFF")


def collections(projections: Iterable[Projection] = PROJECTIONS) -> list[str]:
    """Every collection the projections write: their read models and cursors."""
    names: list[str] = []
    for projection in projections:
        names += [*projection.collections, cursor_collection(projection)]
    return names


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


def every_kind_of_event(history: CartHistory) -> list[RecordedEvent]:
    """Three carts that between them raise every kind of cart event, interleaved: one checked
    out, one discarded, one still active (of another customer)."""

    def to(cart_id: UUID, command: Command) -> Command:
        return command.model_copy(update={"cart_id": cart_id})

    return history.run(
        CreateCart(cart_id=CHECKED_OUT, customer_id=CUSTOMER_ID, currency="USD"),
        CreateCart(cart_id=DISCARDED, customer_id=CUSTOMER_ID, currency="USD"),
        to(CHECKED_OUT, add_item(KEYBOARD, 2, "10.00")),
        to(CHECKED_OUT, add_item(MOUSE, 1, "5.25", item_id=OTHER_ITEM_ID)),
        to(DISCARDED, add_item(KEYBOARD, 1, "10.00")),
        CreateCart(cart_id=ACTIVE, customer_id=OTHER_CUSTOMER_ID, currency="EUR"),
        to(CHECKED_OUT, add_item(KEYBOARD, 1, "99.00", item_id=UUID(int=1))),  # increases
        to(
            CHECKED_OUT,
            ChangeCartItemQuantity(cart_id=CHECKED_OUT, item_id=ITEM_ID, new_quantity=2),
        ),
        to(CHECKED_OUT, RemoveCartItem(cart_id=CHECKED_OUT, item_id=OTHER_ITEM_ID)),
        to(CHECKED_OUT, AddBillingAddress(cart_id=CHECKED_OUT, address=HOME)),
        to(CHECKED_OUT, AddShippingAddress(cart_id=CHECKED_OUT, address=OFFICE)),
        to(CHECKED_OUT, add_pay_pal("20.00", OTHER_METHOD_ID)),
        to(CHECKED_OUT, RemovePaymentMethod(cart_id=CHECKED_OUT, method_id=OTHER_METHOD_ID)),
        to(CHECKED_OUT, add_credit_card("15.00")),
        to(CHECKED_OUT, add_debit_card("5.00", OTHER_METHOD_ID)),
        to(DISCARDED, add_credit_card("4.00")),
        to(CHECKED_OUT, CheckOutCart(cart_id=CHECKED_OUT)),
        to(DISCARDED, DiscardCart(cart_id=DISCARDED)),
        to(ACTIVE, add_item(MOUSE, 3, "5.25", currency="EUR")),
        to(ACTIVE, add_item(KEYBOARD, 1, "10.00", item_id=OTHER_ITEM_ID, currency="EUR")),
        to(ACTIVE, AddBillingAddress(cart_id=ACTIVE, address=OFFICE)),
    )

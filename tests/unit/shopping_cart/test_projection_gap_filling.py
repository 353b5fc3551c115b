"""Property: a projector that reads what it missed from the event store needs nothing from the
broker but *some* delivery. Events shuffled, duplicated, delayed or never delivered at all: the
cart read models end exactly as after in-order delivery, with no event refused and no retry,
once every cart's last event arrived or the sweep's catch-up ran.

(The broker-retry property, for projectors without a store, is in
``test_projection_delivery_properties``.)
"""

from __future__ import annotations

import random
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventualshop.kernel.eventstore import EventStore
from eventualshop.kernel.messages import RecordedEvent
from eventualshop.kernel.projection import History, OutOfOrder, Projector
from eventualshop.kernel.readmodels_memory import InMemoryReadModelStore
from eventualshop.kernel.repository import Repository
from eventualshop.shopping_cart.cart import CART
from eventualshop.shopping_cart.commands import AddBillingAddress, CreateCart
from eventualshop.shopping_cart.read_models import PROJECTIONS

from .examples import CART_ID, CUSTOMER_ID, HOME
from .history import CartHistory, contents, project
from .test_projection_delivery_properties import cart_sessions, run

seeds = st.integers(0, 2**32 - 1)


def history_of(store: EventStore) -> History:
    decode = Repository(store, CART).decode

    def history(aggregate_id: UUID, after: int, through: int) -> list[RecordedEvent]:
        return [decode(e) for e in store.load_events(aggregate_id, after) if e.version <= through]

    return history


def projectors_on(store: InMemoryReadModelStore, events: EventStore) -> list[Projector]:
    return [Projector(store, projection, history_of(events)) for projection in PROJECTIONS]


def unreliable(
    events: list[RecordedEvent], rng: random.Random, *, keep_last: bool
) -> list[RecordedEvent]:
    """Each event dropped (a third of the time), or delivered one to three times; all shuffled.
    With ``keep_last``, every aggregate's last event arrives at least once."""
    last = {e.aggregate_id: e for e in events}
    deliveries = []
    for event in events:
        copies = rng.choice([0, 1, 1, 2, 3])
        if keep_last and last[event.aggregate_id] is event:
            copies = max(copies, 1)
        deliveries += [event] * copies
    rng.shuffle(deliveries)
    return deliveries


@settings(max_examples=150, deadline=None)
@given(session=cart_sessions(), seed=seeds)
def test_dropped_shuffled_and_duplicated_deliveries_converge_once_each_last_event_arrives(
    session: list[object], seed: int
) -> None:
    history = run(session)  # type: ignore[arg-type]
    in_order = contents(project(history.events))
    store = InMemoryReadModelStore()
    every = projectors_on(store, history.store)

    for event in unreliable(history.events, random.Random(seed), keep_last=True):
        for projector in every:
            projector.handle(event)  # never raises: a gap is filled from the store

    assert contents(store) == in_order


@settings(max_examples=150, deadline=None)
@given(session=cart_sessions(), seed=seeds)
def test_events_never_delivered_at_all_are_applied_by_the_catch_up(
    session: list[object], seed: int
) -> None:
    history = run(session)  # type: ignore[arg-type]
    in_order = contents(project(history.events))
    store = InMemoryReadModelStore()
    every = projectors_on(store, history.store)
    for event in unreliable(history.events, random.Random(seed), keep_last=False):
        for projector in every:
            projector.handle(event)

    heads = history.store.stream_heads(CART.name)
    for projector in every:
        for aggregate_id, head in heads.items():
            projector.catch_up(aggregate_id, head)

    assert contents(store) == in_order
    # A second catch-up finds nothing left to do.
    assert sum(p.catch_up(a, h) for p in every for a, h in heads.items()) == 0


def test_a_gap_the_store_cannot_fill_is_refused_and_nothing_is_written() -> None:
    history = CartHistory()
    history.run(
        CreateCart(cart_id=CART_ID, customer_id=CUSTOMER_ID, currency="USD"),
        AddBillingAddress(cart_id=CART_ID, address=HOME),
    )
    store = InMemoryReadModelStore()

    def nothing(aggregate_id: UUID, after: int, through: int) -> list[RecordedEvent]:
        return []

    with pytest.raises(OutOfOrder, match=r"v2 of .* arrived before v1, which the store lacks"):
        Projector(store, PROJECTIONS[0], nothing).handle(history.events[1])
    assert not any(contents(store).values())


@settings(max_examples=60, deadline=None)
@given(session=cart_sessions(), seed=seeds)
def test_runs_of_events_applied_in_batches_converge_like_one_by_one(
    session: list[object], seed: int
) -> None:
    history = run(session)  # type: ignore[arg-type]
    in_order = contents(project(history.events))
    store = InMemoryReadModelStore()
    every = projectors_on(store, history.store)
    rng = random.Random(seed)
    deliveries = unreliable(history.events, rng, keep_last=True)

    while deliveries:  # runs of random length, as a store-fed worker reads them
        size = rng.randint(1, 6)
        batch, deliveries = deliveries[:size], deliveries[size:]
        for projector in every:
            projector.handle_batch(batch)

    assert contents(store) == in_order


def test_a_batch_writes_each_aggregates_cursor_once_and_counts_what_it_applied() -> None:
    history = CartHistory()
    events = history.run(
        CreateCart(cart_id=CART_ID, customer_id=CUSTOMER_ID, currency="USD"),
        AddBillingAddress(cart_id=CART_ID, address=HOME),
    )
    store = InMemoryReadModelStore()
    details = projectors_on(store, history.store)[0]
    cursor_writes: list[object] = []
    original = store.bulk_upsert

    def counted(collection: str, documents: object) -> int:
        cursor_writes.append(collection)
        return original(collection, documents)  # type: ignore[arg-type]

    store.bulk_upsert = counted  # type: ignore[method-assign]

    assert details.handle_batch([events[1], events[0], events[1]]) == 2
    assert details.handle_batch(events) == 0  # all duplicates now

    assert cursor_writes == [details.cursors]
    assert store.get(details.cursors, str(CART_ID))["version"] == 2  # type: ignore[index]

"""The projector's guarantees (DESIGN §5, §9): duplicates change nothing, an event ahead of its
predecessor is refused with nothing written, other aggregates are ignored, a crash between the
documents and the cursor is harmless, lag is visible, and a rebuild reproduces exactly what
incremental projection wrote, swaps it in and catches up with events written meanwhile.

The projections under test are the cart's five read models, fed with events that real cart
commands raise (``tests.unit.shopping_cart.history``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any
from uuid import UUID, uuid4

import pytest

from eventualshop.kernel.eventstore import EventStore, StoredEvent
from eventualshop.kernel.memory import InMemoryEventStore
from eventualshop.kernel.messages import EventMetadata, RecordedEvent
from eventualshop.kernel.projection import (
    OutOfOrder,
    Projector,
    cursor_collection,
    lag,
    rebuild,
)
from eventualshop.kernel.readmodels import InMemoryReadModelStore, ReadModelStore
from eventualshop.kernel.repository import Repository
from eventualshop.shopping_cart import CART, AddBillingAddress, DiscardCart
from eventualshop.shopping_cart.read_models import (
    DETAILS,
    ITEM_LIST,
    PROJECTIONS,
    CartDetails,
)
from eventualshop.shopping_cart.service import projection_lag, rebuild_read_models
from tests.fixtures.counter import CounterCreated
from tests.unit.shopping_cart.examples import CART_ID, KEYBOARD, OFFICE, add_item
from tests.unit.shopping_cart.history import (
    ACTIVE,
    CHECKED_OUT,
    DISCARDED,
    CartHistory,
    contents,
    every_kind_of_event,
    project,
    projectors,
    sqlite_read_models,
)

Contents = dict[str, dict[str, dict[str, Any]]]


@pytest.fixture
def history() -> CartHistory:
    history = CartHistory()
    every_kind_of_event(history)
    return history


def of(history: CartHistory, cart_id: UUID) -> list[RecordedEvent]:
    return [e for e in history.events if e.aggregate_id == cart_id]


def empty() -> Contents:
    return contents(InMemoryReadModelStore())


def handle_everywhere(every: Sequence[Projector], event: RecordedEvent) -> list[str]:
    return [projector.handle(event) for projector in every]


# ---- duplicates --------------------------------------------------------------------------------


class TestDuplicates:
    def test_an_event_delivered_again_is_a_duplicate_and_changes_nothing(
        self, history: CartHistory
    ) -> None:
        store = project(history.events)
        before = contents(store)
        every = projectors(store)

        for event in history.events:
            assert handle_everywhere(every, event) == ["duplicate"] * 5

        assert contents(store) == before

    def test_an_old_event_delivered_late_is_a_duplicate_and_changes_nothing(
        self, history: CartHistory
    ) -> None:
        events = of(history, CHECKED_OUT)
        store = project(events[:6])
        before = contents(store)

        assert handle_everywhere(projectors(store), events[2]) == ["duplicate"] * 5

        assert contents(store) == before

    def test_a_duplicate_of_a_created_cart_does_not_reset_it(self, history: CartHistory) -> None:
        events = of(history, CHECKED_OUT)
        store = project(events)

        handle_everywhere(projectors(store), events[0])

        shown = store.get(DETAILS, str(CHECKED_OUT))
        assert shown is not None
        assert (shown["status"], shown["itemCount"], shown["version"]) == ("CheckedOut", 1, 13)


# ---- out of order ------------------------------------------------------------------------------


class TestOutOfOrder:
    def test_an_event_ahead_of_its_predecessor_is_refused_and_nothing_is_written(
        self, history: CartHistory
    ) -> None:
        events = of(history, CHECKED_OUT)
        store = project(events[:3])
        before = contents(store)

        for projector in projectors(store):
            with pytest.raises(OutOfOrder, match=r"v5 .* arrived before v4"):
                projector.handle(events[4])

        assert contents(store) == before

    def test_a_first_event_other_than_the_creation_is_refused_and_nothing_is_written(
        self, history: CartHistory
    ) -> None:
        store = InMemoryReadModelStore()

        for projector in projectors(store):
            with pytest.raises(OutOfOrder):
                projector.handle(of(history, CHECKED_OUT)[1])

        assert contents(store) == empty()

    def test_the_refused_event_applies_once_its_predecessor_has(self, history: CartHistory) -> None:
        events = of(history, CHECKED_OUT)
        store = project(events[:3])
        every = projectors(store)
        with pytest.raises(OutOfOrder):
            every[0].handle(events[4])

        assert handle_everywhere(every, events[3]) == ["applied"] * 5
        assert handle_everywhere(every, events[4]) == ["applied"] * 5

        assert contents(store) == contents(project(events[:5]))

    def test_a_gap_in_one_cart_does_not_hold_up_another(self, history: CartHistory) -> None:
        store = project(of(history, CHECKED_OUT)[:1])
        every = projectors(store)

        for event in of(history, DISCARDED):
            assert handle_everywhere(every, event) == ["applied"] * 5

        assert contents(store) == contents(
            project(of(history, CHECKED_OUT)[:1] + of(history, DISCARDED))
        )


# ---- other aggregates ----------------------------------------------------------------------------


class TestOtherAggregates:
    def test_events_of_another_aggregate_type_are_ignored_and_nothing_is_written(
        self, history: CartHistory
    ) -> None:
        counter = RecordedEvent(
            event=CounterCreated(counter_id=CART_ID, name="visits", limit=3),
            aggregate_id=CART_ID,  # even with an id a cart has
            aggregate_type="Counter",
            version=1,
            metadata=EventMetadata(
                event_id=uuid4(), timestamp=history.events[0].metadata.timestamp, correlation_id="c"
            ),
        )
        store = InMemoryReadModelStore()

        assert handle_everywhere(projectors(store), counter) == ["ignored"] * 5

        assert contents(store) == empty()

    def test_an_ignored_event_does_not_move_the_cursor_of_a_cart(
        self, history: CartHistory
    ) -> None:
        events = of(history, CHECKED_OUT)
        store = project(events[:2])
        later = replace(events[2], aggregate_type="Counter")

        assert handle_everywhere(projectors(store), later) == ["ignored"] * 5
        assert handle_everywhere(projectors(store), events[2]) == ["applied"] * 5


# ---- a crash between the documents and the cursor ---------------------------------------------


def crash_before_the_cursor(
    store: ReadModelStore, projector: Projector, event: RecordedEvent
) -> None:
    """The event's documents are written, its cursor is not: apply it, then put the cursor back."""
    assert projector.handle(event) == "applied"
    cursors, key = cursor_collection(projector.projection), str(event.aggregate_id)
    assert store.delete(cursors, key)
    if event.version > 1:
        store.upsert_if_newer(cursors, {"id": key, "version": event.version - 1})


def read_models(everything: Contents) -> Contents:
    return {
        name: documents for name, documents in everything.items() if not name.endswith("_cursors")
    }


class TestCrashBetweenDocumentsAndCursor:
    @pytest.mark.parametrize("index", range(21))
    def test_the_redelivered_event_leaves_the_documents_as_the_first_delivery_wrote_them(
        self, history: CartHistory, index: int
    ) -> None:
        assert len(history.events) == 21
        event = history.events[index]
        store = project(history.events[:index])
        every = projectors(store)
        for projector in every:
            crash_before_the_cursor(store, projector, event)
        after_crash = read_models(contents(store))

        assert handle_everywhere(every, event) == ["applied"] * 5

        assert read_models(contents(store)) == after_crash
        assert contents(store) == contents(project(history.events[: index + 1]))

    def test_every_kind_of_cart_event_is_covered(self, history: CartHistory) -> None:
        assert len({e.event_type for e in history.events}) == 13

    def test_a_crash_on_the_very_first_event_of_a_cart_is_harmless_too(
        self, history: CartHistory
    ) -> None:
        created = history.events[0]
        store = InMemoryReadModelStore()
        details = Projector(store, CartDetails())
        details.handle(created)
        store.delete(cursor_collection(details.projection), str(created.aggregate_id))

        assert details.handle(created) == "applied"

        expected = InMemoryReadModelStore()
        Projector(expected, CartDetails()).handle(created)
        assert contents(store, [CartDetails()]) == contents(expected, [CartDetails()])


# ---- lag ---------------------------------------------------------------------------------------


class TestLag:
    @pytest.mark.parametrize("applied", [0, 1, 7, 20, 21])
    def test_the_lag_is_the_events_written_after_the_last_one_applied(
        self, history: CartHistory, applied: int
    ) -> None:
        store = project(history.events[:applied])

        for projection in PROJECTIONS:
            found = lag(store, projection, history.store)
            assert found.projection == projection.name
            assert found.last_written_position == 21
            assert found.last_applied_position == applied
            assert found.behind == 21 - applied
            expected_id = str(history.events[applied - 1].metadata.event_id) if applied else None
            assert found.last_applied_event_id == expected_id

    def test_the_cart_service_reports_the_lag_of_all_five_read_models(
        self, history: CartHistory
    ) -> None:
        store = project(history.events[:15])

        lags = projection_lag(history.store, store)

        assert [item.projection for item in lags] == [p.name for p in PROJECTIONS]
        assert [item.behind for item in lags] == [6] * 5

    def test_events_written_later_show_as_lag_until_they_are_applied(
        self, history: CartHistory
    ) -> None:
        store = project(history.events)
        assert lag(store, CartDetails(), history.store).behind == 0

        new = history.run(
            AddBillingAddress(cart_id=ACTIVE, address=OFFICE.model_copy(update={"number": 2}))
        )
        new += history.run(DiscardCart(cart_id=ACTIVE))
        assert lag(store, CartDetails(), history.store).behind == 2

        for event in new:
            Projector(store, CartDetails()).handle(event)
        assert lag(store, CartDetails(), history.store).behind == 0

    def test_the_lag_is_unknown_when_the_last_event_applied_is_not_in_the_event_store(
        self, history: CartHistory
    ) -> None:
        store = project(history.events)

        found = lag(store, CartDetails(), InMemoryEventStore())

        assert (found.last_applied_position, found.behind) == (None, None)


# ---- rebuild -----------------------------------------------------------------------------------


def decode() -> Callable[[StoredEvent], RecordedEvent]:
    return Repository(InMemoryEventStore(), CART).decode


class AppendingDuringReads:
    """An event store whose ``read_all`` lets commands be written while a rebuild reads it."""

    def __init__(
        self, inner: EventStore, on_read: Callable[[int, Sequence[StoredEvent]], None]
    ) -> None:
        self.inner = inner
        self.on_read = on_read
        self.reads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def read_all(self, after_position: int = 0, limit: int = 1000) -> Sequence[StoredEvent]:
        rows = self.inner.read_all(after_position, limit)
        self.reads += 1
        self.on_read(self.reads, rows)
        return rows


class TestRebuild:
    def test_a_rebuild_into_a_fresh_store_reproduces_exactly_what_incremental_projection_wrote(
        self, history: CartHistory
    ) -> None:
        incremental = contents(project(history.events))
        fresh = InMemoryReadModelStore()

        rebuild_read_models(history.store, fresh)

        assert contents(fresh) == incremental

    @pytest.mark.parametrize("page", [1, 2, 5, 5000])
    def test_the_replay_gives_the_same_documents_whatever_its_page_size(
        self, history: CartHistory, page: int
    ) -> None:
        fresh = InMemoryReadModelStore()

        rebuild(history.store, decode(), fresh, PROJECTIONS, page=page)

        assert contents(fresh) == contents(project(history.events))

    def test_a_rebuild_swaps_the_new_documents_in_for_stale_or_stray_live_ones(
        self, history: CartHistory
    ) -> None:
        live = project(history.events)
        expected = contents(live)
        # The live read models went wrong somehow: a stray document, a wrong one, lost cursors.
        live.upsert_if_newer(ITEM_LIST, {"id": "stray", "version": 1, "cartId": "nowhere"})
        live.upsert_if_newer(DETAILS, {"id": str(ACTIVE), "version": 99, "status": "Bogus"})
        live.delete_many(cursor_collection(CartDetails()), {})

        rebuild_read_models(history.store, live)

        assert contents(live) == expected

    def test_the_swapped_in_collections_have_their_indexes_and_no_rebuild_collection_is_left(
        self, history: CartHistory
    ) -> None:
        live = InMemoryReadModelStore()
        project(history.events, live)

        rebuild_read_models(history.store, live)

        for projection in PROJECTIONS:
            for collection, indexes in projection.collections.items():
                assert live.indexes(collection) == [tuple(index) for index in indexes]
                assert live.find(f"{collection}_rebuild") == []
                assert live.indexes(f"{collection}_rebuild") == []

    def test_a_rebuild_reports_the_events_applied_the_documents_written_and_the_last_position(
        self, history: CartHistory
    ) -> None:
        reports = rebuild_read_models(history.store, InMemoryReadModelStore())

        assert [r.projection for r in reports] == [p.name for p in PROJECTIONS]
        assert {r.events for r in reports} == {21}
        assert {r.last_position for r in reports} == {21}
        counts = contents(project(history.events))
        for report, projection in zip(reports, PROJECTIONS, strict=True):
            names = [*projection.collections, cursor_collection(projection)]
            assert report.documents == sum(len(counts[name]) for name in names)

    def test_a_rebuild_of_one_read_model_leaves_the_others_alone(
        self, history: CartHistory
    ) -> None:
        live = project(history.events)
        live.upsert_if_newer(DETAILS, {"id": "untouched", "version": 1})
        live.upsert_if_newer(ITEM_LIST, {"id": "stray", "version": 1})

        rebuild_read_models(history.store, live, ["shopping-cart-item-list"])

        assert live.get(DETAILS, "untouched") is not None
        assert live.get(ITEM_LIST, "stray") is None

    def test_events_appended_after_the_replay_read_its_last_page_are_caught_up(
        self, history: CartHistory
    ) -> None:
        live = project(history.events)
        appended: list[RecordedEvent] = []

        def write_more(read: int, rows: Sequence[StoredEvent]) -> None:
            if rows or appended:
                return
            # The replay has read everything; the shop goes on, and the broker delivers the new
            # events to the live read models, which the swap is about to replace.
            appended.extend(
                history.run(
                    add_item(KEYBOARD, 1, "10.00", currency="EUR").model_copy(
                        update={"cart_id": ACTIVE}
                    ),
                    DiscardCart(cart_id=ACTIVE),
                )
            )
            every = projectors(live)
            for event in appended:
                handle_everywhere(every, event)

        store = AppendingDuringReads(history.store, write_more)
        reports = rebuild(store, decode(), live, PROJECTIONS)

        assert len(appended) == 2
        assert {r.last_position for r in reports} == {21}  # the replay ended before them
        assert contents(live) == contents(project(history.events))
        shown = live.get(DETAILS, str(ACTIVE))
        assert shown is not None
        assert (shown["status"], shown["isDeleted"]) == ("Abandoned", True)

    def test_events_appended_while_the_replay_runs_are_in_the_rebuilt_documents(
        self, history: CartHistory
    ) -> None:
        live = InMemoryReadModelStore()

        def write_more(read: int, rows: Sequence[StoredEvent]) -> None:
            if read == 1:
                history.run(DiscardCart(cart_id=ACTIVE))

        rebuild(
            AppendingDuringReads(history.store, write_more), decode(), live, PROJECTIONS, page=4
        )

        assert len(history.events) == 22
        assert contents(live) == contents(project(history.events))

    def test_a_rebuild_on_the_sql_store_reproduces_what_incremental_projection_wrote(
        self, history: CartHistory
    ) -> None:
        with sqlite_read_models() as live:
            project(history.events[:10], live)  # part of it, before the rebuild

            rebuild_read_models(history.store, live)

            assert contents(live) == contents(project(history.events))

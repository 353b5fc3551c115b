"""The projector's guarantees (``kernel.projection``): duplicates change nothing, an event
ahead of its predecessor is refused with nothing written, other aggregates are ignored, a crash
between the documents and the cursor is harmless, lag is visible, and a rebuild reproduces
exactly what incremental projection wrote, swaps it in and catches up with events written
meanwhile.

The projections under test are the cart's five read models, fed with events that real cart
commands raise (``tests.unit.shopping_cart.history``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any
from uuid import UUID, uuid4

import pytest

from eventualshop.kernel.eventstore import EventStore, StoredEvent
from eventualshop.kernel.lag import lag
from eventualshop.kernel.memory import InMemoryEventStore
from eventualshop.kernel.messages import EventMetadata, RecordedEvent
from eventualshop.kernel.projection import CURSOR_INDEXES, OutOfOrder, Projector, cursor_collection
from eventualshop.kernel.readmodels import Document, ReadModelStore
from eventualshop.kernel.readmodels_memory import InMemoryReadModelStore
from eventualshop.kernel.rebuild import rebuild
from eventualshop.kernel.repository import Repository
from eventualshop.shopping_cart import CART, AddBillingAddress, CreateCart, DiscardCart
from eventualshop.shopping_cart.read_models import (
    DETAILS,
    ITEM_LIST,
    PROJECTIONS,
    CartDetails,
)
from eventualshop.shopping_cart.service import rebuild_read_models
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


# ---- one generation of collections per event ---------------------------------------------------


class PinRecordingStore(InMemoryReadModelStore):
    """The fake, noting for every operation whether it ran in a ``pinned`` block (and which)."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = 0
        self.open_block: int | None = None
        self.operations: list[tuple[str, int | None]] = []

    @contextlib.contextmanager
    def pinned(self) -> Iterator[None]:
        assert self.open_block is None, "a projector's blocks do not nest"
        self.blocks += 1
        self.open_block = self.blocks
        try:
            yield
        finally:
            self.open_block = None

    def get(self, collection: str, id: str) -> Document | None:
        self.operations.append(("get", self.open_block))
        return super().get(collection, id)

    def find(self, collection: str, filters: Any = None, **options: Any) -> list[Document]:
        self.operations.append(("find", self.open_block))
        return super().find(collection, filters, **options)

    def upsert_if_newer(self, collection: str, document: Mapping[str, Any]) -> bool:
        self.operations.append(("upsert", self.open_block))
        return super().upsert_if_newer(collection, document)

    def update_if_older(
        self, collection: str, id: str, changes: Mapping[str, Any], new_version: int
    ) -> bool:
        self.operations.append(("update", self.open_block))
        return super().update_if_older(collection, id, changes, new_version)


class TestOneGenerationPerEvent:
    def test_each_event_is_read_and_written_in_one_pinned_block(self, history: CartHistory) -> None:
        store = PinRecordingStore()
        every = projectors(store)

        for event in history.events:
            handle_everywhere(every, event)
        handle_everywhere(every, history.events[3])  # a duplicate: its cursor read is pinned too

        blocks = [block for _, block in store.operations]
        assert None not in blocks
        assert store.blocks == 5 * 22
        # Every block is one event's: its operations run together, cursor first and last.
        for block in range(1, store.blocks + 1):
            kinds = [kind for kind, b in store.operations if b == block]
            assert kinds[0] == "get"
            assert kinds[-1] == "upsert" or kinds == ["get"]


# ---- lag ---------------------------------------------------------------------------------------


class TestLag:
    @pytest.mark.parametrize("applied", [0, 1, 7, 20, 21])
    def test_the_lag_counts_the_events_of_every_stream_not_yet_applied(
        self, history: CartHistory, applied: int
    ) -> None:
        store = project(history.events[:applied])

        for projection in PROJECTIONS:
            found = lag(store, projection, history.store)
            assert found.projection == projection.name
            assert found.last_written_position == 21
            assert found.last_applied_position == applied
            assert found.behind == found.events_behind == 21 - applied
            carts = {e.aggregate_id for e in history.events[applied:]}
            assert found.aggregates_behind == len(carts)

    def test_every_read_model_of_the_cart_reports_its_own_lag(self, history: CartHistory) -> None:
        store = project(history.events[:15])

        lags = [lag(store, projection, history.store) for projection in PROJECTIONS]

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
        found = lag(store, CartDetails(), history.store)
        assert (found.events_behind, found.aggregates_behind) == (2, 1)

        for event in new:
            Projector(store, CartDetails()).handle(event)
        assert lag(store, CartDetails(), history.store).behind == 0

    def test_the_lag_reads_zero_after_catch_up_whatever_the_order_of_delivery(
        self, history: CartHistory
    ) -> None:
        # Each cart's events, one cart after the other: the newest event (by time) is applied
        # before older events of other carts. Counting by stream, not by time, still reads 0.
        store = InMemoryReadModelStore()
        for cart_id in (DISCARDED, CHECKED_OUT, ACTIVE):
            for event in of(history, cart_id):
                Projector(store, CartDetails()).handle(event)

        found = lag(store, CartDetails(), history.store)

        assert found.behind == 0
        assert found.last_applied_position == 21

    def test_one_lost_last_event_keeps_the_lag_above_zero_though_later_ones_were_applied(
        self, history: CartHistory
    ) -> None:
        # The newest position applied equals the last written, yet one cart misses its last
        # event: a lag by the newest position applied would read 0 here.
        last_of = {e.aggregate_id: e for e in history.events}
        lost = min(last_of.values(), key=lambda e: e.position or 0)
        store = project([e for e in history.events if e is not lost])

        found = lag(store, CartDetails(), history.store)

        assert found.last_applied_position == found.last_written_position
        assert (found.events_behind, found.aggregates_behind) == (1, 1)

    def test_the_lag_is_the_whole_store_before_anything_is_applied(
        self, history: CartHistory
    ) -> None:
        store = InMemoryReadModelStore()

        found = lag(store, CartDetails(), history.store)

        assert (found.last_applied_position, found.behind) == (0, 21)
        assert found.aggregates_behind == len({e.aggregate_id for e in history.events})

    def test_the_cursors_are_indexed(self) -> None:
        store = InMemoryReadModelStore()

        Projector(store, CartDetails()).ensure_indexes()

        assert store.indexes(cursor_collection(CartDetails())) == list(CURSOR_INDEXES)


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


class SettlingStore(InMemoryReadModelStore):
    """The fake, with a settle time after swaps (as a store caching its names would have), and
    a record of the swaps."""

    def __init__(self, settle: float) -> None:
        super().__init__()
        self.settle = settle
        self.steps: list[str] = []
        self.swapped: list[tuple[str, str]] = []

    @property
    def swap_settle_seconds(self) -> float:
        return self.settle

    def swap_many(self, pairs: Sequence[tuple[str, str]]) -> None:
        self.steps.append("swap")
        self.swapped += pairs
        super().swap_many(pairs)


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
        # The fresh collections were swapped in: none is left behind with documents.
        expected = {
            name
            for projection in PROJECTIONS
            for name in (*projection.collections, cursor_collection(projection))
        }
        leftovers = {name for name in live._collections if live.find(name) and name not in expected}
        assert leftovers == set()

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
            if read != 1:
                return
            # The replay has read its last page (all there was when it began); the shop goes
            # on, and the broker delivers the new events to the live read models, which the
            # swap is about to replace.
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

    def test_the_catch_up_runs_once_the_swap_has_settled_and_applies_what_was_lost_meanwhile(
        self, history: CartHistory
    ) -> None:
        live = SettlingStore(settle=0.25)
        project(history.events, live)
        steps: list[str] = []
        lost: list[RecordedEvent] = []

        def settle(seconds: float) -> None:
            steps.append(f"sleep {seconds}")
            # Meanwhile the shop goes on, and the broker delivers the new events to a process
            # that still writes to the collections swapped out: lost for the live ones.
            lost.extend(history.run(DiscardCart(cart_id=ACTIVE)))

        store = AppendingDuringReads(
            history.store, lambda _, rows: steps.append(f"read {len(rows)}")
        )
        live.steps = steps
        rebuild(store, decode(), live, PROJECTIONS, sleep=settle)

        assert len(lost) == 1
        # Each pass reads up to the last position there was when it began, no further.
        assert steps == ["read 21", "swap", "sleep 0.25", "read 1"]
        assert contents(live) == contents(project(history.events))
        shown = live.get(DETAILS, str(ACTIVE))
        assert shown is not None
        assert (shown["status"], shown["isDeleted"]) == ("Abandoned", True)

    def test_a_rebuild_under_a_steady_write_load_ends(self, history: CartHistory) -> None:
        # Was: the replay, then the catch-up, read until a page came back empty; while the shop
        # wrote faster than the catch-up applied (one live write per event and projection), it
        # never ended: `eventualshop rebuild` under load ran as long as the load did.
        live = project(history.events)
        written: list[RecordedEvent] = []

        def a_write_per_read(read: int, rows: Sequence[StoredEvent]) -> None:
            assert read < 50, "the rebuild chases the writes and never ends"
            # The shop goes on: another cart for every page the rebuild reads, each delivered.
            new = history.run(CreateCart(cart_id=uuid4(), customer_id=uuid4(), currency="USD"))
            written.extend(new)
            every = projectors(live)
            for event in new:
                handle_everywhere(every, event)

        store = AppendingDuringReads(history.store, a_write_per_read)
        reports = rebuild(store, decode(), live, PROJECTIONS, page=5)

        # What there was when it began (21), and the rest of the page that reached it.
        (last,) = {r.last_position for r in reports}
        assert 21 <= last < 21 + 5, last
        assert len(written) > 5  # the shop wrote throughout
        assert contents(live) == contents(project(history.events))

    def test_a_rebuild_swaps_every_collection_at_once_and_does_not_wait_without_a_settle_time(
        self, history: CartHistory
    ) -> None:
        live = SettlingStore(settle=0.0)
        steps: list[str] = []
        live.steps = steps

        rebuild(history.store, decode(), live, PROJECTIONS, sleep=lambda s: steps.append("sleep"))

        assert steps == ["swap"]
        assert [target for _, target in live.swapped] == [
            name
            for projection in PROJECTIONS
            for name in (*projection.collections, cursor_collection(projection))
        ]
        runs = {fresh.rsplit("_r", 1)[1] for fresh, _ in live.swapped}
        assert len(runs) == 1  # one run's fresh names, none shared with another rebuild
        for projection in PROJECTIONS:
            assert live.indexes(cursor_collection(projection)) == list(CURSOR_INDEXES)

    def test_a_rebuild_on_the_sql_store_reproduces_what_incremental_projection_wrote(
        self, history: CartHistory
    ) -> None:
        with sqlite_read_models() as live:
            project(history.events[:10], live)  # part of it, before the rebuild

            rebuild_read_models(history.store, live)

            assert contents(live) == contents(project(history.events))

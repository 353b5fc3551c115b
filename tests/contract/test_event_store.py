"""The event store contract: every adapter (memory, SQLite, PostgreSQL) passes the same suite.

The SQL store passes it on both of its paths: straight on the driver (sqlite3, psycopg; what runs
by default) and through SQLAlchemy (what MSSQL and instrumented engines get); and so does the
store a cold function opens from a URL (``cold``: ``open_event_store``, whose command path imports
no SQLAlchemy and runs the SQL compiled ahead of time).

Positions are compared as "increasing" and "as returned by append", never as 1..N: a database
identity may leave gaps (a rolled-back insert still consumes its value).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy.engine import URL

from eventualshop.adapters.event_store_driver import DriverEventStore, open_event_store
from eventualshop.adapters.event_store_sql import SqlEventStore
from eventualshop.kernel import cloudevents
from eventualshop.kernel.errors import ConcurrencyConflict, DuplicateMessage
from eventualshop.kernel.eventstore import (
    AppendBatch,
    EventStore,
    InboxRecord,
    OutboxEntry,
    StoredEvent,
    command_event_id,
)
from eventualshop.kernel.memory import InMemoryEventStore
from eventualshop.kernel.timers import ScheduledMessage
from tests.conftest import truncate
from tests.fixtures.events import cart_command, event, for_command, history, snapshot

#: The bounded context the published test events belong to.
CONTEXT = "shopping-cart"


def _listen_to_nothing(*_: Any) -> None:
    """A statement listener: the SQL store then runs every statement through SQLAlchemy."""


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        "sqlite-sqlalchemy",
        "sqlite-cold",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("postgresql-sqlalchemy", marks=pytest.mark.postgres),
        pytest.param("postgresql-cold", marks=pytest.mark.postgres),
    ]
)
def event_store(request: pytest.FixtureRequest) -> Iterator[EventStore]:
    """Every adapter of the ``EventStore`` port, migrated and empty; SQL on every path."""
    backend, _, path = request.param.partition("-")
    if backend == "memory":
        yield InMemoryEventStore()
        return
    if path == "cold":
        cold = open_event_store(_url_of(request, backend), migrate=True)
        assert isinstance(cold, DriverEventStore)
        yield cold
        cold.close()
        return
    fixture = {"sqlite": "sqlite_store", "postgresql": "postgres_store"}[backend]
    store: SqlEventStore = request.getfixturevalue(fixture)
    if path != "sqlalchemy":
        yield store
        return
    sa_event.listen(store.engine, "before_cursor_execute", _listen_to_nothing)
    try:
        yield store
    finally:
        sa_event.remove(store.engine, "before_cursor_execute", _listen_to_nothing)


def _url_of(request: pytest.FixtureRequest, backend: str) -> str:
    """A migrated, empty database of ``backend``, as the URL a function is configured with."""
    if backend == "sqlite":
        url: URL = request.getfixturevalue("sqlite_url")
    else:
        truncate(request.getfixturevalue("postgres_engine"))
        url = request.getfixturevalue("postgres_url")
    return url.render_as_string(hide_password=False)


def increasing(values: Sequence[int | None]) -> bool:
    known = [v for v in values if v is not None]
    return len(known) == len(values) and all(a < b for a, b in pairwise(known))


def without_position(events: Sequence[StoredEvent]) -> list[StoredEvent]:
    return [
        StoredEvent(**{**{f: getattr(e, f) for f in StoredEvent.__slots__}, "position": None})
        for e in events
    ]


def pending_event_ids(store: EventStore) -> list[UUID]:
    return [entry.event_id for entry in store.pending_outbox(1000)]


class TestAppendingAndLoading:
    def test_an_unknown_aggregate_loads_as_an_empty_stream(self, event_store: EventStore) -> None:
        stream = event_store.load(uuid4())

        assert stream.snapshot is None
        assert list(stream.events) == []
        assert not stream.exists

    def test_appended_events_load_back_in_version_order_with_every_field_intact(
        self, event_store: EventStore
    ) -> None:
        cart = uuid4()
        first = [
            event(cart, 1, causation_id="command-1", traceparent=f"00-{'a' * 32}-{'b' * 16}-01"),
            event(cart, 2),
        ]
        second = [event(cart, 3, event_type="Renamed", payload='{"name":"Zoë 🛒"}')]
        event_store.append(AppendBatch(first))
        event_store.append(AppendBatch(second))

        stream = event_store.load(cart)

        assert stream.exists
        assert [e.version for e in stream.events] == [1, 2, 3]
        assert without_position(stream.events) == first + second
        assert stream.events[2].timestamp.utcoffset() == timedelta(0)

    def test_append_returns_increasing_global_positions_that_load_reports_too(
        self, event_store: EventStore
    ) -> None:
        cart = uuid4()
        positions = list(event_store.append(AppendBatch(history(cart, [1, 2, 3]))))
        positions += event_store.append(AppendBatch(history(cart, [4])))

        assert increasing(positions)
        assert [e.position for e in event_store.load(cart).events] == positions

    def test_timestamps_come_back_as_the_same_instant_whatever_their_offset(
        self, event_store: EventStore
    ) -> None:
        cart = uuid4()
        lisbon_summer = timezone(timedelta(hours=1))
        written = StoredEvent(
            event_id=uuid4(),
            aggregate_id=cart,
            aggregate_type="Counter",
            version=1,
            event_type="Incremented",
            schema_version=1,
            payload="{}",
            timestamp=datetime(2024, 7, 1, 12, 0, 0, 1, tzinfo=lisbon_summer),
            correlation_id="c",
        )
        event_store.append(AppendBatch([written]))

        (loaded,) = event_store.load(cart).events
        assert loaded.timestamp == written.timestamp
        assert loaded.timestamp.utcoffset() is not None

    def test_large_unicode_payloads_round_trip_unchanged(self, event_store: EventStore) -> None:
        cart = uuid4()
        payload = '{"note":"' + "ação ✓ 漢字 🚚 " * 20_000 + '"}'
        event_store.append(AppendBatch([event(cart, 1, payload=payload)]))

        assert event_store.load(cart).events[0].payload == payload

    def test_load_events_returns_only_the_events_after_a_version(
        self, event_store: EventStore
    ) -> None:
        cart, other = uuid4(), uuid4()
        event_store.append(AppendBatch(history(cart, [1, 2, 3, 4])))
        event_store.append(AppendBatch(history(other, [1, 2])))

        assert [e.version for e in event_store.load_events(cart)] == [1, 2, 3, 4]
        assert [e.version for e in event_store.load_events(cart, after_version=2)] == [3, 4]
        assert list(event_store.load_events(cart, after_version=4)) == []

    def test_an_empty_batch_writes_nothing(self, event_store: EventStore) -> None:
        assert list(event_store.append(AppendBatch([]))) == []
        assert event_store.last_position() == 0


class TestLoadingFromSnapshots:
    def test_loading_uses_the_latest_snapshot_and_only_the_events_after_it(
        self, event_store: EventStore
    ) -> None:
        cart = uuid4()
        events = history(cart, range(1, 8))
        event_store.append(AppendBatch(events[:3], snapshots=[snapshot(cart, 3)]))
        event_store.append(AppendBatch(events[3:6], snapshots=[snapshot(cart, 6)]))
        event_store.append(AppendBatch(events[6:]))

        stream = event_store.load(cart)

        assert stream.snapshot == snapshot(cart, 6)
        assert without_position(stream.events) == events[6:]

    def test_a_snapshot_at_the_last_version_leaves_no_events_to_read(
        self, event_store: EventStore
    ) -> None:
        cart = uuid4()
        event_store.append(AppendBatch(history(cart, [1, 2, 3]), snapshots=[snapshot(cart, 3)]))

        stream = event_store.load(cart)

        assert stream.snapshot == snapshot(cart, 3)
        assert list(stream.events) == []
        assert stream.exists

    def test_snapshots_of_other_aggregates_are_never_used(self, event_store: EventStore) -> None:
        cart, other = uuid4(), uuid4()
        event_store.append(AppendBatch(history(other, [1, 2]), snapshots=[snapshot(other, 2)]))
        event_store.append(AppendBatch(history(cart, [1, 2])))

        stream = event_store.load(cart)

        assert stream.snapshot is None
        assert [e.version for e in stream.events] == [1, 2]

    def test_load_events_ignores_snapshots_and_reads_the_whole_history(
        self, event_store: EventStore
    ) -> None:
        cart = uuid4()
        event_store.append(AppendBatch(history(cart, [1, 2, 3]), snapshots=[snapshot(cart, 2)]))

        assert [e.version for e in event_store.load_events(cart)] == [1, 2, 3]


class TestOptimisticConcurrency:
    def test_a_taken_version_raises_a_conflict_and_nothing_of_the_batch_is_written(
        self, event_store: EventStore
    ) -> None:
        cart = uuid4()
        batch = cart_command(history(cart, [1]), "m-1", "ok", context=CONTEXT)
        event_store.append(batch)
        first = list(batch.events)
        last_position = event_store.last_position()
        # v2 is new but v1 is taken: the whole batch must fail, v2 included.
        late = [event(cart, 2), event(cart, 1)]

        with pytest.raises(ConcurrencyConflict) as raised:
            event_store.append(
                cart_command(late, "m-2", "ok", snapshots=[snapshot(cart, 2)], context=CONTEXT)
            )

        assert raised.value.aggregate_id == cart
        assert without_position(event_store.load(cart).events) == first
        assert event_store.load(cart).snapshot is None
        assert event_store.last_position() == last_position
        assert pending_event_ids(event_store) == [first[0].event_id]
        assert event_store.outcome("cart", "m-2") is None

    def test_two_events_with_the_same_version_in_one_batch_conflict(
        self, event_store: EventStore
    ) -> None:
        cart = uuid4()

        with pytest.raises(ConcurrencyConflict):
            event_store.append(AppendBatch([event(cart, 1), event(cart, 1)]))

        assert not event_store.load(cart).exists

    def test_an_event_id_written_before_is_a_conflict(self, event_store: EventStore) -> None:
        cart, other = uuid4(), uuid4()
        (written,) = history(cart, [1])
        event_store.append(AppendBatch([written]))

        with pytest.raises(ConcurrencyConflict):
            event_store.append(AppendBatch([event(other, 1, event_id=written.event_id)]))

        assert not event_store.load(other).exists

    def test_after_a_conflict_the_next_version_appends_normally(
        self, event_store: EventStore
    ) -> None:
        cart = uuid4()
        event_store.append(AppendBatch(history(cart, [1])))
        with pytest.raises(ConcurrencyConflict):
            event_store.append(AppendBatch(history(cart, [1])))

        event_store.append(AppendBatch(history(cart, [2])))

        assert [e.version for e in event_store.load(cart).events] == [1, 2]


class TestIdempotentMessages:
    def test_a_message_processed_before_raises_duplicate_and_nothing_is_written(
        self, event_store: EventStore
    ) -> None:
        cart = uuid4()
        batch = cart_command(history(cart, [1]), "m-1", "first", context=CONTEXT)
        event_store.append(batch)
        first = list(batch.events)
        again = history(cart, [2])

        with pytest.raises(DuplicateMessage) as raised:
            event_store.append(
                cart_command(again, "m-1", "second", snapshots=[snapshot(cart, 2)], context=CONTEXT)
            )

        assert (raised.value.consumer, raised.value.message_id) == ("cart", "m-1")
        assert [e.version for e in event_store.load(cart).events] == [1]
        assert pending_event_ids(event_store) == [first[0].event_id]
        assert event_store.outcome("cart", "m-1") == "first"

    def test_a_command_is_recognised_by_its_first_event_id_which_must_be_derived(
        self, event_store: EventStore
    ) -> None:
        """A command's first event's id is derived from its message, and event ids are unique,
        so that id alone keeps a command from being accepted twice (the index on the command's
        id can then go). A batch that would bypass it is refused before anything is written."""
        cart = uuid4()
        random_id = AppendBatch(history(cart, [1]), inbox=InboxRecord("cart", "m-1", "ok"))

        with pytest.raises(ValueError, match="command_event_id"):
            event_store.append(random_id)

        assert not event_store.load(cart).exists
        assert event_store.outcome("cart", "m-1") is None
        event_store.append(for_command(random_id))
        assert [e.event_id for e in event_store.load_events(cart)] == [
            command_event_id("cart", "m-1")
        ]
        assert event_store.outcome("cart", "m-1") == "ok"

    def test_a_duplicate_message_is_reported_even_when_its_version_is_taken_too(
        self, event_store: EventStore
    ) -> None:
        cart = uuid4()
        event_store.append(cart_command(history(cart, [1]), "m-1", "ok"))

        with pytest.raises(DuplicateMessage):
            event_store.append(cart_command(history(cart, [1]), "m-1", "ok"))

    def test_a_new_message_has_no_outcome_and_an_appended_one_keeps_its_outcome(
        self, event_store: EventStore
    ) -> None:
        assert event_store.outcome("cart", "m-1") is None

        event_store.append(cart_command(history(uuid4(), [1]), "m-1", '{"v":1}'))

        assert event_store.outcome("cart", "m-1") == '{"v":1}'

    def test_record_outcome_keeps_the_first_outcome_and_returns_it_to_later_callers(
        self, event_store: EventStore
    ) -> None:
        assert event_store.record_outcome(InboxRecord("cart", "m-1", "rejected")) == "rejected"
        assert event_store.record_outcome(InboxRecord("cart", "m-1", "other")) == "rejected"
        assert event_store.outcome("cart", "m-1") == "rejected"

    def test_record_outcome_after_an_append_returns_the_appended_outcome(
        self, event_store: EventStore
    ) -> None:
        event_store.append(cart_command(history(uuid4(), [1]), "m-1", "accepted"))

        assert event_store.record_outcome(InboxRecord("cart", "m-1", "rejected")) == "accepted"

    def test_an_append_for_a_message_with_a_recorded_outcome_is_a_duplicate(
        self, event_store: EventStore
    ) -> None:
        cart = uuid4()
        event_store.record_outcome(InboxRecord("cart", "m-1", "rejected"))

        with pytest.raises(DuplicateMessage):
            event_store.append(cart_command(history(cart, [1]), "m-1", "ok"))

        assert not event_store.load(cart).exists

    def test_the_same_message_id_is_independent_for_each_consumer(
        self, event_store: EventStore
    ) -> None:
        event_store.record_outcome(InboxRecord("cart", "m-1", "cart outcome"))

        assert event_store.record_outcome(InboxRecord("order", "m-1", "order")) == "order"
        assert event_store.outcome("cart", "m-1") == "cart outcome"


class TestReadingAllEvents:
    def test_read_all_returns_every_aggregate_in_global_position_order(
        self, event_store: EventStore
    ) -> None:
        cart, order = uuid4(), uuid4()
        written = [
            history(cart, [1, 2]),
            history(order, [1], aggregate_type="Order"),
            history(cart, [3]),
            history(order, [2], aggregate_type="Order"),
        ]
        for batch in written:
            event_store.append(AppendBatch(batch))

        read = event_store.read_all()

        assert without_position(read) == [e for batch in written for e in batch]
        assert increasing([e.position for e in read])

    def test_read_all_pages_through_everything_exactly_once(self, event_store: EventStore) -> None:
        carts = [uuid4() for _ in range(3)]
        for version in range(1, 5):
            for cart in carts:
                event_store.append(AppendBatch(history(cart, [version])))

        pages: list[list[StoredEvent]] = []
        after = 0
        while page := list(event_store.read_all(after_position=after, limit=5)):
            pages.append(page)
            after = page[-1].position or 0

        assert [len(page) for page in pages] == [5, 5, 2]
        assert [e for page in pages for e in page] == list(event_store.read_all())

    def test_read_all_after_the_last_position_is_empty(self, event_store: EventStore) -> None:
        event_store.append(AppendBatch(history(uuid4(), [1, 2])))

        assert list(event_store.read_all(after_position=event_store.last_position())) == []

    def test_last_position_is_zero_when_empty_then_the_highest_position_written(
        self, event_store: EventStore
    ) -> None:
        assert event_store.last_position() == 0

        positions = event_store.append(AppendBatch(history(uuid4(), [1, 2, 3])))

        assert event_store.last_position() == max(positions)


class TestListingAggregates:
    def test_aggregate_ids_lists_each_aggregate_of_a_type_once_in_first_append_order(
        self, event_store: EventStore
    ) -> None:
        first, second, order = uuid4(), uuid4(), uuid4()
        event_store.append(AppendBatch(history(first, [1, 2])))
        event_store.append(AppendBatch(history(order, [1], aggregate_type="Order")))
        event_store.append(AppendBatch(history(second, [1])))
        event_store.append(AppendBatch(history(first, [3])))

        assert list(event_store.aggregate_ids("Counter")) == [first, second]
        assert list(event_store.aggregate_ids("Order")) == [order]
        assert list(event_store.aggregate_ids("Payment")) == []


def _restyled(payload: str) -> str:
    """A caller's rendering of the same event that differs in its text: another type, spacing."""
    return json.dumps(json.loads(payload) | {"type": "hand.made"}, indent=1)


def rendered(
    events: Sequence[StoredEvent], positions: Sequence[int]
) -> list[tuple[UUID, str, str]]:
    """What the relay publishes for these events: their CloudEvents, rendered from the stored
    event (its position included)."""
    return [
        (e.event_id, e.event_type, cloudevents.structured(CONTEXT, replace(e, position=p)))
        for e, p in zip(events, positions, strict=True)
    ]


class TestOutbox:
    """The outbox is the relay's position over ``events``; every event of a batch that names a
    context is published, as its CloudEvent rendered from the stored event."""

    def test_events_are_pending_in_position_order_with_their_cloudevents(
        self, event_store: EventStore
    ) -> None:
        cart = uuid4()
        first, second = history(cart, [1, 2]), history(cart, [3])
        positions = list(event_store.append(AppendBatch(first, context=CONTEXT)))
        positions += event_store.append(AppendBatch(second, context=CONTEXT))

        pending = event_store.pending_outbox()

        expected = rendered(first + second, positions)
        assert [(e.event_id, e.event_type, e.payload) for e in pending] == expected
        assert [e.id for e in pending] == positions

    def test_a_batch_without_a_context_publishes_nothing(self, event_store: EventStore) -> None:
        cart = uuid4()
        event_store.append(AppendBatch(history(cart, [1])))
        published = history(cart, [2])
        event_store.append(AppendBatch(published, context=CONTEXT))

        assert pending_event_ids(event_store) == [published[0].event_id]

    def test_entries_rendered_by_the_caller_publish_their_events_rendered_again(
        self, event_store: EventStore
    ) -> None:
        events = history(uuid4(), [1, 2])
        # What the caller wrote besides the source is not kept: the stored event is rendered.
        entries = [
            OutboxEntry(e.event_id, e.event_type, _restyled(cloudevents.structured(CONTEXT, e)))
            for e in events
        ]
        positions = event_store.append(AppendBatch(events, outbox=entries[1:]))

        (pending,) = event_store.pending_outbox()

        expected = rendered(events[1:], positions[1:])[0]
        assert (pending.event_id, pending.event_type, pending.payload) == expected

    def test_an_entry_of_no_eventualshop_context_is_refused_and_nothing_is_stored(
        self, event_store: EventStore
    ) -> None:
        cart = uuid4()
        (event,) = history(cart, [1])
        payload = json.loads(cloudevents.structured(CONTEXT, event))
        foreign = json.dumps(payload | {"source": "https://elsewhere.example/orders"})

        with pytest.raises(ValueError, match="not a CloudEvent of an EventualShop context"):
            event_store.append(
                AppendBatch(
                    [event], outbox=[OutboxEntry(event.event_id, event.event_type, foreign)]
                )
            )

        assert list(event_store.load(cart).events) == []
        assert event_store.pending_outbox() == []

    def test_the_batch_context_wins_over_an_entry_naming_another(
        self, event_store: EventStore
    ) -> None:
        (event,) = history(uuid4(), [1])
        other = OutboxEntry(
            event.event_id, event.event_type, cloudevents.structured("other", event)
        )

        positions = event_store.append(AppendBatch([event], outbox=[other], context=CONTEXT))

        (pending,) = event_store.pending_outbox()
        assert (pending.event_id, pending.event_type, pending.payload) == rendered(
            [event], positions
        )[0]

    def test_pending_outbox_returns_at_most_the_limit_oldest_first(
        self, event_store: EventStore
    ) -> None:
        events = history(uuid4(), range(1, 6))
        event_store.append(AppendBatch(events, context=CONTEXT))

        assert [e.event_id for e in event_store.pending_outbox(limit=2)] == [
            e.event_id for e in events[:2]
        ]

    def test_events_through_the_marked_position_are_no_longer_pending(
        self, event_store: EventStore
    ) -> None:
        events = history(uuid4(), [1, 2, 3])
        event_store.append(AppendBatch(events, context=CONTEXT))
        _first, second, _ = event_store.pending_outbox()
        assert second.id is not None

        event_store.mark_published_through(second.id)

        assert pending_event_ids(event_store) == [events[2].event_id]
        event_store.mark_published_through(event_store.pending_outbox()[-1].id or 0)
        assert list(event_store.pending_outbox()) == []

    def test_the_position_never_moves_backwards_and_later_events_are_pending(
        self, event_store: EventStore
    ) -> None:
        cart = uuid4()
        events = history(cart, [1, 2])
        event_store.append(AppendBatch(events, context=CONTEXT))
        first, second = event_store.pending_outbox()
        assert first.id is not None
        assert second.id is not None

        # Two relays (instances) confirm the same events: the slower one's mark changes nothing.
        event_store.mark_published_through(second.id)
        event_store.mark_published_through(first.id)
        latest = history(cart, [3])
        event_store.append(AppendBatch(latest, context=CONTEXT))

        assert pending_event_ids(event_store) == [latest[0].event_id]

    def test_nothing_is_pending_on_an_empty_store(self, event_store: EventStore) -> None:
        assert list(event_store.pending_outbox()) == []
        assert list(event_store.pending_outbox(limit=0)) == []


class TestCommandsOfSeveralEvents:
    """The inbox rides on the first event of a command; these pin down the rest of its rows."""

    def test_a_multi_event_command_keeps_one_outcome_and_refuses_its_redelivery(
        self, event_store: EventStore
    ) -> None:
        cart = uuid4()
        batch = cart_command(history(cart, [1, 2, 3]), "m-1", "three", context=CONTEXT)
        event_store.append(batch)
        events = list(batch.events)

        with pytest.raises(DuplicateMessage):
            event_store.append(cart_command(history(cart, [4, 5]), "m-1", "again"))

        assert event_store.outcome("cart", "m-1") == "three"
        assert [e.version for e in event_store.load(cart).events] == [1, 2, 3]
        assert pending_event_ids(event_store) == [e.event_id for e in events]

    def test_a_command_that_wrote_no_event_keeps_its_outcome_and_refuses_its_redelivery(
        self, event_store: EventStore
    ) -> None:
        event_store.append(cart_command([], "m-1", "nothing to do"))

        with pytest.raises(DuplicateMessage):
            event_store.append(cart_command([], "m-1", "again"))
        with pytest.raises(DuplicateMessage):
            event_store.append(cart_command(history(uuid4(), [1]), "m-1", "again"))

        assert event_store.outcome("cart", "m-1") == "nothing to do"

    def test_an_event_less_command_after_an_accepted_one_is_a_duplicate(
        self, event_store: EventStore
    ) -> None:
        event_store.append(cart_command(history(uuid4(), [1]), "m-1", "accepted"))

        with pytest.raises(DuplicateMessage):
            event_store.append(cart_command([], "m-1", "again"))

        assert event_store.outcome("cart", "m-1") == "accepted"


def _scheduled(name: str, due: datetime) -> ScheduledMessage:
    return ScheduledMessage(
        message_id=f"timer:{name}",
        due_at=due,
        command_type="ExpireSomething",
        payload='{"what":"Zoë"}',
        correlation_id="correlation-1",
        causation_id=name,
        traceparent=None,
    )


class TestDurableTimers:
    """The scheduled messages of ``kernel.timers``: stored with the events that ask for them."""

    NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

    def test_due_messages_come_back_earliest_first_with_every_field_and_only_when_due(
        self, event_store: EventStore
    ) -> None:
        later = _scheduled("later", self.NOW + timedelta(minutes=1))
        due = _scheduled("due", self.NOW - timedelta(seconds=1))
        exactly = _scheduled("exactly", self.NOW.astimezone(timezone(timedelta(hours=2))))
        event_store.append(AppendBatch([event(uuid4(), 1)], scheduled=[later, due, exactly]))

        found = event_store.due_messages(self.NOW)

        assert [m.message_id for m in found] == ["timer:due", "timer:exactly"]
        assert found[0] == due
        assert found[1].due_at == self.NOW
        assert found[1].due_at.utcoffset() == timedelta(0)
        assert [m.message_id for m in event_store.due_messages(self.NOW, limit=1)] == ["timer:due"]
        assert len(event_store.due_messages(self.NOW + timedelta(hours=1))) == 3

    def test_a_sweep_reads_only_the_command_types_it_names(self, event_store: EventStore) -> None:
        # Contexts sharing a database share the table; each context's sweep reads its own.
        mine = _scheduled("mine", self.NOW)
        theirs = replace(_scheduled("theirs", self.NOW), command_type="ExpiryEmail")
        event_store.append(AppendBatch([event(uuid4(), 1)], scheduled=[theirs, mine]))

        found = event_store.due_messages(self.NOW, 10, {"ExpireSomething", "NoSuchCommand"})

        assert [m.message_id for m in found] == ["timer:mine"]
        assert [m.message_id for m in event_store.due_messages(self.NOW, 10, ["ExpiryEmail"])] == [
            "timer:theirs"
        ]
        assert event_store.due_messages(self.NOW, 10, ()) == []
        assert len(event_store.due_messages(self.NOW, 10)) == 2

    def test_a_forgotten_message_is_not_due_again_and_forgetting_twice_is_no_error(
        self, event_store: EventStore
    ) -> None:
        message = _scheduled("once", self.NOW)
        event_store.append(AppendBatch([event(uuid4(), 1)], scheduled=[message]))

        event_store.forget_message(message.message_id)
        event_store.forget_message(message.message_id)

        assert event_store.due_messages(self.NOW) == []

    def test_a_message_may_be_scheduled_again_on_its_own(self, event_store: EventStore) -> None:
        # What re-scheduling after a crash, or a tool, does: no event needed.
        message = _scheduled("alone", self.NOW)
        event_store.append(AppendBatch([], scheduled=[message]))

        assert event_store.due_messages(self.NOW) == [message]

    def test_a_refused_append_schedules_nothing(self, event_store: EventStore) -> None:
        cart = uuid4()
        event_store.append(AppendBatch([event(cart, 1)]))

        with pytest.raises(ConcurrencyConflict):
            event_store.append(
                AppendBatch([event(cart, 1)], scheduled=[_scheduled("lost", self.NOW)])
            )
        inbox = InboxRecord("consumer", "message-1", "{}")
        event_store.append(for_command(AppendBatch([event(cart, 2)], inbox=inbox)))
        with pytest.raises(DuplicateMessage):
            event_store.append(
                for_command(
                    AppendBatch(
                        [event(cart, 3)], inbox=inbox, scheduled=[_scheduled("again", self.NOW)]
                    )
                )
            )

        assert event_store.due_messages(self.NOW) == []
        assert [e.version for e in event_store.load(cart).events] == [1, 2]


class TestStreamsOfTwoTypesWithOneId:
    """Contexts sharing a store may give aggregates of two types one id (AccountId = UserId)."""

    def test_each_type_has_its_own_stream_versions_and_snapshots(
        self, event_store: EventStore
    ) -> None:
        same = uuid4()
        users = history(same, [1, 2], aggregate_type="User")
        accounts = history(same, [1], aggregate_type="Account")
        event_store.append(AppendBatch(users))
        event_store.append(
            AppendBatch(
                accounts,
                snapshots=[replace(snapshot(same, 1), aggregate_type="Account")],
            )
        )

        user_stream = event_store.load(same, "User")
        account_stream = event_store.load(same, "Account")

        assert without_position(user_stream.events) == users
        assert user_stream.snapshot is None
        assert account_stream.snapshot is not None
        assert account_stream.snapshot.aggregate_type == "Account"
        assert list(account_stream.events) == []
        assert without_position(event_store.load_events(same, aggregate_type="Account")) == accounts
        assert len(event_store.load_events(same)) == 3  # untyped: every stream with the id
        with pytest.raises(ConcurrencyConflict):
            event_store.append(AppendBatch(history(same, [2], aggregate_type="User")))
        assert set(event_store.stream_heads("User")) == {same}
        assert list(event_store.aggregate_ids("Account")) == [same]

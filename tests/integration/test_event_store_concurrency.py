"""The SQL event store under real concurrency (SQLite file and PostgreSQL), driven the way
functions drive it: through ``ApplicationService`` and ``OutboxRelay``.

Each thread gets its own store and engine, like two instances of a function.
"""

from __future__ import annotations

import json
import threading
from collections import Counter as Tally
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import TypeVar
from uuid import UUID, uuid4

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from eventualshop.adapters.event_store_sql import SqlEventStore
from eventualshop.adapters.schema import OUTBOX_RELAY, relay_positions
from eventualshop.kernel.errors import ConcurrencyConflict
from eventualshop.kernel.eventstore import (
    AppendBatch,
    EventStore,
    InboxRecord,
    OutboxEntry,
    StoredEvent,
    Stream,
)
from eventualshop.kernel.outbox import InMemoryPublisher, OutboxRelay
from eventualshop.kernel.repository import Repository
from eventualshop.kernel.service import ApplicationService, CommandContext, Outcome
from eventualshop.kernel.timers import ScheduledMessage
from tests.fixtures.counter import COUNTER, Counter, CounterCreated, CreateCounter, Increment

TIMEOUT = 60
T = TypeVar("T")


class RacingStore:
    """Delegates to a store; the first ``load`` waits at a barrier shared with other threads.

    Every thread then decides on the same version, so their appends are bound to collide:
    the test does not depend on the scheduler to produce a race.
    """

    def __init__(self, store: SqlEventStore, barrier: threading.Barrier) -> None:
        self.store = store
        self.barrier: threading.Barrier | None = barrier
        self.conflicts = 0

    def load(self, aggregate_id: UUID, aggregate_type: str | None = None) -> Stream:
        stream = self.store.load(aggregate_id, aggregate_type)
        if self.barrier is not None:
            barrier, self.barrier = self.barrier, None
            barrier.wait(TIMEOUT)
        return stream

    def append(self, batch: AppendBatch) -> Sequence[int]:
        try:
            return self.store.append(batch)
        except ConcurrencyConflict:
            self.conflicts += 1
            raise

    def load_events(
        self, aggregate_id: UUID, after_version: int = 0, aggregate_type: str | None = None
    ) -> Sequence[StoredEvent]:
        return self.store.load_events(aggregate_id, after_version, aggregate_type)

    def outcome(self, consumer: str, message_id: str) -> str | None:
        return self.store.outcome(consumer, message_id)

    def record_outcome(self, record: InboxRecord) -> str:
        return self.store.record_outcome(record)

    def read_all(self, after_position: int = 0, limit: int = 1000) -> Sequence[StoredEvent]:
        return self.store.read_all(after_position, limit)

    def last_position(self) -> int:
        return self.store.last_position()

    def aggregate_ids(self, aggregate_type: str) -> Iterator[UUID]:
        return self.store.aggregate_ids(aggregate_type)

    def pending_outbox(self, limit: int = 100) -> Sequence[OutboxEntry]:
        return self.store.pending_outbox(limit)

    def mark_published_through(self, position: int) -> None:
        self.store.mark_published_through(position)

    def due_messages(self, now: datetime, limit: int = 100) -> Sequence[ScheduledMessage]:
        return self.store.due_messages(now, limit)

    def forget_message(self, message_id: str) -> None:
        self.store.forget_message(message_id)


@pytest.fixture
def open_store(database_url: URL) -> Iterator[Callable[[], SqlEventStore]]:
    """Opens stores on the test database, each on its own engine; closes them all afterwards."""
    opened: list[SqlEventStore] = []

    def open_one() -> SqlEventStore:
        opened.append(SqlEventStore.from_url(database_url))
        return opened[-1]

    yield open_one
    for store in opened:
        store.close()


def run_in_threads(*targets: Callable[[], T]) -> list[T]:
    """Run each target in its own thread; re-raise the first failure; return the results."""
    results: dict[int, T] = {}
    errors: list[BaseException] = []

    def run(index: int, target: Callable[[], T]) -> None:
        try:
            results[index] = target()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
        assert not thread.is_alive(), "a thread did not finish in time"
    if errors:
        raise errors[0]
    return [results[i] for i in range(len(targets))]


def create_counter(store: EventStore, name: str = "visits", limit: int = 1_000_000) -> UUID:
    counter_id = uuid4()
    outcome = ApplicationService(store, COUNTER).handle(
        CreateCounter(counter_id=counter_id, name=name, limit=limit)
    )
    assert outcome.accepted
    return counter_id


def relay_position(store: SqlEventStore) -> int:
    with store.engine.connect() as connection:
        found = connection.execute(
            sa.select(relay_positions.c.position).where(relay_positions.c.name == OUTBOX_RELAY)
        ).scalar()
    return int(found or 0)


def fresh(outcome: Outcome) -> Outcome:
    """An outcome as first returned (``duplicate`` only says how it was found)."""
    return replace(outcome, duplicate=False)


class TestTwoWritersOnOneAggregate:
    @pytest.mark.parametrize("cache_size", [0, 100], ids=["loading", "cached"])
    def test_every_command_succeeds_after_retries_and_versions_have_no_gaps(
        self, open_store: Callable[[], SqlEventStore], cache_size: int
    ) -> None:
        """With a cache, each writer decides on the state it wrote last: every command after
        the other writer's is stale, and the append's version check must catch each one."""
        counter = create_counter(open_store())
        barrier = threading.Barrier(2)
        racers = [RacingStore(open_store(), barrier) for _ in range(2)]
        services = [
            ApplicationService(r, COUNTER, max_attempts=1_000, cache_size=cache_size)
            for r in racers
        ]
        commands_each = 20

        def increment_many(service: ApplicationService[Counter]) -> list[Outcome]:
            return [service.handle(Increment(counter_id=counter)) for _ in range(commands_each)]

        results = run_in_threads(*(partial(increment_many, s) for s in services))

        outcomes = [outcome for result in results for outcome in result]
        assert len(outcomes) == 2 * commands_each
        assert all(o.accepted for o in outcomes)
        assert sum(r.conflicts for r in racers) >= 1, "the writers never collided"
        reader = open_store()
        versions = [e.version for e in reader.load_events(counter)]
        assert versions == list(range(1, 2 * commands_each + 2))
        assert sorted(o.version for o in outcomes) == versions[1:]
        state = Repository(reader, COUNTER).load(counter)
        assert state is not None
        assert state.value == 2 * commands_each


class TestPublishingWhileWriting:
    def test_a_relay_draining_alongside_two_writers_publishes_every_event_exactly_once(
        self, open_store: Callable[[], SqlEventStore]
    ) -> None:
        writers = [open_store(), open_store()]
        relay_store = open_store()
        publisher = InMemoryPublisher()
        relay = OutboxRelay(relay_store, publisher, batch_size=7)
        writing = threading.Event()
        writing.set()

        def write(store: SqlEventStore) -> None:
            service = ApplicationService(store, COUNTER)
            counter = create_counter(store)
            for _ in range(30):
                assert service.handle(Increment(counter_id=counter)).accepted

        def relay_loop() -> None:
            while writing.is_set():
                relay.drain()

        def write_all() -> None:
            try:
                run_in_threads(*(partial(write, s) for s in writers))
            finally:
                writing.clear()

        run_in_threads(relay_loop, write_all)
        relay.drain()

        written = relay_store.read_all(0, 10_000)
        assert len(written) == 2 * 31
        published = Tally(entry.event_id for entry in publisher.published)
        assert published == Tally(e.event_id for e in written)
        assert set(published.values()) == {1}
        assert list(relay_store.pending_outbox()) == []
        assert relay_position(relay_store) == relay_store.last_position()

    def test_writers_relaying_after_each_commit_through_one_relay_publish_each_event_once(
        self, open_store: Callable[[], SqlEventStore]
    ) -> None:
        """As a function instance does it: every command's thread calls ``run_once`` after its
        commit on the instance's one relay, which never blocks a caller (a busy relay hands
        over to a follow-up pass). No event is skipped, none is published twice, and each
        aggregate's events are published in version order."""
        relay_store = open_store()
        publisher = InMemoryPublisher()
        relay = OutboxRelay(relay_store, publisher, batch_size=5)
        writers = 6

        def write(store: SqlEventStore) -> UUID:
            service = ApplicationService(store, COUNTER, cache_size=10)
            counter = create_counter(store)
            relay.run_once()
            for _ in range(25):
                assert service.handle(Increment(counter_id=counter)).accepted
                relay.run_once()
            return counter

        counters = run_in_threads(*(partial(write, open_store()) for _ in range(writers)))
        assert relay.wait(TIMEOUT)
        relay.drain()

        written = relay_store.read_all(0, 10_000)
        assert len(written) == writers * 26
        published = [entry.event_id for entry in publisher.published]
        assert Tally(published) == Tally(e.event_id for e in written)
        assert set(Tally(published).values()) == {1}
        positions = [entry.id for entry in publisher.published]
        assert positions == sorted(positions)
        for counter in counters:
            versions = [
                int(json.loads(e.payload)["aggregateversion"])
                for e in publisher.published
                if json.loads(e.payload)["subject"] == str(counter)
            ]
            assert versions == list(range(1, 27))
        assert relay_position(relay_store) == relay_store.last_position()

    def test_each_aggregate_is_published_in_version_order(
        self, open_store: Callable[[], SqlEventStore]
    ) -> None:
        store = open_store()
        service = ApplicationService(store, COUNTER)
        counters = [create_counter(store), create_counter(store)]
        for _ in range(5):
            for counter in counters:
                service.handle(Increment(counter_id=counter))
        publisher = InMemoryPublisher()

        OutboxRelay(store, publisher, batch_size=3).drain()

        for counter in counters:
            versions = [
                int(json.loads(e.payload)["aggregateversion"])
                for e in publisher.published
                if json.loads(e.payload)["subject"] == str(counter)
            ]
            assert versions == list(range(1, 7))


class TestRedeliveredCommands:
    def test_a_command_delivered_twice_produces_its_events_once_and_the_same_outcome(
        self, open_store: Callable[[], SqlEventStore]
    ) -> None:
        store = open_store()
        counter = create_counter(store)
        service = ApplicationService(store, COUNTER)
        context = CommandContext(message_id="delivery-1")

        first = service.handle(Increment(counter_id=counter, by=5), context)
        second = service.handle(Increment(counter_id=counter, by=5), context)

        assert not first.duplicate
        assert second.duplicate
        assert fresh(second) == first
        assert [e.version for e in store.load_events(counter)] == [1, 2]

    def test_a_command_delivered_to_two_instances_at_once_is_applied_once(
        self, open_store: Callable[[], SqlEventStore]
    ) -> None:
        counter = create_counter(open_store())
        barrier = threading.Barrier(2)
        services = [
            ApplicationService(RacingStore(open_store(), barrier), COUNTER) for _ in range(2)
        ]
        context = CommandContext(message_id="delivery-2")

        command = Increment(counter_id=counter, by=5)
        one, other = run_in_threads(*(partial(s.handle, command, context) for s in services))

        assert fresh(one) == fresh(other)
        assert fresh(one).accepted
        assert sorted([one.duplicate, other.duplicate]) == [False, True]
        reader = open_store()
        assert [e.version for e in reader.load_events(counter)] == [1, 2]
        state = Repository(reader, COUNTER).load(counter)
        assert state is not None
        assert state.value == 5

    def test_a_rejected_command_delivered_to_two_instances_at_once_keeps_one_outcome(
        self, open_store: Callable[[], SqlEventStore]
    ) -> None:
        counter = create_counter(open_store(), limit=3)
        barrier = threading.Barrier(2)
        services = [
            ApplicationService(RacingStore(open_store(), barrier), COUNTER) for _ in range(2)
        ]
        context = CommandContext(message_id="delivery-3")

        command = Increment(counter_id=counter, by=4)
        one, other = run_in_threads(*(partial(s.handle, command, context) for s in services))

        assert fresh(one) == fresh(other)
        assert fresh(one).rejection_code == "invariant-violated"
        assert [e.version for e in open_store().load_events(counter)] == [1]


class TestUpcastingStoredEvents:
    def test_an_event_stored_at_schema_v1_loads_as_the_current_v2_model(
        self, open_store: Callable[[], SqlEventStore]
    ) -> None:
        store = open_store()
        counter = uuid4()
        # What the code of schema v1 wrote: the counter's name was its "title".
        old_payload = json.dumps({"counterId": str(counter), "title": "Visitors", "limit": 10})
        store.append(
            AppendBatch(
                [
                    StoredEvent(
                        event_id=uuid4(),
                        aggregate_id=counter,
                        aggregate_type=COUNTER.name,
                        version=1,
                        event_type="CounterCreated",
                        schema_version=1,
                        payload=old_payload,
                        timestamp=datetime(2023, 1, 1, tzinfo=UTC),
                        correlation_id="legacy",
                    )
                ]
            )
        )
        assert CounterCreated.schema_version == 2

        state = Repository(store, COUNTER).load(counter)
        assert state is not None
        assert (state.name, state.limit, state.version) == ("Visitors", 10, 1)

        (stored,) = store.load_events(counter)
        recorded = Repository(store, COUNTER).decode(stored)
        assert recorded.event == CounterCreated(counter_id=counter, name="Visitors", limit=10)
        # The stored row is never rewritten: upcasting happens on every read.
        assert (stored.schema_version, stored.payload) == (1, old_payload)

    def test_commands_on_an_upcast_history_keep_its_invariants(
        self, open_store: Callable[[], SqlEventStore]
    ) -> None:
        store = open_store()
        counter = uuid4()
        store.append(
            AppendBatch(
                [
                    StoredEvent(
                        event_id=uuid4(),
                        aggregate_id=counter,
                        aggregate_type=COUNTER.name,
                        version=1,
                        event_type="CounterCreated",
                        schema_version=1,
                        payload=json.dumps(
                            {"counterId": str(counter), "title": "Seats", "limit": 3}
                        ),
                        timestamp=datetime(2023, 1, 1, tzinfo=UTC),
                        correlation_id="legacy",
                    )
                ]
            )
        )
        service = ApplicationService(store, COUNTER)

        assert service.handle(Increment(counter_id=counter, by=3)).accepted
        refused = service.handle(Increment(counter_id=counter, by=1))

        assert refused.rejection_code == "invariant-violated"
        state = Repository(store, COUNTER).load(counter)
        assert state is not None
        assert (state.name, state.value, state.version) == ("Seats", 3, 2)

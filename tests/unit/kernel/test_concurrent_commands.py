"""Concurrent commands on one aggregate in one process (a page that adds several items to a cart
at once): the service runs them one after another, so none is refused for a version another
thread wrote, and no append is wasted on a conflict. Other processes are still caught by the
append's version check (``test_idempotency``, the event store's concurrency tests)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from uuid import UUID, uuid4

from eventualshop.kernel.errors import ConcurrencyConflict
from eventualshop.kernel.eventstore import AppendBatch, Stream
from eventualshop.kernel.memory import InMemoryEventStore
from eventualshop.kernel.service import ApplicationService
from tests.fixtures.counter import COUNTER, CreateCounter, Increment

THREADS = 8


class MeetingStore(InMemoryEventStore):
    """Holds each thread's first load until every thread has loaded (or half a second passed),
    so that unserialised commands all decide on the same version; counts refused appends."""

    def __init__(self, threads: int) -> None:
        super().__init__()
        self.meeting = threading.Barrier(threads, timeout=0.5)
        self.met: set[int] = set()
        self.conflicts = 0
        self.meet = False

    def load(self, aggregate_id: UUID, aggregate_type: str | None = None) -> Stream:
        stream = super().load(aggregate_id, aggregate_type)
        me = threading.get_ident()
        if self.meet and me not in self.met:
            self.met.add(me)
            # Serialised, the others cannot load before this one has appended: the wait ends
            # in a broken barrier, and the command goes on.
            with contextlib.suppress(threading.BrokenBarrierError):
                self.meeting.wait()
        return stream

    def append(self, batch: AppendBatch) -> Sequence[int]:
        try:
            return super().append(batch)
        except ConcurrencyConflict:
            self.conflicts += 1
            raise


def test_concurrent_commands_on_one_aggregate_are_all_accepted_without_a_conflict() -> None:
    store = MeetingStore(THREADS)
    service = ApplicationService(store, COUNTER)
    counter = uuid4()
    assert service.handle(CreateCounter(counter_id=counter, name="c", limit=100)).accepted
    store.meet = True
    outcomes: list[bool] = []
    failures: list[BaseException] = []

    def increment() -> None:
        try:
            outcomes.append(service.handle(Increment(counter_id=counter)).accepted)
        except BaseException as error:  # a ConcurrencyConflict after the retries
            failures.append(error)

    threads = [threading.Thread(target=increment) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert failures == []
    assert outcomes == [True] * THREADS
    assert store.conflicts == 0
    state = service.repository.load(counter)
    assert state is not None
    assert state.version == 1 + THREADS
    assert len(service._turns) == 0  # nothing kept for an aggregate nobody works on


def test_commands_on_other_aggregates_do_not_wait_for_each_other() -> None:
    """The serialisation is per aggregate: a command on another one goes ahead while one waits."""
    store = InMemoryEventStore()
    service = ApplicationService(store, COUNTER)
    first, second = uuid4(), uuid4()
    for counter in (first, second):
        assert service.handle(CreateCounter(counter_id=counter, name="c", limit=100)).accepted
    inside, release = threading.Event(), threading.Event()
    original = store.load

    def held_load(aggregate_id: UUID, aggregate_type: str | None = None) -> Stream:
        if aggregate_id == first:
            inside.set()
            release.wait(30)
        return original(aggregate_id, aggregate_type)

    store.load = held_load  # type: ignore[method-assign]
    waiting = threading.Thread(target=lambda: service.handle(Increment(counter_id=first)))
    waiting.start()
    assert inside.wait(10)
    accepted: list[bool] = []
    # The other aggregate's command runs beside the held one: it must finish while the first is
    # still held (run in this thread, a lock shared by both would only have shown as a delay).
    other = threading.Thread(
        target=lambda: accepted.append(service.handle(Increment(counter_id=second)).accepted)
    )
    try:
        other.start()
        other.join(10)
        assert not other.is_alive(), "the other aggregate's command waited for the held one"
        assert accepted == [True]
    finally:
        release.set()
        waiting.join(10)
        other.join(10)

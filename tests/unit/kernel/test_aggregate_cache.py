"""The optional aggregate cache of the application service: a warm instance decides on the state
it wrote last, and the append's version check (not the cache) decides whether that was right."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from eventualshop.kernel.eventstore import Stream
from eventualshop.kernel.memory import InMemoryEventStore
from eventualshop.kernel.repository import AggregateCache
from eventualshop.kernel.service import ApplicationService, CommandContext
from tests.fixtures.counter import COUNTER, Counter, CreateCounter, Increment


class CountingStore(InMemoryEventStore):
    """Counts loads, the round trip the cache saves."""

    def __init__(self) -> None:
        super().__init__()
        self.loads = 0

    def load(self, aggregate_id: UUID, aggregate_type: str | None = None) -> Stream:
        self.loads += 1
        return super().load(aggregate_id, aggregate_type)


def created(service: ApplicationService[Counter], limit: int = 100) -> UUID:
    counter = uuid4()
    assert service.handle(CreateCounter(counter_id=counter, name="c", limit=limit)).accepted
    return counter


def test_a_warm_service_decides_on_the_state_it_wrote_without_loading() -> None:
    store = CountingStore()
    service = ApplicationService(store, COUNTER, cache_size=10)
    counter = created(service)
    loads = store.loads

    for _ in range(5):
        assert service.handle(Increment(counter_id=counter)).accepted

    assert store.loads == loads
    cached = service.cache.get(counter) if service.cache else None
    assert cached is not None
    assert (cached.version, cached.value) == (6, 5)


def test_without_a_cache_every_command_loads() -> None:
    store = CountingStore()
    service = ApplicationService(store, COUNTER)
    counter = created(service)
    loads = store.loads

    service.handle(Increment(counter_id=counter))

    assert service.cache is None
    assert store.loads == loads + 1


def test_a_state_another_instance_moved_on_is_caught_by_the_append_and_reloaded() -> None:
    store = CountingStore()
    warm = ApplicationService(store, COUNTER, cache_size=10)
    other = ApplicationService(store, COUNTER)
    counter = created(warm, limit=3)
    assert other.handle(Increment(counter_id=counter, by=3)).accepted

    # On the cached state (value 0) this fits the limit; on the stored one (3) it does not.
    outcome = warm.handle(Increment(counter_id=counter, by=1))

    assert outcome.rejection_code == "invariant-violated"
    assert [e.version for e in store.load_events(counter)] == [1, 2]
    assert warm.cache is not None
    cached = warm.cache.get(counter)
    assert cached is not None
    assert cached.value == 3


def test_a_rejection_decided_on_a_cached_state_is_decided_again_on_the_stored_one() -> None:
    store = InMemoryEventStore()
    service = ApplicationService(store, COUNTER, cache_size=10)
    counter = created(service, limit=3)
    assert service.cache is not None
    # A cached state that says more than the store does (it cannot happen with appends alone,
    # which is the point: a stored rejection is never decided on a cached state).
    stale = service.cache.get(counter)
    assert stale is not None
    service.cache.forget(counter)
    service.cache.put(stale.model_copy(update={"value": 3}))

    outcome = service.handle(Increment(counter_id=counter, by=1))

    assert outcome.accepted
    assert [e.version for e in store.load_events(counter)] == [1, 2]


def test_the_cache_keeps_the_most_recently_used_states_up_to_its_size() -> None:
    cache: AggregateCache[Counter] = AggregateCache(2)
    states = [Counter(id=uuid4(), version=1) for _ in range(3)]
    cache.put(states[0])
    cache.put(states[1])
    assert cache.get(states[0].id) is states[0]  # now the most recent

    cache.put(states[2])

    assert len(cache) == 2
    assert cache.get(states[1].id) is None
    assert cache.get(states[0].id) is states[0]


def test_the_cache_never_replaces_a_state_with_an_older_version() -> None:
    cache: AggregateCache[Counter] = AggregateCache(5)
    counter = uuid4()
    cache.put(Counter(id=counter, version=3, value=3))

    cache.put(Counter(id=counter, version=2, value=2))

    cached = cache.get(counter)
    assert cached is not None
    assert cached.version == 3


def test_a_cache_holds_at_least_one_state() -> None:
    with pytest.raises(ValueError, match="at least one"):
        AggregateCache[Counter](0)


def test_a_redelivered_command_on_a_warm_service_gets_the_first_outcome() -> None:
    store = InMemoryEventStore()
    service = ApplicationService(store, COUNTER, cache_size=10)
    counter = created(service)
    context = CommandContext(message_id="m-1")
    first = service.handle(Increment(counter_id=counter), context)
    again = service.handle(Increment(counter_id=counter), context)

    assert again.duplicate
    assert again.event_ids == first.event_ids
    assert [e.version for e in store.load_events(counter)] == [1, 2]

"""Deliveries of one aggregate to one projector at once, on PostgreSQL read models: each waits
for the other (``ReadModelStore.hold``) instead of deadlocking.

Found by a probe under load with RabbitMQ (prefetch 10, two consumers): 293 ``DeadlockDetected``
in a minute in the Warehouse's item list, each a 500 the broker retried. Two deliveries of one
inventory, each filling a gap from the event store, wrote its item documents in different
orders. Bounded: a few hundred events a round, a few rounds (the old code deadlocked in two
rounds of three)."""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import pytest

from eventualshop.adapters.database import create_engine
from eventualshop.adapters.read_models_sql import SqlReadModelStore
from eventualshop.kernel.messages import RecordedEvent
from eventualshop.kernel.projection import History, Projector
from eventualshop.kernel.readmodels_memory import InMemoryReadModelStore
from eventualshop.kernel.values import Product
from eventualshop.warehouse import commands as c
from eventualshop.warehouse.inventory import INVENTORY
from eventualshop.warehouse.read_models import ITEM_LIST, InventoryItemList
from tests.unit.recorded import History as Recorder

ROUNDS = 4
RESERVATIONS = 400
DELIVERERS = 8


def inventories_under_load(rng: random.Random) -> list[RecordedEvent]:
    """Two inventories of four products, and many carts' reservations on them."""
    history = Recorder(INVENTORY)
    goods = [
        Product(description="d", name=f"n{i}", brand="b", category="c", unit="u", sku=f"s{i}")
        for i in range(4)
    ]
    inventories = [uuid.uuid4() for _ in range(2)]
    for inventory in inventories:
        history.run(c.CreateInventory(inventory_id=inventory, owner_id=uuid.uuid4()))
        for product in goods:
            receive = c.ReceiveInventoryItem(
                inventory_id=inventory,
                item_id=uuid.uuid4(),
                product=product,
                cost=Decimal(10),
                quantity=1000,
            )
            history.run(receive)
    carts = [uuid.uuid4() for _ in range(20)]
    for version in range(1, RESERVATIONS + 1):
        reserve = c.ReserveInventoryItem(
            inventory_id=rng.choice(inventories),
            catalog_id=uuid.uuid4(),
            cart_id=rng.choice(carts),
            product=rng.choice(goods),
            quantity=rng.randint(1, 5),
            cart_version=version,
        )
        history.run(reserve)
    return list(history.events)


def history_of(events: Sequence[RecordedEvent]) -> History:
    """The event store's side of a projector: an aggregate's events between two versions."""
    streams: dict[uuid.UUID, list[RecordedEvent]] = defaultdict(list)
    for event in events:
        streams[event.aggregate_id].append(event)

    def between(aggregate: uuid.UUID, after: int, through: int) -> list[RecordedEvent]:
        return [e for e in streams[aggregate] if after < e.version <= through]

    return between


def assert_as_delivered_in_order(
    read_models: SqlReadModelStore, events: Sequence[RecordedEvent]
) -> None:
    in_order = InMemoryReadModelStore()
    one_by_one = Projector(in_order, InventoryItemList())
    for event in events:
        one_by_one.handle(event)
    assert {d["id"]: d for d in read_models.find(ITEM_LIST)} == {
        d["id"]: d for d in in_order.find(ITEM_LIST)
    }


@pytest.fixture
def read_models(postgres_url: Any) -> Iterator[SqlReadModelStore]:
    engine = create_engine(postgres_url)
    try:
        yield SqlReadModelStore(engine, prefix=f"conc_{uuid.uuid4().hex[:8]}_")
    finally:
        engine.dispose()


def deliver_at_once(
    projector: Projector, events: Sequence[RecordedEvent], rng: random.Random
) -> Counter[str]:
    """Every event (a third of them twice) shuffled over several deliverers, each retrying a
    failed delivery as a broker would; what failed, by kind."""
    queue = [*events, *rng.sample(list(events), len(events) // 3)]
    rng.shuffle(queue)
    lock = threading.Lock()
    failures: Counter[str] = Counter()

    def deliverer() -> None:
        while True:
            with lock:
                if not queue:
                    return
                event = queue.pop()
            for _ in range(20):
                try:
                    projector.handle(event)
                    break
                except Exception as error:
                    failures[type(getattr(error, "orig", error)).__name__] += 1

    threads = [threading.Thread(target=deliverer) for _ in range(DELIVERERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


@pytest.mark.parametrize("seed", range(ROUNDS))
def test_deliveries_of_one_aggregate_at_once_wait_for_each_other(
    read_models: SqlReadModelStore, seed: int
) -> None:
    rng = random.Random(seed)
    events = inventories_under_load(rng)
    projector = Projector(read_models, InventoryItemList(), history_of(events))
    projector.ensure_indexes()

    failures = deliver_at_once(projector, events, rng)

    assert failures == Counter(), failures
    assert_as_delivered_in_order(read_models, events)


@pytest.mark.parametrize("seed", range(2))
def test_a_catch_up_run_beside_live_deliveries_waits_for_them_and_they_for_it(
    read_models: SqlReadModelStore, seed: int
) -> None:
    """The sweep's catch-up applies runs of events by position while the broker delivers: the
    run holds all its aggregates at once, in one order, so neither deadlocks the other."""
    rng = random.Random(seed)
    events = inventories_under_load(rng)
    projector = Projector(read_models, InventoryItemList(), history_of(events))
    projector.ensure_indexes()
    failures: Counter[str] = Counter()

    def catch_up() -> None:
        for start in range(0, len(events), 100):
            for _ in range(20):
                try:
                    projector.handle_batch(events[start : start + 100])
                    break
                except Exception as error:
                    failures[type(getattr(error, "orig", error)).__name__] += 1

    runs = threading.Thread(target=catch_up)
    runs.start()
    failures += deliver_at_once(projector, events, rng)
    runs.join()

    assert failures == Counter(), failures
    assert_as_delivered_in_order(read_models, events)

"""Our core path, measured the way ``peer.py`` measures the ``eventsourcing`` library.

The cart's ``ApplicationService`` on a PostgreSQL event store, called directly by the client
threads (no HTTP), and the five cart projectors (``kernel.projection.Projector``, with their
history from the same store) writing PostgreSQL read models, each fed by a thread of its own that
reads the store by global position (``read_all``) and is woken after every command, as the
library's runners are woken by PostgreSQL's LISTEN/NOTIFY. No broker: the store is the feed.

``compare`` runs either subject the same way: carts set up, a warm-up, then ``clients`` threads
sending ChangeCartItemQuantity for ``window`` seconds, counted from the first command to the
moment every projection has applied the last one; the CPU of this process and of every
PostgreSQL process over that span gives ``cpu_ms_per_command``.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from peer import run_threads
from sampler import ProcessCpu, postgres_processes


class Subject(Protocol):
    def create_cart(self) -> tuple[Any, Any]: ...

    def change(self, cart_id: Any, item_id: Any, quantity: int) -> int: ...

    def wait_visible(self, timeout: float) -> float | None: ...


class Feeder:
    """The projectors fed from the event store by position, woken after each command: one
    thread reads each run of events once, decodes it once and hands it to every projector
    (one transaction each), as ``eventualshop project`` does."""

    def __init__(self, store: Any, projectors: list[Any], decode: Any) -> None:
        self.store = store
        self.projectors = projectors
        self.decode = decode
        self.applied = store.last_position()  # a fresh database: nothing before is ours
        self.wake = threading.Event()
        self.stopping = False
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="feeder", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while not self.stopping:
                self.wake.wait(0.05)
                self.wake.clear()  # before reading: a command committed after is not missed
                while True:
                    events = self.store.read_all(self.applied, limit=500)
                    if not events:
                        break
                    decoded = [self.decode(e) for e in events]
                    for projector in self.projectors:
                        projector.handle_batch(decoded)
                    self.applied = events[-1].position
        except BaseException as error:
            self.error = error

    def stop(self) -> None:
        self.stopping = True
        self.wake.set()
        self.thread.join(timeout=10)


class CoreShop:
    def __init__(self, service: Any, store: Any, feeders: list[Feeder]) -> None:
        self.service = service
        self.store = store
        self.feeders = feeders

    def _handle(self, command: Any) -> int:
        outcome = self.service.handle(command)
        if not outcome.accepted:
            raise RuntimeError(f"{type(command).__name__} rejected: {outcome}")
        for feeder in self.feeders:
            feeder.wake.set()
        return len(outcome.event_ids)

    def create_cart(self) -> tuple[uuid.UUID, uuid.UUID]:
        from eventualshop.shopping_cart import commands as cmd

        cart_id, item_id = uuid.uuid4(), uuid.uuid4()
        self._handle(cmd.CreateCart(cart_id=cart_id, customer_id=uuid.uuid4(), currency="USD"))
        self._handle(
            cmd.AddCartItem(
                cart_id=cart_id,
                item_id=item_id,
                catalog_id=uuid.uuid4(),
                inventory_id=uuid.uuid4(),
                product={
                    "description": "A bench item",
                    "name": "Widget",
                    "brand": "Acme",
                    "category": "Tools",
                    "unit": "each",
                    "sku": "W-1",
                },
                quantity=1,
                unit_price={"amount": "9.99", "currency": "USD"},
            )
        )
        return cart_id, item_id

    def change(self, cart_id: uuid.UUID, item_id: uuid.UUID, quantity: int) -> int:
        from eventualshop.shopping_cart import commands as cmd

        return self._handle(
            cmd.ChangeCartItemQuantity(cart_id=cart_id, item_id=item_id, new_quantity=quantity)
        )

    def wait_visible(self, timeout: float) -> float | None:
        last = self.store.last_position()
        deadline = time.perf_counter() + timeout
        while any(f.applied < last for f in self.feeders):
            for feeder in self.feeders:
                if feeder.error is not None:
                    raise RuntimeError(f"a projector failed: {feeder.error!r}")
            if time.perf_counter() > deadline:
                return None
            time.sleep(0.0005)
        return time.perf_counter()


@contextmanager
def core_shop(sqlalchemy_url: str) -> Iterator[CoreShop]:
    from eventualshop.adapters.event_store_sql import SqlEventStore
    from eventualshop.adapters.read_models_sql import SqlReadModelStore
    from eventualshop.kernel.projection import Projector
    from eventualshop.kernel.repository import Repository
    from eventualshop.kernel.service import ApplicationService
    from eventualshop.shopping_cart.cart import CART
    from eventualshop.shopping_cart.read_models import PROJECTIONS

    store = SqlEventStore.from_url(sqlalchemy_url, migrate=True)
    read_models = SqlReadModelStore.from_url(sqlalchemy_url, prefix="core_")
    decode = Repository(store, CART).decode

    def history(aggregate_id: uuid.UUID, after: int, through: int) -> list[Any]:
        return [
            decode(e)
            for e in store.load_events(aggregate_id, after_version=after)
            if e.version <= through
        ]

    feeders: list[Feeder] = []
    try:
        projectors = [Projector(read_models, projection, history) for projection in PROJECTIONS]
        for projector in projectors:
            projector.ensure_indexes()
        feeders.append(Feeder(store, projectors, decode))
        yield CoreShop(ApplicationService(store, CART), store, feeders)
    finally:
        for feeder in feeders:
            feeder.stop()
        read_models.close()
        store.close()


def compare(
    subject: Subject,
    database: str,
    clients: int,
    carts_per_client: int,
    window: float,
    timeout: float,
) -> dict[str, float]:
    """Commands per second (each applied by every projection) and the CPU they took."""
    # Per client thread its own carts, each [cart id, item id, quantity]: no two clients race.
    groups = [
        [[*subject.create_cart(), 1] for _ in range(carts_per_client)] for _ in range(clients)
    ]
    if subject.wait_visible(timeout) is None:
        raise RuntimeError("the projections never showed the new carts")
    _load(subject, groups, 0.5)  # warm up: connections, prepared statements, caches
    if subject.wait_visible(timeout) is None:
        raise RuntimeError("the projections did not catch up after the warm-up")
    watch = cpu_watch(database)
    watch.start()
    start = time.perf_counter()
    commands, events = _load(subject, groups, window)
    sent = time.perf_counter()
    visible = subject.wait_visible(timeout)
    watch.stop()
    if visible is None:
        raise RuntimeError(f"the projections did not catch up within {timeout} s")
    cpu = sum(watch.used.values())
    return {
        "commands_per_s": commands / (visible - start),
        "accepted_per_s": commands / (sent - start),
        "drain_s": visible - sent,
        "commands": commands,
        "events_per_command": events / commands,
        "cpu_ms_per_command": cpu * 1000 / commands,
        "cpu_ms_per_command_bench": watch.used.get("bench", 0.0) * 1000 / commands,
        "cpu_ms_per_command_postgresql": watch.used.get("postgresql", 0.0) * 1000 / commands,
    }


def cpu_watch(database: str) -> ProcessCpu:
    """This process (clients, application, projectors) and PostgreSQL: the server's own
    processes and the backends of the bench database."""
    return ProcessCpu(lambda: postgres_processes(database) | {os.getpid(): "bench"})


def _load(subject: Subject, groups: list[list[list[Any]]], seconds: float) -> tuple[int, int]:
    counts = [0] * len(groups)
    events = [0] * len(groups)
    stop_at = time.perf_counter() + seconds

    def body(index: int) -> None:
        while time.perf_counter() < stop_at:
            for cart in groups[index]:
                cart[2] = 1 if cart[2] == 2 else 2  # every command changes something
                events[index] += subject.change(cart[0], cart[1], cart[2])
                counts[index] += 1

    run_threads(len(groups), body)
    return sum(counts), sum(events)

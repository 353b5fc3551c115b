"""Event store benchmark: our command path against a bare insert loop and the `eventsourcing`
library, on the same database in the same run.

    python bench/eventstore.py --json [--quick]

The throughput figures (ours, ours cached, the SQL floor, the bare insert, the library, the
library cached) are measured in turns of a quarter second, taken in rotating order until each
side has had its seconds (``interleaved``): the disk's fsync time on a shared machine changes
threefold from one window to the next, and measured one after the other the sides' ratios said
more about the disk than about the code.

The last line printed is ONE JSON object with a key per backend reached ("sqlite",
"postgresql"). Durability is the same on every side: SQLite in WAL mode with synchronous=FULL
(each commit is fsynced; the library sets WAL only and gets FULL as SQLite's built-in default,
which ``bench_sqlite`` checks), PostgreSQL with its defaults (synchronous_commit=on); snapshots
every 3 events on both sides.

- ``command_per_s``: load -> decide -> append, one client, on the store a function opens
  (``open_event_store``: the driver path on the driver's own connections); ``vs_eventsourcing``
  compares it with the library doing the same (``repository.get`` -> one event -> ``save``), no
  cache either side.
- ``command_per_s_cached``: the same with the aggregate cache of a warm instance (no load when
  nothing changed); compared with the library's own cache without fast-forward
  (``AGGREGATE_CACHE_FASTFORWARD=n``: no read either), ``vs_eventsourcing_cached``.
- ``sql_floor_per_s``: the command's SQL alone (``sql_floor_side``: the same load and append
  through the same driver path, with a real command's rows changed in ids and versions; no
  domain, no pydantic). ``sql_floor_vs_bare`` is the most ``vs_bare`` a command that loads and
  appends could reach on this machine's disk; ``vs_sql_floor`` is the share of it the whole
  command keeps (the rest is our Python).
- ``cpu_us_command`` / ``cpu_us_bare_insert`` / ``cpu_us_sql_floor`` / ``cpu_us_eventsourcing``:
  CPU µs one unit took in this process (Python and the driver's own work), which the disk's
  fsync time does not inflate.
- ``p50_ms_1`` / ``p99_ms_1`` / ``p50_ms_8`` / ``p99_ms_8``: latency of one command as a function
  serves it (command, then ``relay.run_once()``) with 1 and 8 concurrent clients in one process
  (one store, one relay, a publisher confirming after ``PUBLISH_MS``).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "shared"))

from eventualshop.adapters.event_store_driver import DriverEventStore, open_event_store
from eventualshop.adapters.event_store_sql import SqlEventStore
from eventualshop.adapters.sql_driver import AppendRows, DriverPath
from eventualshop.kernel.aggregate import execute
from eventualshop.kernel.money import Money
from eventualshop.kernel.outbox import InMemoryPublisher, OutboxRelay
from eventualshop.kernel.repository import Repository
from eventualshop.kernel.service import ApplicationService, CommandContext
from eventualshop.kernel.values import Product
from eventualshop.shopping_cart import commands as cmd
from eventualshop.shopping_cart.cart import CART
from eventualshop.shopping_cart.service import cart_service

POSTGRES_ADMIN_URL = os.environ.get(
    "EVENTUALSHOP_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BENCH_DB = "eventualshop_bench"
CARTS = 20
#: What a broker's publisher confirm takes in the latency figures (RabbitMQ on the same host).
PUBLISH_MS = 1.0
CLIENTS = (1, 8)
#: The throughput sides take turns of this long (see ``interleaved``).
SLICE_S = 0.25

PRODUCT = Product(
    description="A bench item",
    name="Widget",
    brand="Acme",
    category="Tools",
    unit="each",
    sku="W-1",
)
PRICE = Money.of("9.99", "USD")


# --------------------------------------------------------------------------- our command path


def _create_carts(service: Any, count: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    carts = []
    for _ in range(count):
        cart_id, item_id = uuid.uuid4(), uuid.uuid4()
        service.handle(cmd.CreateCart(cart_id=cart_id, customer_id=uuid.uuid4(), currency="USD"))
        service.handle(
            cmd.AddCartItem(
                cart_id=cart_id,
                item_id=item_id,
                catalog_id=uuid.uuid4(),
                inventory_id=uuid.uuid4(),
                product=PRODUCT,
                quantity=1,
                unit_price=PRICE,
            )
        )
        carts.append((cart_id, item_id))
    return carts


@dataclass
class Side:
    """One side of the throughput comparison: ``step`` does one unit of its work (a command, an
    insert), ``close`` releases what it opened."""

    step: Callable[[], None]
    close: Callable[[], None]


def our_side(url: str, cache_size: int = 0) -> Side:
    """load -> decide -> append on the store a function's composition root opens
    (``open_event_store``: the driver path on the driver's own connections)."""
    store = open_event_store(url, migrate=True)
    service = ApplicationService(store, CART, cache_size=cache_size)
    carts = _create_carts(service, CARTS)
    done = itertools.count()

    def step() -> None:
        i = next(done)
        cart_id, item_id = carts[i % CARTS]
        quantity = 2 if (i // CARTS) % 2 == 0 else 1  # every command changes its cart
        outcome = service.handle(
            cmd.ChangeCartItemQuantity(cart_id=cart_id, item_id=item_id, new_quantity=quantity),
            CommandContext(),
        )
        assert outcome.accepted, outcome

    return Side(step, store.close)


class _Recorder:
    """A driver path that keeps the rows of every append it passes on."""

    def __init__(self, path: DriverPath) -> None:
        self.path = path
        self.appended: list[AppendRows] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.path, name)

    def append(self, rows: AppendRows) -> list[Any]:
        self.appended.append(rows)
        return self.path.append(rows)


def sql_floor_side(url: str) -> Side:
    """The SQL of ``our_side``'s command alone: the same load and the same append (the inbox
    guard, one event row with the command's id and outcome, a snapshot every
    ``snapshot_interval`` versions) through the same driver path on the same database, with the
    rows of a real command, taken as the store wrote them, changed in ids and versions only. No
    domain, no pydantic, no application service: what the schema and the driver cost. The gap
    between ``command`` and this side is our Python, and this side's ``vs_bare`` the most a
    command that loads and appends could reach on this machine's disk (the cached command skips
    the load)."""
    store = open_event_store(url, migrate=True)
    assert isinstance(store, DriverEventStore), "the floor runs on a driver path"
    service = ApplicationService(store, CART)
    carts = _create_carts(service, CARTS)
    # A bench's liberty with the store's insides: real commands on one cart, until one writes a
    # snapshot too, through a path that keeps their rows.
    recorder = _Recorder(store._driver)
    store._driver = recorder
    cart_id, item_id = carts[0]
    quantity = 2
    while not (recorder.appended and recorder.appended[-1].snapshots):
        change = cmd.ChangeCartItemQuantity(cart_id=cart_id, item_id=item_id, new_quantity=quantity)
        assert service.handle(change, CommandContext()).accepted
        quantity = 3 - quantity
    store._driver = path = recorder.path
    template = recorder.appended[-1]
    (event_row,), (snapshot_row,), inbox_row = template.events, template.snapshots, template.inbox
    assert inbox_row is not None
    assert not template.scheduled
    interval = service.repository.snapshot_interval
    versions = {cart: _version(service, cart) for cart, _ in carts}
    done = itertools.count()

    def step() -> None:
        cart_id = carts[next(done) % CARTS][0]
        path.load(cart_id, CART.name)
        version = versions[cart_id] = versions[cart_id] + 1
        message_id = str(uuid.uuid4())
        event = {
            **event_row,
            "event_id": uuid.uuid4(),
            "aggregate_id": cart_id,
            "version": version,
            "command_id": message_id,
        }
        snapshots = (
            [{**snapshot_row, "aggregate_id": cart_id, "version": version}]
            if version % interval == 0
            else []
        )
        path.append(AppendRows({**inbox_row, "message_id": message_id}, [event], snapshots))

    return Side(step, store.close)


def _version(service: ApplicationService[Any], cart_id: uuid.UUID) -> int:
    state = service.repository.load(cart_id)
    assert state is not None
    return int(state.version)


def interleaved(sides: dict[str, Side], seconds: float) -> dict[str, tuple[float, float]]:
    """Units per second of each side, measured in turns of ``SLICE_S`` (the order rotating each
    round) for ``seconds`` each in all: on a machine whose fsync time and CPU share change from
    one second to the next, every side sees the same conditions, so the ratios mean something.
    With each rate, the CPU µs one unit took in this process (the sides run one at a time)."""
    names = list(sides)
    done = dict.fromkeys(names, 0)
    spent = dict.fromkeys(names, 0.0)
    cpu = dict.fromkeys(names, 0.0)
    for turn in range(max(1, round(seconds / SLICE_S))):
        shift = turn % len(names)
        for name in names[shift:] + names[:shift]:
            step = sides[name].step
            cpu_start = time.process_time()
            start = time.perf_counter()
            deadline = start + SLICE_S
            count = 0
            while time.perf_counter() < deadline:
                step()
                count += 1
            spent[name] += time.perf_counter() - start
            cpu[name] += time.process_time() - cpu_start
            done[name] += count
    return {name: (done[name] / spent[name], cpu[name] / done[name] * 1e6) for name in names}


class ConfirmingPublisher(InMemoryPublisher):
    """Publishes in memory after the time a broker takes to confirm a batch."""

    def publish(self, entries: Any) -> None:
        time.sleep(PUBLISH_MS / 1000)
        super().publish(entries)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure_latency(url: str, seconds: float, clients: int) -> dict[str, float]:
    """Commands as one function instance serves them: ``clients`` threads, each with its own
    carts, each command followed by ``relay.run_once()`` (what the composition root does after a
    commit); the time of both is the command's latency."""
    # The SQLAlchemy store, with a pool as large as the clients: what is measured here is the
    # wait for the append lock and the relay, not connection set-up (the driver store keeps 5
    # idle connections on PostgreSQL).
    store = SqlEventStore.from_url(url, migrate=True, pool_size=clients + 2)
    service = cart_service(store)
    relay = OutboxRelay(store, ConfirmingPublisher())
    carts = [_create_carts(service, 4) for _ in range(clients)]
    relay.drain()
    latencies: list[list[float]] = [[] for _ in range(clients)]
    barrier = threading.Barrier(clients)

    def client(index: int) -> None:
        quantity = 2
        barrier.wait()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            for cart_id, item_id in carts[index]:
                start = time.perf_counter()
                outcome = service.handle(
                    cmd.ChangeCartItemQuantity(
                        cart_id=cart_id, item_id=item_id, new_quantity=quantity
                    ),
                    CommandContext(),
                )
                relay.run_once()
                latencies[index].append((time.perf_counter() - start) * 1000)
                assert outcome.accepted, outcome
            quantity = 1 if quantity == 2 else 2

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wait = getattr(relay, "wait", None)  # the relay hands late passes to a background thread
    if wait is not None:
        wait(30)
    relay.drain()
    assert not store.pending_outbox(), "events left unpublished"
    store.engine.dispose()
    every = [value for per_client in latencies for value in per_client]
    return {
        f"p50_ms_{clients}": round(_percentile(every, 0.5), 2),
        f"p99_ms_{clients}": round(_percentile(every, 0.99), 2),
        f"commands_per_s_{clients}": round(len(every) / seconds, 1),
    }


def _append_history(store: Any, events: int) -> uuid.UUID:
    """A cart with exactly ``events`` events, written in large batches (not the measured path)."""
    repository = Repository(store, CART)
    cart_id, item_id = uuid.uuid4(), uuid.uuid4()
    state = None
    commands: list[Any] = [
        cmd.CreateCart(cart_id=cart_id, customer_id=uuid.uuid4(), currency="USD"),
        cmd.AddCartItem(
            cart_id=cart_id,
            item_id=item_id,
            catalog_id=uuid.uuid4(),
            inventory_id=uuid.uuid4(),
            product=PRODUCT,
            quantity=1,
            unit_price=PRICE,
        ),
    ]
    commands += [
        cmd.ChangeCartItemQuantity(cart_id=cart_id, item_id=item_id, new_quantity=2 - i % 2)
        for i in range(events - 2)
    ]
    pending: list[Any] = []
    for command in commands:
        steps = execute(CART, state, command)
        state = steps[-1].state
        pending.extend(steps)
        if len(pending) >= 500:
            store.append(repository.batch(cart_id, pending, correlation_id="bench"))
            pending = []
    if pending:
        store.append(repository.batch(cart_id, pending, correlation_id="bench"))
    return cart_id


def measure_load_ms(url: str, lengths: tuple[int, ...], repeats: int) -> dict[int, float]:
    """Median ms to load a cart of each history length; the lengths take turns, so a change in
    the machine's load shifts them alike."""
    store = open_event_store(url, migrate=True)
    carts = {events: _append_history(store, events) for events in lengths}
    repository = Repository(store, CART)
    timings: dict[int, list[float]] = {events: [] for events in lengths}
    for _ in range(repeats):
        for events, cart_id in carts.items():
            start = time.perf_counter()
            cart = repository.load(cart_id)
            timings[events].append((time.perf_counter() - start) * 1000)
            assert cart is not None
            assert cart.version == events
    store.close()
    return {events: statistics.median(found) for events, found in timings.items()}


# --------------------------------------------------------------------------- bare insert loop


def bare_sqlite(path: str) -> Side:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS bare (id INTEGER PRIMARY KEY, payload TEXT)")

    def insert() -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO bare (payload) VALUES (?)", ('{"bench": true}',))
        conn.execute("COMMIT")

    return Side(insert, conn.close)


def bare_postgres(dsn: str) -> Side:
    import psycopg

    conn = psycopg.connect(dsn)
    conn.execute("CREATE TABLE IF NOT EXISTS bare (id BIGSERIAL PRIMARY KEY, payload TEXT)")
    conn.commit()

    def insert() -> None:
        conn.execute("INSERT INTO bare (payload) VALUES (%s)", ('{"bench": true}',))
        conn.commit()

    return Side(insert, conn.close)


# --------------------------------------------------------------------------- eventsourcing library


@functools.cache
def _library_types() -> tuple[type[Any], type[Any]]:
    """The same cart in the eventsourcing library's idiom, defined once (its topics are global)."""
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event

    class Cart(Aggregate):
        @event("Created")
        def __init__(self, customer_id: str, currency: str) -> None:
            self.customer_id = customer_id
            self.currency = currency
            self.items: dict[str, dict[str, Any]] = {}
            self.total = Decimal(0)

        @event("ItemAdded")
        def add_item(
            self, item_id: str, product: dict[str, str], quantity: int, price: str
        ) -> None:
            self.items[item_id] = {"product": product, "quantity": quantity, "price": price}
            self.total += Decimal(price) * quantity

        def change_quantity(self, item_id: str, new_quantity: int) -> None:
            item = self.items[item_id]
            price = Decimal(item["price"])
            total = self.total + price * (new_quantity - item["quantity"])
            self._quantity_changed(item_id, new_quantity, str(price), str(total))

        @event("ItemQuantityChanged")
        def _quantity_changed(
            self, item_id: str, new_quantity: int, unit_price: str, new_cart_total: str
        ) -> None:
            del unit_price  # carried in the event like ours, not needed in the state
            self.items[item_id]["quantity"] = new_quantity
            self.total = Decimal(new_cart_total)

    class Shop(Application[uuid.UUID]):
        snapshotting_intervals = {Cart: 3}

    return Cart, Shop


def eventsourcing_side(env: dict[str, str], *, cached: bool = False) -> Side:
    Cart, Shop = _library_types()  # noqa: N806 - classes
    if cached:
        # Its cache, without fast-forward: like ours, no read at all when the aggregate is cached.
        env = env | {"AGGREGATE_CACHE_MAXSIZE": "1000", "AGGREGATE_CACHE_FASTFORWARD": "n"}
    app = Shop(env=env)
    ids = []
    for _ in range(CARTS):
        cart = Cart(customer_id=str(uuid.uuid4()), currency="USD")
        cart.add_item(str(uuid.uuid4()), PRODUCT.model_dump(), 1, "9.99")
        app.save(cart)
        ids.append((cart.id, next(iter(cart.items))))
    done = itertools.count()

    def step() -> None:
        i = next(done)
        cart_id, item_id = ids[i % CARTS]
        cart = app.repository.get(cart_id)
        cart.change_quantity(item_id, 2 if (i // CARTS) % 2 == 0 else 1)
        app.save(cart)

    return Side(step, app.close)


# --------------------------------------------------------------------------- backends


def _figures(
    measured: dict[str, tuple[float, float]],
    load10: float,
    load10k: float,
    latency: dict[str, float],
) -> dict[str, float]:
    rates = {name: rate for name, (rate, _) in measured.items()}
    command, cached, bare = rates["command"], rates["cached"], rates["bare"]
    library, library_cached = rates["library"], rates["library_cached"]
    floor = rates["sql_floor"]
    return {
        "command_per_s": round(command, 1),
        "command_per_s_cached": round(cached, 1),
        "bare_insert_per_s": round(bare, 1),
        "eventsourcing_per_s": round(library, 1),
        "eventsourcing_cached_per_s": round(library_cached, 1),
        "load_ms_10": round(load10, 3),
        "load_ms_10000": round(load10k, 3),
        "vs_bare": round(command / bare, 3),
        "vs_bare_cached": round(cached / bare, 3),
        "vs_eventsourcing": round(command / library, 3),
        "vs_eventsourcing_cached": round(cached / library_cached, 3),
        # The command's SQL alone (``sql_floor_side``): what the schema and the driver reach
        # against the bare insert, and the share of that the whole command keeps.
        "sql_floor_per_s": round(floor, 1),
        "sql_floor_vs_bare": round(floor / bare, 3),
        "vs_sql_floor": round(command / floor, 3),
        # CPU time of one unit in this process: the Python (and the driver's own work) of each
        # side, which the disk's fsync time does not inflate.
        "cpu_us_command": round(measured["command"][1]),
        "cpu_us_bare_insert": round(measured["bare"][1]),
        "cpu_us_sql_floor": round(measured["sql_floor"][1]),
        "cpu_us_eventsourcing": round(measured["library"][1]),
        **latency,
    }


def _latency(url: str, seconds: float) -> dict[str, float]:
    figures: dict[str, float] = {}
    for clients in CLIENTS:
        figures |= measure_latency(url, seconds / 2, clients)
    return figures


def _throughput(sides: dict[str, Side], seconds: float) -> dict[str, tuple[float, float]]:
    try:
        return interleaved(sides, seconds)
    finally:
        for side in sides.values():
            side.close()


def bench_sqlite(seconds: float, repeats: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="eventualshop-bench-") as folder:
        ours = f"sqlite:///{folder}/store.sqlite3"
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": f"{folder}/eventsourcing.sqlite3",
        }
        library_side = eventsourcing_side(env)
        # The library leaves synchronous alone: its connections get the built-in default.
        probe = sqlite3.connect(env["SQLITE_DBNAME"])
        try:
            (synchronous,) = probe.execute("PRAGMA synchronous").fetchone()
        finally:
            probe.close()
        assert synchronous == 2, f"eventsourcing's SQLite would run synchronous={synchronous}"
        rates = _throughput(
            {
                "command": our_side(ours),
                "cached": our_side(ours, cache_size=1000),
                "sql_floor": sql_floor_side(ours),
                "bare": bare_sqlite(f"{folder}/bare.sqlite3"),
                "library": library_side,
                "library_cached": eventsourcing_side(env, cached=True),
            },
            seconds,
        )
        loads = measure_load_ms(ours, (10, 10_000), repeats)
        latency = _latency(ours, seconds)
    return _figures(rates, loads[10], loads[10_000], latency)


def _postgres_database() -> tuple[str, str] | None:
    """Create a fresh bench database; return (SQLAlchemy URL, libpq DSN) or None if unreachable."""
    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {BENCH_DB}")
    except Exception as error:
        print(f"postgresql skipped: {error}", file=sys.stderr)
        return None
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{BENCH_DB}", f"{base}/{BENCH_DB}"


def bench_postgres(seconds: float, repeats: int) -> dict[str, float] | None:
    found = _postgres_database()
    if found is None:
        return None
    url, dsn = found
    from urllib.parse import urlsplit

    parts = urlsplit(dsn)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": parts.path.lstrip("/"),
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": parts.username or "postgres",
        "POSTGRES_PASSWORD": parts.password or "",
    }
    rates = _throughput(
        {
            "command": our_side(url),
            "cached": our_side(url, cache_size=1000),
            "sql_floor": sql_floor_side(url),
            "bare": bare_postgres(dsn),
            "library": eventsourcing_side(env),
            "library_cached": eventsourcing_side(env, cached=True),
        },
        seconds,
    )
    loads = measure_load_ms(url, (10, 10_000), repeats)
    latency = _latency(url, seconds)
    return _figures(rates, loads[10], loads[10_000], latency)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    parser.add_argument("--quick", action="store_true", help="short runs (under 45 s in all)")
    args = parser.parse_args()
    seconds, repeats = (2.0, 15) if args.quick else (10.0, 51)
    result: dict[str, Any] = {"sqlite": bench_sqlite(seconds, repeats)}
    postgres = bench_postgres(seconds, repeats)
    if postgres is not None:
        result["postgresql"] = postgres
    if not args.json:
        for backend, figures in result.items():
            print(backend)
            for key, value in figures.items():
                print(f"  {key:22} {value}")
    print(json.dumps(result, separators=(",", ":")))


if __name__ == "__main__":
    main()

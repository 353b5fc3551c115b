"""Event store benchmark: our command path against a bare insert loop and the `eventsourcing`
library, on the same database in the same run.

    python bench/eventstore.py --json [--quick]

The last line printed is ONE JSON object with a key per backend reached ("sqlite",
"postgresql"). Durability is the same on every side: SQLite in WAL mode with synchronous=FULL
(each commit is fsynced), PostgreSQL with its defaults (synchronous_commit=on).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "shared"))

from eventualshop.adapters.event_store_sql import SqlEventStore
from eventualshop.kernel.aggregate import execute
from eventualshop.kernel.money import Money
from eventualshop.kernel.repository import Repository
from eventualshop.kernel.service import CommandContext
from eventualshop.kernel.values import Product
from eventualshop.shopping_cart import commands as cmd
from eventualshop.shopping_cart.cart import CART
from eventualshop.shopping_cart.service import cart_service

POSTGRES_ADMIN_URL = os.environ.get(
    "EVENTUALSHOP_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BENCH_DB = "eventualshop_bench"
CARTS = 20

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


def measure_commands(url: str, seconds: float) -> float:
    store = SqlEventStore.from_url(url, migrate=True)
    service = cart_service(store)
    carts = _create_carts(service, CARTS)
    done = 0
    quantity = 2
    deadline = time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < deadline:
        for cart_id, item_id in carts:
            outcome = service.handle(
                cmd.ChangeCartItemQuantity(cart_id=cart_id, item_id=item_id, new_quantity=quantity),
                CommandContext(),
            )
            assert outcome.accepted, outcome
            done += 1
        quantity = 1 if quantity == 2 else 2
    elapsed = time.perf_counter() - start
    store.engine.dispose()
    return done / elapsed


def _append_history(store: SqlEventStore, events: int) -> uuid.UUID:
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


def measure_load_ms(url: str, events: int, repeats: int) -> float:
    store = SqlEventStore.from_url(url, migrate=True)
    cart_id = _append_history(store, events)
    repository = Repository(store, CART)
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        cart = repository.load(cart_id)
        timings.append((time.perf_counter() - start) * 1000)
        assert cart is not None
        assert cart.version == events
    store.engine.dispose()
    return statistics.median(timings)


# --------------------------------------------------------------------------- bare insert loop


def bare_sqlite(path: str, seconds: float) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS bare (id INTEGER PRIMARY KEY, payload TEXT)")
    return _loop(seconds, lambda: _sqlite_insert(conn))


def _sqlite_insert(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO bare (payload) VALUES (?)", ('{"bench": true}',))
    conn.execute("COMMIT")


def bare_postgres(dsn: str, seconds: float) -> float:
    import psycopg

    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bare (id BIGSERIAL PRIMARY KEY, payload TEXT)")
        conn.commit()

        def insert() -> None:
            conn.execute("INSERT INTO bare (payload) VALUES (%s)", ('{"bench": true}',))
            conn.commit()

        return _loop(seconds, insert)


def _loop(seconds: float, step: Callable[[], None]) -> float:
    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        step()
        done += 1
    return done / (time.perf_counter() - start)


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

    class Shop(Application):
        snapshotting_intervals = {Cart: 3}

    return Cart, Shop


def eventsourcing_per_s(env: dict[str, str], seconds: float) -> float:
    Cart, Shop = _library_types()  # noqa: N806 - classes
    app = Shop(env=env)
    ids = []
    for _ in range(CARTS):
        cart = Cart(customer_id=str(uuid.uuid4()), currency="USD")
        cart.add_item(str(uuid.uuid4()), PRODUCT.model_dump(), 1, "9.99")
        app.save(cart)
        ids.append((cart.id, next(iter(cart.items))))
    done = 0
    quantity = 2
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for cart_id, item_id in ids:
            cart = app.repository.get(cart_id)
            cart.change_quantity(item_id, quantity)
            app.save(cart)
            done += 1
        quantity = 1 if quantity == 2 else 2
    elapsed = time.perf_counter() - start
    app.close()
    return done / elapsed


# --------------------------------------------------------------------------- backends


def _figures(
    command: float, bare: float, library: float, load10: float, load10k: float
) -> dict[str, float]:
    return {
        "command_per_s": round(command, 1),
        "bare_insert_per_s": round(bare, 1),
        "eventsourcing_per_s": round(library, 1),
        "load_ms_10": round(load10, 3),
        "load_ms_10000": round(load10k, 3),
        "vs_bare": round(command / bare, 3),
        "vs_eventsourcing": round(command / library, 3),
    }


def bench_sqlite(seconds: float, repeats: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="eventualshop-bench-") as folder:
        ours = f"sqlite:///{folder}/store.sqlite3"
        command = measure_commands(ours, seconds)
        load10 = measure_load_ms(ours, 10, repeats)
        load10k = measure_load_ms(ours, 10_000, repeats)
        bare = bare_sqlite(f"{folder}/bare.sqlite3", seconds)
        library = eventsourcing_per_s(
            {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": f"{folder}/eventsourcing.sqlite3",
            },
            seconds,
        )
    return _figures(command, bare, library, load10, load10k)


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
    command = measure_commands(url, seconds)
    load10 = measure_load_ms(url, 10, repeats)
    load10k = measure_load_ms(url, 10_000, repeats)
    bare = bare_postgres(dsn, seconds)
    from urllib.parse import urlsplit

    parts = urlsplit(dsn)
    library = eventsourcing_per_s(
        {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": parts.path.lstrip("/"),
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": parts.username or "postgres",
            "POSTGRES_PASSWORD": parts.password or "",
        },
        seconds,
    )
    return _figures(command, bare, library, load10, load10k)


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

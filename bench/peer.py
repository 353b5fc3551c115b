"""The peer of ``e2e.py``'s core figure: the ``eventsourcing`` library's own end-to-end path.

An ``Application`` with a cart-like aggregate (snapshots every 3 events) on PostgreSQL, and five
``Projection`` + ``ProjectionRunner`` pairs, each writing a view table through a
``PostgresTrackingRecorder`` subclass in the same transaction as its tracking row (the library's
idiom for exactly-once views: ``eventsourcing/projection.py``, ``eventsourcing/postgres.py``).
The five views mirror the cart's five read models: the cart details (changed by every event),
the item list and the item details (changed by item events), and two payment-method views
(changed by no event of this load: they only track, as our projectors only move their cursor).

Clients call the application directly (``repository.get`` -> command method -> ``save``); a
command counts once every view's tracking row has reached its notification (``runner.wait``).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection, ProjectionRunner
from psycopg.sql import SQL, Identifier

PRODUCT = {"description": "A bench item", "name": "Widget", "brand": "Acme", "sku": "W-1"}


class PeerCart(Aggregate):
    @event("Created")
    def __init__(self, customer_id: str, currency: str) -> None:
        self.customer_id = customer_id
        self.currency = currency
        self.items: dict[str, dict[str, Any]] = {}
        self.total = Decimal(0)

    @event("ItemAdded")
    def add_item(self, item_id: str, product: dict[str, str], quantity: int, price: str) -> None:
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


class PeerShop(Application[uuid.UUID]):
    snapshotting_intervals = {PeerCart: 3}


class DocumentView(PostgresTrackingRecorder):
    """One view table (``id``, ``version``, ``body`` jsonb) beside the projection's tracking
    table; every write commits with its tracking row."""

    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.view_table = self.tracking_table_name.replace("_tracking", "_view")
        table = Identifier(self.datastore.schema, self.view_table)
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} "
                "(id text PRIMARY KEY, version bigint NOT NULL, body jsonb NOT NULL)"
            ).format(table)
        )
        self.insert = SQL(
            "INSERT INTO {0} (id, version, body) VALUES (%(id)s, %(version)s, %(body)s) "
            "ON CONFLICT (id) DO NOTHING"
        ).format(table)
        self.patch = SQL(
            "UPDATE {0} SET version = %(version)s, body = body || %(body)s "
            "WHERE id = %(id)s AND version < %(version)s"
        ).format(table)

    def write(self, statement: Any, row: dict[str, Any] | None, tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            if row is not None:
                cursor.execute(statement, {**row, "body": json.dumps(row["body"])}, prepare=True)
            self._insert_tracking(cursor, tracking)

    def count(self) -> int:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(SQL("SELECT count(*) AS n FROM {0}").format(Identifier(self.view_table)))
            found = cursor.fetchone()
            return int(found["n"]) if found else 0


class _Base(Projection[DocumentView]):
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        found = self.change(domain_event)
        if found is None:
            self.view.insert_tracking(tracking)  # the event concerns no document of this view
        else:
            self.view.write(*found, tracking)

    def change(self, domain_event: Any) -> tuple[Any, dict[str, Any]] | None:
        raise NotImplementedError


class PeerCartDetails(_Base):
    def change(self, domain_event: Any) -> tuple[Any, dict[str, Any]] | None:
        cart, version = str(domain_event.originator_id), domain_event.originator_version
        kind = type(domain_event).__name__
        if kind == "Created":
            body = {"cartId": cart, "customerId": domain_event.customer_id, "total": "0"}
            return self.view.insert, {"id": cart, "version": version, "body": body}
        if kind == "ItemAdded":
            body = {"lastItem": domain_event.item_id}
            return self.view.patch, {"id": cart, "version": version, "body": body}
        if kind == "ItemQuantityChanged":
            body = {"total": domain_event.new_cart_total}
            return self.view.patch, {"id": cart, "version": version, "body": body}
        return None


class _Items(_Base):
    def change(self, domain_event: Any) -> tuple[Any, dict[str, Any]] | None:
        cart, version = str(domain_event.originator_id), domain_event.originator_version
        kind = type(domain_event).__name__
        if kind == "ItemAdded":
            body = {
                "cartId": cart,
                "product": domain_event.product,
                "quantity": domain_event.quantity,
                "unitPrice": domain_event.price,
            }
            row_id = f"{cart}:{domain_event.item_id}"
            return self.view.insert, {"id": row_id, "version": version, "body": body}
        if kind == "ItemQuantityChanged":
            row_id = f"{cart}:{domain_event.item_id}"
            body = {"quantity": domain_event.new_quantity}
            return self.view.patch, {"id": row_id, "version": version, "body": body}
        return None


class PeerItemList(_Items):
    pass


class PeerItemDetails(_Items):
    pass


class PeerPaymentMethodList(_Base):
    def change(self, domain_event: Any) -> tuple[Any, dict[str, Any]] | None:
        del domain_event
        return None


class PeerPaymentMethodDetails(PeerPaymentMethodList):
    pass


PROJECTIONS: tuple[type[_Base], ...] = (
    PeerCartDetails,
    PeerItemList,
    PeerItemDetails,
    PeerPaymentMethodList,
    PeerPaymentMethodDetails,
)


def environment(dsn: str) -> dict[str, str]:
    parts = urlsplit(dsn)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": parts.path.lstrip("/"),
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": parts.username or "postgres",
        "POSTGRES_PASSWORD": parts.password or "",
        "POSTGRES_POOL_SIZE": "8",
    }


class PeerShopUnderTest:
    """The application for the clients and the five runners, as the bench drives them."""

    def __init__(self, app: PeerShop, runners: list[ProjectionRunner[Any, Any]]) -> None:
        self.app = app
        self.runners = runners

    def create_cart(self) -> tuple[uuid.UUID, str]:
        cart = PeerCart(customer_id=str(uuid.uuid4()), currency="USD")
        item_id = str(uuid.uuid4())
        cart.add_item(item_id, PRODUCT, 1, "9.99")
        self.app.save(cart)
        return cart.id, item_id

    def change(self, cart_id: uuid.UUID, item_id: str, quantity: int) -> int:
        cart: PeerCart = self.app.repository.get(cart_id)
        cart.change_quantity(item_id, quantity)
        self.app.save(cart)
        return 1  # events raised

    def wait_visible(self, timeout: float) -> float | None:
        """Block until every view tracked the last notification; when, or None on timeout."""
        last = self.app.recorder.max_notification_id()
        deadline = time.perf_counter() + timeout
        for runner in self.runners:
            left = deadline - time.perf_counter()
            if left <= 0:
                return None
            try:
                runner.wait(last, timeout=left)
            except TimeoutError:
                return None
        return time.perf_counter()


@contextmanager
def peer_shop(dsn: str) -> Iterator[PeerShopUnderTest]:
    env = environment(dsn)
    app = PeerShop(env=env)
    with ExitStack() as stack:
        runners = [
            stack.enter_context(
                ProjectionRunner(
                    application_class=PeerShop,
                    projection_class=projection,
                    view_class=DocumentView,
                    env=env,
                )
            )
            for projection in PROJECTIONS
        ]
        try:
            yield PeerShopUnderTest(app, runners)
        finally:
            app.close()


def run_threads(count: int, body: Callable[[int], None]) -> None:
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            body(index)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,), name=f"client-{i}") for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]

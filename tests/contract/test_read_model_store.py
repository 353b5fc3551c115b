"""The read-model store contract: memory, SQLite, PostgreSQL and MongoDB (nx-27017) pass one suite.

Each test gets an empty store of its own: a new SQLite file, a table prefix of its own in the
session's PostgreSQL database, a database of its own on the MongoDB server. ``backend.open()``
opens another store on the same data, standing in for another process (for the in-memory fake,
the same store). Another process may go on using a swapped-out collection for
``swap_settle_seconds`` (MongoDB's alias cache; 0 elsewhere): the MongoDB stores here keep
their aliases for ``MONGO_ALIAS_TTL`` seconds, so that waiting that out stays short.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymongo.monitoring
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from eventualshop.adapters.read_models_mongo import (
    ALIASES,
    TABLE,
    MongoReadModelStore,
    StaleAliases,
)
from eventualshop.adapters.read_models_sql import SqlReadModelStore
from eventualshop.kernel.projection import Projector
from eventualshop.kernel.readmodels import Document, ReadModelStore, Sort
from eventualshop.kernel.readmodels_memory import InMemoryReadModelStore
from eventualshop.kernel.rebuild import rebuild
from eventualshop.runtime.root import open_read_model_store
from eventualshop.shopping_cart import DiscardCart
from eventualshop.shopping_cart.read_models import DETAILS, PROJECTIONS
from tests.unit.shopping_cart.history import (
    ACTIVE,
    CartHistory,
    contents,
    every_kind_of_event,
    project,
    projectors,
)

CARTS = "ShoppingCartDetails"
ITEMS = "CartItemListItem"
#: Short, so the swap tests wait little; long enough that a loaded machine finishes a pinned
#: block within the settle time (2 x the TTL) of the MongoDB wire server.
MONGO_ALIAS_TTL = 0.25


@dataclass
class Backend:
    name: str
    opener: Callable[[], ReadModelStore]
    opened: list[ReadModelStore] = field(default_factory=list)

    def open(self) -> ReadModelStore:
        store = self.opener()
        self.opened.append(store)
        return store


POSTGRESQL = pytest.param("postgresql", marks=pytest.mark.postgres)
MONGODB = pytest.param("mongodb", marks=pytest.mark.mongodb)


@contextmanager
def open_backend(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    cleanup: Callable[[], None] = lambda: None  # noqa: E731
    if kind == "memory":
        shared = InMemoryReadModelStore()
        backend = Backend("memory", lambda: shared)
    elif kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'readmodels.sqlite3'}"
        backend = Backend("sqlite", lambda: SqlReadModelStore.from_url(url))
    elif kind == "postgresql":
        engine: Engine = request.getfixturevalue("postgres_engine")
        prefix = f"t{uuid.uuid4().hex[:8]}_"
        backend = Backend("postgresql", lambda: SqlReadModelStore(engine, prefix=prefix))

        def cleanup() -> None:
            with engine.begin() as connection:
                names = connection.execute(
                    sa.text("SELECT tablename FROM pg_tables WHERE tablename LIKE :p"),
                    {"p": prefix + "%"},
                ).scalars()
                for name in list(names):
                    connection.exec_driver_sql(f'DROP TABLE "{name}"')

    else:
        url = request.getfixturevalue("mongodb_url")
        database = f"readmodels_{uuid.uuid4().hex[:8]}"
        backend = Backend(
            "mongodb",
            lambda: MongoReadModelStore.from_url(
                url, database=database, alias_ttl=MONGO_ALIAS_TTL, serverSelectionTimeoutMS=5000
            ),
        )

        def cleanup() -> None:
            store = MongoReadModelStore.from_url(url, database=database)
            store.database.client.drop_database(database)
            store.close()

    try:
        yield backend
    finally:
        for opened in backend.opened:
            opened.close()
        cleanup()


@pytest.fixture(params=["memory", "sqlite", POSTGRESQL, MONGODB])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Every adapter of the ``ReadModelStore`` port, empty."""
    with open_backend(request.param, request, tmp_path) as opened:
        yield opened


@pytest.fixture
def store(backend: Backend) -> ReadModelStore:
    return backend.open()


def cart(id_: str, version: int, **fields: Any) -> Document:
    return {"id": id_, "version": version, **fields}


def ids(documents: list[Document]) -> list[str]:
    return [d["id"] for d in documents]


def settle(store: ReadModelStore) -> None:
    """Wait until every other store uses what ``store`` swapped in."""
    time.sleep(store.swap_settle_seconds)


class TestUpsertingDocuments:
    def test_an_unknown_id_reads_as_none(self, store: ReadModelStore) -> None:
        assert store.get(CARTS, "nobody") is None

    def test_a_new_document_is_inserted_and_reads_back_with_every_field(
        self, store: ReadModelStore
    ) -> None:
        customer = str(uuid.uuid4())
        document = cart(
            "cart-1",
            1,
            customerId=customer,
            status="Active",
            total="12.50",
            currency="€",
            itemCount=3,
            weight=1.25,
            isDeleted=False,
            note=None,
            name="Zoë 🛒 \"quoted\" 'single'",
            tags=["a", "b"],
        )

        assert store.upsert_if_newer(CARTS, document) is True

        assert store.get(CARTS, "cart-1") == document

    def test_an_equal_or_older_version_is_ignored(self, store: ReadModelStore) -> None:
        store.upsert_if_newer(CARTS, cart("cart-1", 3, status="Active"))

        assert store.upsert_if_newer(CARTS, cart("cart-1", 3, status="Duplicate")) is False
        assert store.upsert_if_newer(CARTS, cart("cart-1", 2, status="Late")) is False
        assert store.get(CARTS, "cart-1") == cart("cart-1", 3, status="Active")

    def test_a_newer_version_replaces_the_whole_document(self, store: ReadModelStore) -> None:
        store.upsert_if_newer(CARTS, cart("cart-1", 1, status="Active", total="1.00"))

        assert store.upsert_if_newer(CARTS, cart("cart-1", 4, status="CheckedOut")) is True
        assert store.get(CARTS, "cart-1") == cart("cart-1", 4, status="CheckedOut")

    def test_collections_keep_their_documents_apart(self, store: ReadModelStore) -> None:
        store.upsert_if_newer(CARTS, cart("same-id", 1, kind="cart"))
        store.upsert_if_newer(ITEMS, cart("same-id", 5, kind="item"))

        assert store.get(CARTS, "same-id") == cart("same-id", 1, kind="cart")
        assert store.get(ITEMS, "same-id") == cart("same-id", 5, kind="item")

    @pytest.mark.parametrize(
        ("document", "error"),
        [
            ({"version": 1}, ValueError),
            ({"id": "x"}, ValueError),
            ({"id": "", "version": 1}, TypeError),
            ({"id": "x", "version": True}, TypeError),
            ({"id": "x", "version": "1"}, TypeError),
            ({"id": "x", "version": 1, "customerId": uuid.uuid4()}, TypeError),
            ({"id": "x", "version": 1, "nested.field": 1}, ValueError),
            ({"id": "x", "version": 1, "_id": "y"}, ValueError),
        ],
    )
    def test_a_document_that_is_not_flat_json_with_an_id_and_version_is_refused(
        self, store: ReadModelStore, document: dict[str, Any], error: type[Exception]
    ) -> None:
        with pytest.raises(error):
            store.upsert_if_newer(CARTS, document)

    def test_an_invalid_collection_name_is_refused(self, store: ReadModelStore) -> None:
        with pytest.raises(ValueError, match="collection name"):
            store.upsert_if_newer("carts; DROP TABLE x", cart("a", 1))


class TestGuardedUpdates:
    def test_the_expected_version_lets_the_update_set_fields_and_bump_the_version(
        self, store: ReadModelStore
    ) -> None:
        store.upsert_if_newer(CARTS, cart("cart-1", 1, status="Active", total="1.00"))

        written = store.update_if_version(
            CARTS, "cart-1", 1, {"total": "3.50", "note": None, "itemCount": 2}, 2
        )

        assert written is True
        assert store.get(CARTS, "cart-1") == cart(
            "cart-1", 2, status="Active", total="3.50", note=None, itemCount=2
        )

    def test_an_update_keeps_the_json_type_of_every_value(self, store: ReadModelStore) -> None:
        """A read model answers what it stored. On nx-27017 (the MongoDB server the tests run)
        a boolean an update set read back as 1 or 0: an activated catalog answered
        ``"isActive": 1`` until a rebuild replaced its document."""
        store.upsert_if_newer(CARTS, cart("cart-1", 1, isActive=False, count=0))

        store.update_if_version(CARTS, "cart-1", 1, {"isActive": True, "other": False}, 2)
        store.update_if_older(CARTS, "cart-1", {"count": 1, "flag": True}, 3)

        found = store.get(CARTS, "cart-1")
        assert found is not None
        kinds = {name: type(found[name]) for name in ("isActive", "other", "count", "flag")}
        assert kinds == {"isActive": bool, "other": bool, "count": int, "flag": bool}
        assert store.find(CARTS, {"isActive": True})[0]["flag"] is True

    def test_a_gap_writes_nothing(self, store: ReadModelStore) -> None:
        store.upsert_if_newer(CARTS, cart("cart-1", 1, total="1.00"))

        assert store.update_if_version(CARTS, "cart-1", 2, {"total": "9.99"}, 3) is False
        assert store.get(CARTS, "cart-1") == cart("cart-1", 1, total="1.00")

    def test_a_redelivered_event_writes_nothing(self, store: ReadModelStore) -> None:
        store.upsert_if_newer(CARTS, cart("cart-1", 1, total="1.00"))
        store.update_if_version(CARTS, "cart-1", 1, {"total": "2.00"}, 2)

        assert store.update_if_version(CARTS, "cart-1", 1, {"total": "2.00"}, 2) is False
        assert store.get(CARTS, "cart-1") == cart("cart-1", 2, total="2.00")

    def test_updating_a_missing_document_creates_nothing(self, store: ReadModelStore) -> None:
        assert store.update_if_version(CARTS, "ghost", 0, {"total": "1.00"}, 1) is False
        assert store.update_if_older(CARTS, "ghost", {"total": "1.00"}, 1) is False
        assert store.get(CARTS, "ghost") is None

    def test_an_update_with_no_changes_still_bumps_the_version(self, store: ReadModelStore) -> None:
        store.upsert_if_newer(CARTS, cart("cart-1", 1, total="1.00"))

        assert store.update_if_version(CARTS, "cart-1", 1, {}, 2) is True
        assert store.get(CARTS, "cart-1") == cart("cart-1", 2, total="1.00")

    def test_update_if_older_applies_any_newer_version_and_ignores_the_rest(
        self, store: ReadModelStore
    ) -> None:
        store.upsert_if_newer(CARTS, cart("cart-1", 2, status="Active"))

        assert store.update_if_older(CARTS, "cart-1", {"status": "Stale"}, 2) is False
        assert store.update_if_older(CARTS, "cart-1", {"status": "CheckedOut"}, 7) is True
        assert store.update_if_older(CARTS, "cart-1", {"status": "Late"}, 5) is False
        assert store.get(CARTS, "cart-1") == cart("cart-1", 7, status="CheckedOut")

    @pytest.mark.parametrize("changes", [{"id": "other"}, {"version": 9}, {"a.b": 1}])
    def test_an_update_cannot_touch_the_id_or_the_version_or_nested_fields(
        self, store: ReadModelStore, changes: dict[str, Any]
    ) -> None:
        store.upsert_if_newer(CARTS, cart("cart-1", 1))

        with pytest.raises(ValueError, match=r"cannot be changed|invalid field"):
            store.update_if_version(CARTS, "cart-1", 1, changes, 2)

    @pytest.mark.parametrize("flag", [None, True], ids=["strings", "with-a-boolean"])
    def test_of_two_concurrent_updates_expecting_one_version_exactly_one_wins(
        self, store: ReadModelStore, flag: bool | None
    ) -> None:
        """With a boolean among the changes, MongoDB's adapter replaces the document instead
        of ``$set`` (nx-27017 reads a ``$set`` boolean back as a number): one still wins."""
        rounds = 20
        for round_ in range(rounds):
            store.upsert_if_newer(CARTS, cart(f"cart-{round_}", 1))
        outcomes: list[tuple[int, str, bool]] = []
        barrier = threading.Barrier(2)

        def update(writer: str) -> None:
            barrier.wait()
            for round_ in range(rounds):
                changes = {"by": writer} if flag is None else {"by": writer, "flag": flag}
                written = store.update_if_version(CARTS, f"cart-{round_}", 1, changes, 2)
                outcomes.append((round_, writer, written))

        run_together(update, ["a", "b"])

        for round_ in range(rounds):
            winners = [w for r, w, written in outcomes if r == round_ and written]
            assert len(winners) == 1
            won = {"by": winners[0]} if flag is None else {"by": winners[0], "flag": flag}
            assert store.get(CARTS, f"cart-{round_}") == cart(f"cart-{round_}", 2, **won)


class TestDeleting:
    def test_delete_removes_one_document_and_says_whether_it_existed(
        self, store: ReadModelStore
    ) -> None:
        store.upsert_if_newer(CARTS, cart("cart-1", 1))
        store.upsert_if_newer(CARTS, cart("cart-2", 1))

        assert store.delete(CARTS, "cart-1") is True
        assert store.delete(CARTS, "cart-1") is False
        assert store.get(CARTS, "cart-1") is None
        assert ids(store.find(CARTS)) == ["cart-2"]

    def test_a_deleted_document_can_be_inserted_again(self, store: ReadModelStore) -> None:
        store.upsert_if_newer(CARTS, cart("cart-1", 5))
        store.delete(CARTS, "cart-1")

        assert store.upsert_if_newer(CARTS, cart("cart-1", 1)) is True

    def test_delete_many_removes_the_matching_documents_and_counts_them(
        self, store: ReadModelStore
    ) -> None:
        for n in range(6):
            store.upsert_if_newer(ITEMS, cart(f"item-{n}", 1, cartId=f"cart-{n % 2}"))

        assert store.delete_many(ITEMS, {"cartId": "cart-0"}) == 3
        assert store.delete_many(ITEMS, {"cartId": "cart-0"}) == 0
        assert ids(store.find(ITEMS)) == ["item-1", "item-3", "item-5"]

    def test_delete_many_with_no_filter_empties_the_collection(self, store: ReadModelStore) -> None:
        store.bulk_upsert(ITEMS, [cart(f"item-{n}", 1) for n in range(4)])

        assert store.delete_many(ITEMS, {}) == 4
        assert store.count(ITEMS) == 0


class TestFinding:
    @pytest.fixture
    def items(self, store: ReadModelStore) -> ReadModelStore:
        store.bulk_upsert(
            ITEMS,
            [
                cart("i1", 1, cartId="c1", product="pen", quantity=2, price="1.50"),
                cart("i2", 3, cartId="c1", product="ink", quantity=10, price="4.00"),
                cart("i3", 1, cartId="c2", product="pen", quantity=9, price="1.50"),
                cart("i4", 2, cartId="c1", product="pad", quantity=2, price="2.25"),
                cart("i5", 1, cartId="c2", product="ink", quantity=1, price="4.00", gift=True),
            ],
        )
        return store

    def test_without_filters_every_document_comes_back_in_id_order(
        self, items: ReadModelStore
    ) -> None:
        assert ids(items.find(ITEMS)) == ["i1", "i2", "i3", "i4", "i5"]
        assert items.count(ITEMS) == 5

    def test_filters_are_equalities_on_every_named_field(self, items: ReadModelStore) -> None:
        assert ids(items.find(ITEMS, {"cartId": "c1"})) == ["i1", "i2", "i4"]
        assert ids(items.find(ITEMS, {"cartId": "c1", "product": "pen"})) == ["i1"]
        assert ids(items.find(ITEMS, {"quantity": 2})) == ["i1", "i4"]
        assert ids(items.find(ITEMS, {"gift": True})) == ["i5"]
        assert items.find(ITEMS, {"cartId": "c3"}) == []
        assert items.count(ITEMS, {"cartId": "c1"}) == 3
        assert items.count(ITEMS, {"product": "ink", "cartId": "c2"}) == 1

    def test_id_and_version_can_be_filtered_on_like_any_field(self, items: ReadModelStore) -> None:
        assert ids(items.find(ITEMS, {"id": "i3"})) == ["i3"]
        assert ids(items.find(ITEMS, {"version": 1})) == ["i1", "i3", "i5"]
        assert items.count(ITEMS, {"version": 2, "cartId": "c1"}) == 1

    def test_a_number_matches_a_number_not_its_text(self, items: ReadModelStore) -> None:
        assert items.find(ITEMS, {"quantity": "2"}) == []
        assert ids(items.find(ITEMS, {"quantity": 2.0})) == ["i1", "i4"]

    def test_none_matches_a_null_or_a_missing_field(self, store: ReadModelStore) -> None:
        store.bulk_upsert(
            ITEMS, [cart("a", 1, note=None), cart("b", 1), cart("c", 1, note="gift wrap")]
        )

        assert ids(store.find(ITEMS, {"note": None})) == ["a", "b"]
        assert store.count(ITEMS, {"note": None}) == 2
        assert store.delete_many(ITEMS, {"note": None}) == 2

    def test_documents_are_sorted_by_the_fields_given_then_by_id(
        self, items: ReadModelStore
    ) -> None:
        assert ids(items.find(ITEMS, sort=[("quantity", "asc")])) == ["i5", "i1", "i4", "i3", "i2"]
        assert ids(items.find(ITEMS, sort=[("quantity", "desc")])) == [
            "i2",
            "i3",
            "i1",
            "i4",
            "i5",
        ]
        assert ids(items.find(ITEMS, sort=[("product", "asc"), ("quantity", "desc")])) == [
            "i2",
            "i5",
            "i4",
            "i3",
            "i1",
        ]
        assert ids(items.find(ITEMS, {"cartId": "c1"}, sort=[("id", "desc")])) == [
            "i4",
            "i2",
            "i1",
        ]
        assert ids(items.find(ITEMS, sort=[("version", "desc")])) == ["i2", "i4", "i1", "i3", "i5"]

    def test_missing_values_sort_first_ascending_and_last_descending(
        self, items: ReadModelStore
    ) -> None:
        assert ids(items.find(ITEMS, {"cartId": "c2"}, sort=[("gift", "asc")])) == ["i3", "i5"]
        assert ids(items.find(ITEMS, {"cartId": "c2"}, sort=[("gift", "desc")])) == ["i5", "i3"]

    def test_limit_and_offset_page_through_the_sorted_documents(
        self, items: ReadModelStore
    ) -> None:
        by_quantity: Sort = [("quantity", "asc")]
        pages = [
            ids(items.find(ITEMS, sort=by_quantity, limit=2, offset=offset))
            for offset in (0, 2, 4, 6)
        ]

        assert pages == [["i5", "i1"], ["i4", "i3"], ["i2"], []]
        assert ids(items.find(ITEMS, limit=0)) == []
        assert ids(items.find(ITEMS, offset=3)) == ["i4", "i5"]
        assert ids(items.find(ITEMS, {"cartId": "c1"}, limit=1, offset=1)) == ["i2"]

    def test_an_unknown_collection_is_empty(self, store: ReadModelStore) -> None:
        assert store.find("NeverWritten") == []
        assert store.count("NeverWritten", {"status": "x"}) == 0
        assert store.get("NeverWritten", "x") is None
        assert store.delete("NeverWritten", "x") is False
        assert store.delete_many("NeverWritten", {}) == 0

    @pytest.mark.parametrize(
        "call",
        [
            lambda s: s.find(ITEMS, {"cartId": ["c1"]}),
            lambda s: s.find(ITEMS, {"cart.id": "c1"}),
            lambda s: s.find(ITEMS, {"x') OR 1=1 --": "c1"}),
            lambda s: s.find(ITEMS, sort=[("quantity", "up")]),
            lambda s: s.find(ITEMS, limit=-1),
            lambda s: s.find(ITEMS, offset=-1),
            lambda s: s.count(ITEMS, {"price": {"$gt": "1"}}),
        ],
    )
    def test_queries_beyond_flat_equality_are_refused(
        self, items: ReadModelStore, call: Callable[[ReadModelStore], object]
    ) -> None:
        with pytest.raises((ValueError, TypeError)):
            call(items)


class TestIndexes:
    def test_ensuring_indexes_twice_changes_nothing_and_queries_answer_the_same(
        self, store: ReadModelStore
    ) -> None:
        store.bulk_upsert(
            ITEMS, [cart(f"i{n}", 1, cartId=f"c{n % 3}", quantity=n) for n in range(30)]
        )
        indexes = [["cartId"], ["cartId", "quantity"], ["id"], ["version"]]

        store.ensure_indexes(ITEMS, indexes)
        store.ensure_indexes(ITEMS, indexes)
        store.ensure_indexes(ITEMS, [["cartId"]])

        found = store.find(ITEMS, {"cartId": "c1"}, sort=[("quantity", "desc")], limit=3)
        assert ids(found) == ["i28", "i25", "i22"]
        assert index_count(store, ITEMS) in (None, 3)

    def test_indexes_can_be_ensured_before_the_first_document(self, store: ReadModelStore) -> None:
        store.ensure_indexes(CARTS, [["customerId"]])

        assert store.find(CARTS, {"customerId": "x"}) == []
        assert store.upsert_if_newer(CARTS, cart("c", 1, customerId="x")) is True
        assert ids(store.find(CARTS, {"customerId": "x"})) == ["c"]

    def test_the_newest_first_look_up_of_the_lag_on_its_index_over_large_numbers(
        self, store: ReadModelStore
    ) -> None:
        # Cursors: event times in microseconds since the epoch, beyond 32 bits.
        moment = 1_715_938_201_000_000
        store.ensure_indexes(CARTS, [["eventTime"]])
        store.bulk_upsert(
            CARTS,
            [
                cart("c1", 1, eventTime=moment + 5),
                cart("c2", 1, eventTime=moment + 1_000_000),
                cart("c3", 1, eventTime=moment + 1_000_000),
                cart("c4", 1, eventTime=moment),
                cart("c5", 1),
            ],
        )
        newest: Sort = [("eventTime", "desc")]

        assert ids(store.find(CARTS, sort=newest, limit=1)) == ["c2"]
        assert ids(store.find(CARTS, sort=newest)) == ["c2", "c3", "c1", "c4", "c5"]
        assert store.get(CARTS, "c2") == cart("c2", 1, eventTime=moment + 1_000_000)

    @pytest.mark.parametrize("indexes", [[[]], ["cartId"], [["cartId", "cartId"]], [["a.b"]]])
    def test_a_malformed_index_is_refused(self, store: ReadModelStore, indexes: list[Any]) -> None:
        with pytest.raises(ValueError, match=r"index|field"):
            store.ensure_indexes(ITEMS, indexes)


class TestBulkUpsert:
    def test_bulk_upsert_writes_new_documents_and_counts_them(self, store: ReadModelStore) -> None:
        documents = [cart(f"cart-{n:05}", 1, n=n) for n in range(12_000)]

        assert store.bulk_upsert(CARTS, documents) == 12_000

        assert store.count(CARTS) == 12_000
        assert store.get(CARTS, "cart-11999") == cart("cart-11999", 1, n=11_999)

    def test_bulk_upsert_keeps_the_newest_version_of_each_id(self, store: ReadModelStore) -> None:
        store.upsert_if_newer(CARTS, cart("a", 5, seen="stored"))
        store.upsert_if_newer(CARTS, cart("b", 1, seen="stored"))

        written = store.bulk_upsert(
            CARTS,
            [
                cart("a", 4, seen="older"),
                cart("b", 3, seen="newer"),
                cart("b", 2, seen="in between"),
                cart("c", 1, seen="first"),
                cart("c", 2, seen="second"),
            ],
        )

        assert written == 2
        assert store.find(CARTS) == [
            cart("a", 5, seen="stored"),
            cart("b", 3, seen="newer"),
            cart("c", 2, seen="second"),
        ]

    def test_bulk_upsert_of_nothing_writes_nothing(self, store: ReadModelStore) -> None:
        assert store.bulk_upsert(CARTS, []) == 0
        assert store.find(CARTS) == []


class TestRebuildAndSwap:
    def test_readers_see_the_live_collection_until_the_swap_and_the_rebuilt_one_after(
        self, backend: Backend, store: ReadModelStore
    ) -> None:
        reader = backend.open()
        store.bulk_upsert(CARTS, [cart("a", 1, status="old"), cart("b", 1, status="old")])
        assert [d["status"] for d in reader.find(CARTS)] == ["old", "old"]

        store.bulk_upsert("CartsRebuild", [cart("a", 2, status="new"), cart("c", 3, status="new")])
        assert reader.find(CARTS) == [cart("a", 1, status="old"), cart("b", 1, status="old")]

        store.swap("CartsRebuild", CARTS)

        assert store.find(CARTS) == [cart("a", 2, status="new"), cart("c", 3, status="new")]
        assert store.find("CartsRebuild") == []
        settle(store)
        assert reader.find(CARTS) == [cart("a", 2, status="new"), cart("c", 3, status="new")]
        assert reader.get(CARTS, "b") is None
        assert reader.find("CartsRebuild") == []
        assert reader.count("CartsRebuild") == 0

    def test_writes_after_the_swap_land_in_the_rebuilt_collection(
        self, backend: Backend, store: ReadModelStore
    ) -> None:
        projector = backend.open()
        projector.upsert_if_newer(CARTS, cart("a", 1, status="old"))
        store.upsert_if_newer("CartsRebuild", cart("a", 5, status="rebuilt"))

        store.swap("CartsRebuild", CARTS)
        settle(store)

        assert projector.update_if_version(CARTS, "a", 5, {"status": "live"}, 6) is True
        assert projector.upsert_if_newer(CARTS, cart("b", 1, status="live")) is True
        assert store.find(CARTS) == [cart("a", 6, status="live"), cart("b", 1, status="live")]
        assert store.find("CartsRebuild") == []

    def test_a_collection_can_be_rebuilt_and_swapped_again_and_again(
        self, backend: Backend, store: ReadModelStore
    ) -> None:
        reader = backend.open()
        store.upsert_if_newer(CARTS, cart("a", 1, generation=0))
        for generation in range(1, 4):
            store.ensure_indexes("CartsRebuild", [["generation"]])
            store.bulk_upsert("CartsRebuild", [cart("a", 1, generation=generation)])
            store.swap("CartsRebuild", CARTS)
            settle(store)

            assert reader.find(CARTS) == [cart("a", 1, generation=generation)]
            assert reader.find(CARTS, {"generation": generation}) == [
                cart("a", 1, generation=generation)
            ]
            assert reader.find("CartsRebuild") == []
        store.ensure_indexes(CARTS, [["generation"]])
        assert index_count(store, CARTS) in (None, 1)

    def test_the_rebuilt_collection_brings_its_indexes_along(self, store: ReadModelStore) -> None:
        store.upsert_if_newer(CARTS, cart("a", 1, customerId="x"))
        store.ensure_indexes("CartsRebuild", [["customerId"], ["status", "customerId"]])
        store.upsert_if_newer("CartsRebuild", cart("a", 2, customerId="y", status="s"))

        store.swap("CartsRebuild", CARTS)
        store.ensure_indexes(CARTS, [["customerId"], ["status", "customerId"]])

        assert index_count(store, CARTS) in (None, 2)
        assert index_count(store, "CartsRebuild") in (None, 0)
        assert ids(store.find(CARTS, {"customerId": "y", "status": "s"})) == ["a"]

    def test_swapping_in_an_empty_collection_empties_the_live_one(
        self, store: ReadModelStore
    ) -> None:
        store.upsert_if_newer(CARTS, cart("a", 1))

        store.swap("NeverWritten", CARTS)

        assert store.find(CARTS) == []
        assert store.upsert_if_newer(CARTS, cart("a", 1)) is True

    def test_a_collection_cannot_be_swapped_with_itself(self, store: ReadModelStore) -> None:
        with pytest.raises(ValueError, match="swap"):
            store.swap(CARTS, CARTS)

    def test_a_reader_polling_during_the_swap_always_sees_a_whole_collection(
        self, backend: Backend, store: ReadModelStore
    ) -> None:
        reader = backend.open()
        size = 50
        store.bulk_upsert(CARTS, [cart(f"c{n:03}", 1, generation="old") for n in range(size)])
        store.bulk_upsert(
            "CartsRebuild", [cart(f"c{n:03}", 2, generation="new") for n in range(size)]
        )
        seen: list[set[str]] = []
        errors: list[BaseException] = []
        stop = threading.Event()

        def poll() -> None:
            try:
                while not stop.is_set():
                    found = reader.find(CARTS)
                    assert len(found) == size
                    seen.append({d["generation"] for d in found})
            except BaseException as error:
                errors.append(error)

        poller = threading.Thread(target=poll)
        poller.start()
        try:
            while not seen and poller.is_alive():
                threading.Event().wait(0.001)
            store.swap("CartsRebuild", CARTS)
            settle(store)
            polled = len(seen)
            while len(seen) < polled + 3 and poller.is_alive():
                threading.Event().wait(0.001)
        finally:
            stop.set()
            poller.join()

        assert errors == []
        assert seen[0] == {"old"}
        assert seen[-1] == {"new"}
        assert all(len(generations) == 1 for generations in seen)

    def test_drop_removes_the_documents_and_the_collection_starts_anew(
        self, backend: Backend, store: ReadModelStore
    ) -> None:
        other = backend.open()
        store.upsert_if_newer(CARTS, cart("a", 7))
        other.upsert_if_newer(CARTS, cart("b", 1))
        store.ensure_indexes(CARTS, [["status"]])

        store.drop(CARTS)

        assert store.find(CARTS) == []
        assert other.get(CARTS, "a") is None
        assert other.upsert_if_newer(CARTS, cart("a", 1)) is True
        assert ids(store.find(CARTS)) == ["a"]
        store.drop("NeverWritten")

    def test_swap_many_swaps_every_pair_as_one(
        self, backend: Backend, store: ReadModelStore
    ) -> None:
        reader = backend.open()
        store.bulk_upsert(CARTS, [cart("a", 1, generation="old")])
        store.bulk_upsert(ITEMS, [cart("i", 1, generation="old")])
        store.bulk_upsert("CartsRebuild", [cart("a", 2, generation="new")])
        store.bulk_upsert("ItemsRebuild", [cart("i", 2, generation="new")])

        store.swap_many([("CartsRebuild", CARTS), ("ItemsRebuild", ITEMS)])
        settle(store)

        for seen_by in (store, reader):
            assert seen_by.find(CARTS) == [cart("a", 2, generation="new")]
            assert seen_by.find(ITEMS) == [cart("i", 2, generation="new")]
            assert seen_by.find("CartsRebuild") == seen_by.find("ItemsRebuild") == []

    @pytest.mark.parametrize(
        "pairs",
        [
            [(CARTS, CARTS)],
            [("CartsRebuild", CARTS), ("CartsRebuild", ITEMS)],
            [("CartsRebuild", CARTS), (CARTS, ITEMS)],
            [("bad name", CARTS)],
        ],
    )
    def test_swap_many_refuses_a_name_twice_and_changes_nothing(
        self, store: ReadModelStore, pairs: list[tuple[str, str]]
    ) -> None:
        store.upsert_if_newer(CARTS, cart("a", 1))

        with pytest.raises(ValueError, match=r"swap|twice|collection name"):
            store.swap_many(pairs)

        assert store.find(CARTS) == [cart("a", 1)]

    def test_a_store_that_resolved_the_names_before_a_swap_writes_live_once_it_settled(
        self, backend: Backend, store: ReadModelStore
    ) -> None:
        other = backend.open()
        other.upsert_if_newer(CARTS, cart("a", 1, by="before"))  # the names are resolved now
        store.bulk_upsert("CartsRebuild", [cart("a", 2, by="rebuild")])

        started = time.monotonic()
        store.swap("CartsRebuild", CARTS)
        assert store.get(CARTS, "a") == cart("a", 2, by="rebuild")  # the swapper: at once
        settle(store)

        assert time.monotonic() - started >= store.swap_settle_seconds
        assert other.upsert_if_newer(CARTS, cart("b", 1, by="other")) is True
        assert other.update_if_version(CARTS, "a", 2, {"by": "other"}, 3) is True
        assert store.find(CARTS) == [cart("a", 3, by="other"), cart("b", 1, by="other")]
        with other.pinned():
            assert other.find(CARTS) == store.find(CARTS)


class TestConcurrentWriters:
    def test_concurrent_upserts_of_one_id_end_with_the_highest_version(
        self, backend: Backend, store: ReadModelStore
    ) -> None:
        writers = [store, backend.open()]
        documents = 10
        versions = list(range(1, 21))
        shuffled = [random.sample(versions, len(versions)) for _ in range(documents)]
        barrier = threading.Barrier(2)

        def write(index: int) -> None:
            writer = writers[index]
            barrier.wait()
            for n in range(documents):
                for version in shuffled[n][index::2]:
                    writer.upsert_if_newer(CARTS, cart(f"cart-{n}", version, by=index))

        run_together(write, [0, 1])

        assert [d["version"] for d in store.find(CARTS)] == [20] * documents

    def test_two_writers_inserting_the_same_new_id_is_not_an_error(
        self, backend: Backend, store: ReadModelStore
    ) -> None:
        writers = [store, backend.open()]
        rounds = 30
        results: list[tuple[int, int, bool]] = []
        barrier = threading.Barrier(2)

        def insert(index: int) -> None:
            writer = writers[index]
            barrier.wait()
            for n in range(rounds):
                written = writer.upsert_if_newer(CARTS, cart(f"new-{n}", 1 + index, by=index))
                results.append((n, index, written))

        run_together(insert, [0, 1])

        for n in range(rounds):
            assert store.get(CARTS, f"new-{n}") == cart(f"new-{n}", 2, by=1)
            assert (n, 1, True) in results


# --- what each adapter promises beyond the contract -----------------------------------------------


@pytest.fixture(params=["sqlite", POSTGRESQL])
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlReadModelStore]:
    with open_backend(request.param, request, tmp_path) as opened:
        store = opened.open()
        assert isinstance(store, SqlReadModelStore)
        yield store


@pytest.fixture
def mongo_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MongoReadModelStore]:
    with open_backend("mongodb", request, tmp_path) as opened:
        store = opened.open()
        assert isinstance(store, MongoReadModelStore)
        yield store


@pytest.mark.postgres
def test_a_swap_that_deadlocks_with_a_projectors_transaction_runs_again_after_it(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The projector holds the cursors and then wants the documents; the swap holds the
    documents and wants the cursors. PostgreSQL fails one of the two after deadlock_timeout."""
    with open_backend("postgresql", request, tmp_path) as opened:
        store = opened.open()
        assert isinstance(store, SqlReadModelStore)
        cursors = "ShoppingCartDetails_cursors"
        for name in (CARTS, cursors, "fresh_docs", "fresh_cursors"):
            store.upsert_if_newer(name, cart("c1", 1))
        swap_waits = threading.Event()
        projector_reads = threading.Event()
        outcome: list[object] = []

        def projector() -> None:
            with store.pinned():
                store.get(cursors, "c1")
                projector_reads.set()
                swap_waits.wait(30)
                store.update_if_older(CARTS, "c1", {"total": 2}, 2)
            outcome.append("projector committed")

        def waiting_locks() -> int:
            with store.engine.connect() as connection:
                query = (
                    "SELECT count(*) FROM pg_locks WHERE NOT granted AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                )
                return int(connection.exec_driver_sql(query).scalar_one())

        thread = threading.Thread(target=projector)
        thread.start()
        # The swap starts once the projector holds the cursors: started together on a busy
        # machine, the swap could run through before the projector's read, and the projector then
        # wrote into the fresh generation (this test failed that way in a full run).
        assert projector_reads.wait(30)
        try:
            swapper = threading.Thread(
                target=lambda: outcome.append(
                    store.swap_many([("fresh_docs", CARTS), ("fresh_cursors", cursors)])
                )
            )
            swapper.start()
            while waiting_locks() == 0 and swapper.is_alive():
                time.sleep(0.01)  # until the swap waits for the projector's lock
        finally:
            swap_waits.set()
            thread.join(30)
        swapper.join(30)

        assert sorted(map(str, outcome)) == ["None", "projector committed"]
        assert store.get(CARTS, "c1") == cart("c1", 1)  # the fresh generation, swapped in


@pytest.mark.postgres
def test_a_nul_character_in_a_document_is_stored_as_a_replacement_on_postgresql(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """jsonb holds no NUL character: a document of an event stored before the HTTP edge
    refused NUL failed its projection for good (``DataError: unsupported Unicode escape``)."""
    with open_backend("postgresql", request, tmp_path) as opened:
        store = opened.open()
        document = {"id": "c1", "version": 1, "name": "Key\x00board", "tags": ["\x00"]}
        store.upsert_if_newer(CARTS, document)
        store.update_if_older(CARTS, "c1", {"note": "a\x00b"}, 2)

        stored = store.get(CARTS, "c1")
        assert stored is not None
        assert (stored["name"], stored["tags"], stored["note"]) == (
            "Key\ufffdboard",
            ["\ufffd"],
            "a\ufffdb",
        )
        # A backslash and "u0000" typed as text are text, kept as they came.
        store.upsert_if_newer(CARTS, {"id": "c2", "version": 1, "name": "\\u0000"})
        assert store.get(CARTS, "c2") == {"id": "c2", "version": 1, "name": "\\u0000"}


class TestSqlDocuments:
    def test_a_pinned_block_is_one_transaction_so_a_failure_writes_nothing(
        self, sql_store: SqlReadModelStore
    ) -> None:
        sql_store.upsert_if_newer(CARTS, cart("c1", 1, total=1))

        seen: list[Document | None] = []

        def half_way() -> None:
            with sql_store.pinned():
                sql_store.upsert_if_newer(CARTS, cart("cursor", 2))
                sql_store.update_if_older(CARTS, "c1", {"total": 2}, 2)
                seen.append(sql_store.get(CARTS, "c1"))  # its own writes
                raise RuntimeError("the projection failed half-way")

        with pytest.raises(RuntimeError):
            half_way()

        assert seen == [cart("c1", 2, total=2)]

        # A projector's cursor never moves without its documents, nor documents without it.
        assert sql_store.get(CARTS, "cursor") is None
        assert sql_store.get(CARTS, "c1") == cart("c1", 1, total=1)

    def test_a_pinned_block_commits_its_writes_together_and_nested_blocks_join_it(
        self, sql_store: SqlReadModelStore
    ) -> None:
        commits: list[object] = []
        sa.event.listen(sql_store.engine, "commit", commits.append)

        with sql_store.pinned():
            sql_store.get(CARTS, "c1")  # a collection nobody wrote yet reads as empty
            sql_store.upsert_if_newer(CARTS, cart("c1", 1))
            with sql_store.pinned():
                sql_store.bulk_upsert(CARTS, [cart("c2", 1), cart("c3", 1)])
            sql_store.update_if_older(CARTS, "c1", {"total": 3}, 2)

        assert len(commits) == 1
        assert ids(sql_store.find(CARTS)) == ["c1", "c2", "c3"]
        assert sql_store.get(CARTS, "c1") == cart("c1", 2, total=3)

    @pytest.mark.parametrize(
        ("filters", "sort"),
        [
            ({"cartId": "c7"}, None),
            ({"customerId": "u3", "status": "Active"}, None),
            ({"quantity": None}, None),
            ({}, [("quantity", "asc")]),
            ({}, [("quantity", "desc")]),
        ],
    )
    def test_queries_on_indexed_fields_use_the_expression_indexes(
        self,
        sql_store: SqlReadModelStore,
        filters: dict[str, Any],
        sort: list[tuple[str, Any]] | None,
    ) -> None:
        sql_store.ensure_indexes(ITEMS, [["cartId"], ["customerId", "status"], ["quantity"]])
        sql_store.bulk_upsert(
            ITEMS,
            [
                cart(f"i{n:04}", 1, cartId=f"c{n % 97}", customerId=f"u{n % 11}", status="Active")
                | ({"quantity": n % 5} if n % 13 else {})
                for n in range(2_000)
            ],
        )

        # A first page of a sorted query walks the index; a filter reads all of its matches.
        limit = 5 if sort else None

        plan = query_plan(sql_store, lambda: sql_store.find(ITEMS, filters, sort=sort, limit=limit))

        assert "rmx_" in plan, plan

    def test_documents_live_in_one_table_per_collection_with_the_body_as_json(
        self, sql_store: SqlReadModelStore
    ) -> None:
        sql_store.upsert_if_newer(CARTS, cart("a", 3, total="1.00"))
        table = sql_store._collection(CARTS).table_name

        with sql_store.engine.connect() as connection:
            row = connection.execute(sa.text(f"SELECT id, version, body FROM {table}")).one()

        assert table.endswith("shoppingcartdetails")
        assert (row.id, row.version) == ("a", 3)
        body = row.body if isinstance(row.body, dict) else json.loads(row.body)
        assert body == {"total": "1.00"}


class TestMongoDocuments:
    def test_documents_are_keyed_by_underscore_id(self, mongo_store: MongoReadModelStore) -> None:
        mongo_store.upsert_if_newer(CARTS, cart("a", 3, total="1.00"))

        raw = mongo_store.database[CARTS].find_one({"_id": "a"})

        assert raw == {"_id": "a", "version": 3, "total": "1.00"}

    def test_a_reader_that_resolved_the_live_collection_before_a_swap_still_reads_it_whole(
        self, mongo_store: MongoReadModelStore
    ) -> None:
        mongo_store.bulk_upsert(CARTS, [cart("a", 1, generation="old")])
        resolved_before = mongo_store._physical(CARTS)
        mongo_store.bulk_upsert("CartsRebuild", [cart("a", 2, generation="new")])

        mongo_store.swap("CartsRebuild", CARTS)

        assert list(mongo_store.database[resolved_before].find()) == [
            {"_id": "a", "version": 1, "generation": "old"}
        ]
        assert mongo_store.find(CARTS) == [cart("a", 2, generation="new")]

    def test_repeated_rebuilds_keep_only_the_live_and_the_last_retired_collection(
        self, mongo_store: MongoReadModelStore
    ) -> None:
        mongo_store.upsert_if_newer(CARTS, cart("a", 1))
        for generation in range(5):
            mongo_store.upsert_if_newer("CartsRebuild", cart("a", 1, generation=generation))
            mongo_store.swap("CartsRebuild", CARTS)

        names = set(mongo_store.database.list_collection_names()) - {ALIASES}
        table = mongo_store.database[ALIASES].find_one({"_id": TABLE})

        assert table is not None
        alias = table["names"][CARTS]
        assert names <= {alias["target"], alias["retired"]}
        assert table["seq"] == 5

        mongo_store.drop(CARTS)

        assert set(mongo_store.database.list_collection_names()) - {ALIASES} == set()

    def test_aliases_are_read_once_per_ttl_whatever_the_number_of_operations(
        self, request: pytest.FixtureRequest
    ) -> None:
        url = request.getfixturevalue("mongodb_url")
        database = f"readmodels_{uuid.uuid4().hex[:8]}"
        listener = AliasReads()
        store = MongoReadModelStore.from_url(
            url, database=database, alias_ttl=0.5, event_listeners=[listener]
        )
        try:
            store.swap("CartsRebuild", CARTS)  # some aliases to read
            time.sleep(0.5)
            listener.reads = 0

            started, operations = time.monotonic(), 0
            while time.monotonic() - started < 1.2:
                store.upsert_if_newer(CARTS, cart(f"c{operations}", 1))
                store.get(CARTS, f"c{operations}")
                store.find(ITEMS, {"cartId": "x"})
                operations += 3
            elapsed = time.monotonic() - started

            assert 2 <= listener.reads <= elapsed / 0.5 + 1
            assert operations > 10 * listener.reads
        finally:
            store.database.client.drop_database(database)
            store.close()

    def test_another_store_uses_the_old_collection_until_its_aliases_expire(
        self, mongo_store: MongoReadModelStore
    ) -> None:
        other = MongoReadModelStore(mongo_store.database, alias_ttl=0.5)
        mongo_store.upsert_if_newer(CARTS, cart("a", 1, generation="old"))
        assert other.get(CARTS, "a") == cart("a", 1, generation="old")  # resolved now
        mongo_store.bulk_upsert("CartsRebuild", [cart("a", 2, generation="new")])

        mongo_store.swap("CartsRebuild", CARTS)

        assert mongo_store.get(CARTS, "a") == cart("a", 2, generation="new")
        # The other store still writes to the collection swapped out: lost for the live one.
        assert other.upsert_if_newer(CARTS, cart("late", 1)) is True
        assert other.get(CARTS, "a") == cart("a", 1, generation="old")
        assert mongo_store.get(CARTS, "late") is None
        time.sleep(0.5)
        assert other.get(CARTS, "a") == cart("a", 2, generation="new")
        assert other.swap_settle_seconds == 1.0

    def test_a_pinned_block_keeps_one_generation_and_refuses_once_too_old(
        self, mongo_store: MongoReadModelStore
    ) -> None:
        other = MongoReadModelStore(mongo_store.database, alias_ttl=0.2)
        mongo_store.bulk_upsert(CARTS, [cart("a", 1, generation="old")])
        mongo_store.bulk_upsert(ITEMS, [cart("i", 1, generation="old")])
        mongo_store.bulk_upsert("CartsRebuild", [cart("a", 2, generation="new")])
        mongo_store.bulk_upsert("ItemsRebuild", [cart("i", 2, generation="new")])

        with other.pinned():
            assert other.get(CARTS, "a") == cart("a", 1, generation="old")
            mongo_store.swap_many([("CartsRebuild", CARTS), ("ItemsRebuild", ITEMS)])
            time.sleep(0.25)  # past the TTL: outside the block, the names would be read again
            with other.pinned():  # nested blocks share the outer one's names
                assert other.get(ITEMS, "i") == cart("i", 1, generation="old")
            time.sleep(0.2)  # past the settle time
            with pytest.raises(StaleAliases):
                other.get(ITEMS, "i")

        assert other.get(ITEMS, "i") == cart("i", 2, generation="new")
        assert other.get(CARTS, "a") == cart("a", 2, generation="new")

    def test_aliases_of_the_former_one_document_per_name_layout_are_still_followed(
        self, mongo_store: MongoReadModelStore
    ) -> None:
        mongo_store.database["Legacy"].insert_one({"_id": "a", "version": 1, "from": "legacy"})
        mongo_store.database[ALIASES].insert_one({"_id": CARTS, "target": "Legacy"})
        fresh = MongoReadModelStore(mongo_store.database)

        assert fresh.get(CARTS, "a") == cart("a", 1, **{"from": "legacy"})

        fresh.upsert_if_newer("CartsRebuild", cart("a", 2))
        fresh.swap("CartsRebuild", CARTS)

        assert fresh.find(CARTS) == [cart("a", 2)]
        table = fresh.database[ALIASES].find_one({"_id": TABLE})
        assert table is not None
        assert table["names"][CARTS] == {"target": "CartsRebuild", "retired": "Legacy"}

    def test_concurrent_swaps_of_different_names_all_take_effect(
        self, mongo_store: MongoReadModelStore
    ) -> None:
        stores = [MongoReadModelStore(mongo_store.database) for _ in range(4)]
        for n, each in enumerate(stores):
            each.upsert_if_newer(f"Fresh{n}", cart("a", 1, n=n))
        barrier = threading.Barrier(len(stores))

        def swap(n: int) -> None:
            barrier.wait()
            stores[n].swap(f"Fresh{n}", f"Live{n}")

        run_together(swap, list(range(len(stores))))

        for n in range(len(stores)):
            assert mongo_store.physical_name(f"Live{n}") == f"Fresh{n}"
            assert mongo_store.find(f"Live{n}") == [cart("a", 1, n=n)]

    def test_a_rebuild_catches_up_after_the_settle_time_what_stale_projectors_lost(
        self, mongo_store: MongoReadModelStore
    ) -> None:
        # Two processes with the default TTL: the rebuilding one, and one whose projectors go on
        # delivering events with the names they resolved before the swap.
        rebuilding = MongoReadModelStore(mongo_store.database)
        elsewhere = MongoReadModelStore(mongo_store.database)
        history = CartHistory()
        every_kind_of_event(history)
        project(history.events, rebuilding)
        stale = projectors(elsewhere)
        for projector in stale:  # its names are resolved now
            assert projector.handle(history.events[-1]) == "duplicate"
        before_swap = elsewhere._physical(DETAILS)
        waited: list[float] = []

        def settle(seconds: float) -> None:
            # The swap is done; the shop goes on, and the broker delivers the new events to the
            # process that still writes to the collections swapped out.
            assert rebuilding._physical(DETAILS) != before_swap
            assert elsewhere._physical(DETAILS) == before_swap
            for event in history.run(DiscardCart(cart_id=ACTIVE)):
                assert [p.handle(event) for p in stale] == ["applied"] * len(stale)
            waited.append(seconds)
            time.sleep(seconds)

        rebuild(history.store, history.repository.decode, rebuilding, PROJECTIONS, sleep=settle)

        assert waited == [rebuilding.swap_settle_seconds] == [2.0]
        assert contents(rebuilding) == contents(project(history.events))
        shown = rebuilding.get(DETAILS, str(ACTIVE))
        assert shown is not None
        assert (shown["status"], shown["isDeleted"]) == ("Abandoned", True)
        # And the process that was behind writes live again.
        assert elsewhere._physical(DETAILS) == rebuilding._physical(DETAILS)
        assert Projector(elsewhere, PROJECTIONS[0]).handle(history.events[-1]) == "duplicate"


class AliasReads(pymongo.monitoring.CommandListener):
    """A pymongo command listener counting the reads of the alias collection."""

    def __init__(self) -> None:
        self.reads = 0

    def started(self, event: Any) -> None:
        if event.command_name == "find" and event.command.get("find") == ALIASES:
            self.reads += 1

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass


def test_open_read_model_store_picks_the_adapter_from_the_url(tmp_path: Path) -> None:
    assert isinstance(open_read_model_store("memory:"), InMemoryReadModelStore)
    sql = open_read_model_store(f"sqlite:///{tmp_path / 'rm.sqlite3'}")
    try:
        assert isinstance(sql, SqlReadModelStore)
        assert sql.upsert_if_newer(CARTS, cart("a", 1)) is True
    finally:
        sql.close()
    mongo = open_read_model_store("mongodb://127.0.0.1:1/shop?serverSelectionTimeoutMS=1")
    assert isinstance(mongo, MongoReadModelStore)
    assert mongo.database.name == "shop"
    mongo.close()


# --- helpers -------------------------------------------------------------------------------------


def run_together(target: Callable[[Any], None], arguments: list[Any]) -> None:
    errors: list[BaseException] = []

    def guarded(argument: Any) -> None:
        try:
            target(argument)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(a,)) for a in arguments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def query_plan(store: SqlReadModelStore, query: Callable[[], object]) -> str:
    """The database's plan for the (last) SELECT that ``query`` runs, as one string."""
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, parameters))

    sa.event.listen(store.engine, "before_cursor_execute", capture)
    try:
        query()
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", capture)
    statement, parameters = captured[-1]
    with store.engine.connect() as connection:
        if store.engine.dialect.name == "postgresql":
            connection.exec_driver_sql("ANALYZE")
            connection.exec_driver_sql("SET enable_seqscan = off")  # 2,000 rows: it would scan
            rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters).all()
        else:
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    return "\n".join(str(row[-1]) for row in rows)


def index_count(store: ReadModelStore, collection: str) -> int | None:
    """How many secondary indexes back ``collection`` (``None`` for the fake, which has none)."""
    if isinstance(store, SqlReadModelStore):
        table = store._collection(collection).table_name
        inspector = sa.inspect(store.engine)
        if not inspector.has_table(table):
            return 0
        if store.engine.dialect.name == "sqlite":
            query = "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = :t"
            query += " AND name LIKE 'rmx%'"
        else:
            query = "SELECT count(*) FROM pg_indexes WHERE tablename = :t AND indexname LIKE 'rmx%'"
        with store.engine.connect() as connection:
            return int(connection.execute(sa.text(query), {"t": table}).scalar_one())
    if isinstance(store, MongoReadModelStore):
        physical = store._physical(collection)
        if physical not in store.database.list_collection_names():
            return 0
        return len(store.database[physical].index_information()) - 1  # without _id
    return None


def test_the_driver_lookup_finds_what_the_store_holds_and_nothing_in_a_collection_never_written(
    sql_store: SqlReadModelStore,
) -> None:
    """``adapters.read_models_driver``: the revocation check of every request with a token."""
    from eventualshop.adapters.read_models_driver import DriverDocumentLookup
    from eventualshop.adapters.sql_driver import DriverUrl

    url = DriverUrl.parse(sql_store.engine.url.render_as_string(hide_password=False))
    assert url is not None
    lookup = DriverDocumentLookup(url, prefix=sql_store.prefix)
    try:
        assert lookup.exists("NeverWritten", "c1") is False
        assert lookup.exists("NeverWritten", "c1") is False  # the connection is still good
        sql_store.upsert_if_newer(CARTS, cart("c1", 1))

        assert lookup.exists(CARTS, "c1") is True
        assert lookup.exists(CARTS, "c2") is False
        assert lookup.exists(CARTS, "c1'; DROP TABLE x; --") is False  # bound, not spliced
        with pytest.raises(ValueError, match="invalid collection name"):
            lookup.exists('x" OR 1=1 --', "c1")
        sql_store.delete(CARTS, "c1")
        assert lookup.exists(CARTS, "c1") is False
    finally:
        lookup.close()


def test_the_sqlite_store_keeps_a_connection_per_thread_of_a_busy_server(tmp_path: Path) -> None:
    """16 threads each holding a connection at once, twice: the second round opens none (each
    new one sets up WAL and pragmas on the request that opens it)."""
    store = SqlReadModelStore.from_url(f"sqlite:///{tmp_path / 'rm.sqlite3'}")
    opened: list[object] = []
    sa.event.listen(store.engine, "connect", lambda connection, _record: opened.append(connection))

    def round_of_readers() -> int:
        together = threading.Barrier(16, timeout=10)
        failures: list[BaseException] = []

        def read() -> None:
            try:
                with store.engine.connect() as held:  # as 16 server threads' reads at once
                    assert held.exec_driver_sql("SELECT 1").scalar() == 1
                    together.wait()
            except BaseException as error:  # reported below, not lost in the thread
                failures.append(error)

        threads = [threading.Thread(target=read) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        return len(opened)

    try:
        assert round_of_readers() == 16
        assert round_of_readers() == 16, "connections were opened again"
    finally:
        store.close()


def test_the_driver_lookup_on_a_sqlite_file_nobody_wrote_answers_without_creating_it(
    tmp_path: Path,
) -> None:
    """A command function's first request with a token asks whether its user was revoked
    before any read model exists: the answer is no, and the question leaves no database behind
    (creating it cost the first request a WAL switch and its fsyncs)."""
    from eventualshop.adapters.read_models_driver import open_document_lookup

    file = tmp_path / "readmodels.sqlite3"
    lookup = open_document_lookup(f"sqlite:///{file}")
    assert lookup is not None
    try:
        assert lookup.exists("RevokedUsers", "u1") is False
        assert not file.exists()
        store = SqlReadModelStore.from_url(f"sqlite:///{file}")
        try:
            store.upsert_if_newer(CARTS, cart("c1", 1))
            assert lookup.exists(CARTS, "c1") is True  # once written, the file is read
        finally:
            store.close()
    finally:
        lookup.close()

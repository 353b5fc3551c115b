"""Use cases of the Catalog and Warehouse read models, on every read-model store adapter
(memory, SQLite, PostgreSQL, the MongoDB wire-protocol server): given the events real commands
raise, when the projectors handle them in order, then what the queries answer.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from eventualshop.catalog import queries as catalog_queries
from eventualshop.catalog.catalog import CATALOG
from eventualshop.catalog.commands import (
    ActivateCatalog,
    ChangeCatalogDescription,
    ChangeCatalogTitle,
    DeactivateCatalog,
    DeleteCatalog,
    RemoveCatalogItem,
)
from eventualshop.catalog.read_models import PROJECTIONS as CATALOG_PROJECTIONS
from eventualshop.kernel.paging import Paging
from eventualshop.kernel.readmodels import ReadModelStore
from eventualshop.warehouse import queries as warehouse_queries
from eventualshop.warehouse.commands import (
    DecreaseInventoryAdjust,
    IncreaseInventoryAdjust,
    ReserveInventoryItem,
)
from eventualshop.warehouse.inventory import INVENTORY
from eventualshop.warehouse.read_models import PROJECTIONS as WAREHOUSE_PROJECTIONS
from tests.contract.test_read_model_store import backend, store  # noqa: F401 (fixtures)
from tests.unit.catalog.examples import (
    CATALOG_ID,
    ITEM_ID,
    KEYBOARD,
    MOUSE,
    OTHER_CATALOG_ID,
    OTHER_ITEM_ID,
    add_item,
    create,
)
from tests.unit.recorded import History, project
from tests.unit.warehouse import examples as stock

PAGE = Paging(limit=100)


def items(found: Any) -> list[dict[str, Any]]:
    return list(found.to_json()["items"])


def catalogs(read_models: ReadModelStore, *commands: Any) -> ReadModelStore:
    history = History(CATALOG)
    history.run(*commands)
    return project(read_models, CATALOG_PROJECTIONS, history.events)


class TestCatalogReadModels:
    def test_the_grid_shows_title_and_description_changes_and_activation(
        self,
        store: ReadModelStore,  # noqa: F811
    ) -> None:
        catalogs(
            store,
            create(),
            add_item(),
            ChangeCatalogTitle(catalog_id=CATALOG_ID, title="Winter"),
            ChangeCatalogDescription(catalog_id=CATALOG_ID, description="Cold deals"),
            ActivateCatalog(catalog_id=CATALOG_ID),
        )
        grid = items(catalog_queries.list_catalogs(store, PAGE))
        assert [(g["title"], g["description"], g["isActive"], g["itemCount"]) for g in grid] == [
            ("Winter", "Cold deals", True, 1)
        ]
        assert catalog_queries.get_catalog(store, CATALOG_ID) == grid[0]

    def test_a_deleted_catalog_leaves_the_grid_and_takes_its_items_cards_and_details(
        self,
        store: ReadModelStore,  # noqa: F811
    ) -> None:
        catalogs(
            store,
            create(),
            add_item(),
            ActivateCatalog(catalog_id=CATALOG_ID),
            DeleteCatalog(catalog_id=CATALOG_ID),
        )
        assert items(catalog_queries.list_catalogs(store, PAGE)) == []
        assert catalog_queries.get_catalog(store, CATALOG_ID) is None
        assert items(catalog_queries.list_catalog_items(store, CATALOG_ID, PAGE)) == []
        assert items(catalog_queries.list_catalog_item_cards(store, CATALOG_ID, PAGE)) == []
        assert items(catalog_queries.list_storefront_items(store, PAGE)) == []
        assert catalog_queries.get_catalog_item_details(store, CATALOG_ID, ITEM_ID) is None

    def test_a_removed_item_leaves_the_list_the_cards_and_the_details(
        self,
        store: ReadModelStore,  # noqa: F811
    ) -> None:
        catalogs(
            store,
            create(),
            add_item(KEYBOARD),
            add_item(MOUSE, item_id=OTHER_ITEM_ID),
            RemoveCatalogItem(catalog_id=CATALOG_ID, item_id=ITEM_ID),
        )
        listed = items(catalog_queries.list_catalog_items(store, CATALOG_ID, PAGE))
        cards = items(catalog_queries.list_catalog_item_cards(store, CATALOG_ID, PAGE))
        assert [i["itemId"] for i in listed] == [str(OTHER_ITEM_ID)]
        assert [c["itemId"] for c in cards] == [str(OTHER_ITEM_ID)]
        assert catalog_queries.get_catalog_item_details(store, CATALOG_ID, ITEM_ID) is None
        details = catalog_queries.get_catalog_item_details(store, CATALOG_ID, OTHER_ITEM_ID)
        assert details is not None
        assert (details["productName"], details["unitPrice"]) == (
            "Mouse",
            {"amount": "10.00", "currency": "USD"},
        )

    def test_an_increased_item_shows_its_new_quantity(
        self,
        store: ReadModelStore,  # noqa: F811
    ) -> None:
        catalogs(store, create(), add_item(quantity=3), add_item(quantity=4, item_id=OTHER_ITEM_ID))
        details = catalog_queries.get_catalog_item_details(store, CATALOG_ID, ITEM_ID)
        assert details is not None
        assert details["quantity"] == 7

    def test_the_storefront_lists_the_cards_of_active_catalogs_only(
        self,
        store: ReadModelStore,  # noqa: F811
    ) -> None:
        catalogs(
            store,
            create(),
            add_item(KEYBOARD),
            ActivateCatalog(catalog_id=CATALOG_ID),
            add_item(MOUSE, item_id=OTHER_ITEM_ID),  # added while active: shown at once
            create(OTHER_CATALOG_ID),
            add_item(KEYBOARD, catalog_id=OTHER_CATALOG_ID),  # never activated
        )
        shown = items(catalog_queries.list_storefront_items(store, PAGE))
        assert [(c["catalogId"], c["product"]["name"]) for c in shown] == [
            (str(CATALOG_ID), "Keyboard"),
            (str(CATALOG_ID), "Mouse"),
        ]

    def test_a_deactivated_catalog_leaves_the_storefront(
        self,
        store: ReadModelStore,  # noqa: F811
    ) -> None:
        catalogs(
            store,
            create(),
            add_item(),
            ActivateCatalog(catalog_id=CATALOG_ID),
            DeactivateCatalog(catalog_id=CATALOG_ID),
        )
        assert items(catalog_queries.list_storefront_items(store, PAGE)) == []
        assert len(items(catalog_queries.list_catalog_item_cards(store, CATALOG_ID, PAGE))) == 1

    def test_the_listing_pages(self, store: ReadModelStore) -> None:  # noqa: F811
        catalogs(store, create(), add_item(KEYBOARD), add_item(MOUSE, item_id=OTHER_ITEM_ID))
        first = catalog_queries.list_catalog_items(store, CATALOG_ID, Paging(limit=1)).to_json()
        second = catalog_queries.list_catalog_items(
            store, CATALOG_ID, Paging(limit=1, offset=1)
        ).to_json()
        assert [i["productName"] for i in first["items"]] == ["Keyboard"]
        assert first["page"]["hasNext"]
        assert [i["productName"] for i in second["items"]] == ["Mouse"]
        assert not second["page"]["hasNext"]


def inventories(read_models: ReadModelStore, *commands: Any) -> ReadModelStore:
    history = History(INVENTORY)
    history.run(*commands)
    return project(read_models, WAREHOUSE_PROJECTIONS, history.events)


def adjust(kind: Any, quantity: int) -> Any:
    return kind(
        inventory_id=stock.INVENTORY_ID, item_id=stock.ITEM_ID, quantity=quantity, reason="count"
    )


class TestWarehouseReadModels:
    def test_the_grid_lists_inventories_with_their_owner_and_item_count(
        self,
        store: ReadModelStore,  # noqa: F811
    ) -> None:
        inventories(store, stock.create(), stock.receive())
        grid = items(warehouse_queries.list_inventories(store, PAGE))
        assert [(g["inventoryId"], g["ownerId"], g["totalItems"]) for g in grid] == [
            (str(stock.INVENTORY_ID), str(stock.OWNER_ID), 1)
        ]

    def test_items_keep_running_quantities_through_receipts_adjustments_and_reservations(
        self,
        store: ReadModelStore,  # noqa: F811
    ) -> None:
        inventories(
            store,
            stock.create(),
            stock.receive(quantity=5),
            stock.receive(quantity=2, cost="100.0", item_id=stock.OTHER_ITEM_ID),  # 7
            adjust(IncreaseInventoryAdjust, 3),  # 10
            adjust(DecreaseInventoryAdjust, 4),  # 6
            ReserveInventoryItem(
                inventory_id=stock.INVENTORY_ID,
                catalog_id=stock.CATALOG_ID,
                cart_id=stock.CART_ID,
                product=stock.PHONE,
                quantity=2,
            ),
            adjust(DecreaseInventoryAdjust, 5),  # refused: only 4 available
        )
        listed = items(warehouse_queries.list_inventory_items(store, stock.INVENTORY_ID, PAGE))
        assert [
            (i["sku"], i["quantity"], i["reserved"], i["available"], Decimal(i["cost"]))
            for i in listed
        ] == [("APPHUN1", 6, 2, 4, Decimal(100))]

"""Every Catalog and Warehouse route over HTTP, commands in and read models out through the
broker, once per setup, each a whole shop served on a real port:

* ``embedded``: the defaults (SQLite files in a temporary folder, the in-process broker);
* ``postgres-rabbitmq-mongodb``: the session's PostgreSQL database, RabbitMQ (an exchange of
  this module's own) and the MongoDB wire-protocol server (a database of this module's own).

Queries are polled until they show what the commands did (the read side is eventually
consistent), never waited for with a fixed sleep.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.broker.conftest import rabbitmq_url  # noqa: F401 (a fixture, re-used)

from .support import (
    SETUPS,
    ServedShop,
    eventually,
    problem,
    served_setup,
    usd,
)

CATALOGS = "/api/v1/catalogs"
WAREHOUSES = "/api/v1/warehouses"
PHONE = {
    "description": "A phone",
    "name": "Phone",
    "brand": "Apple",
    "category": "Phones",
    "unit": "Unit",
    "sku": "IP-1",
}


@pytest.fixture(scope="module", params=SETUPS)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedShop]:
    with served_setup(request, tmp_path_factory, "catalog") as shop:
        yield shop


def new_catalog(served: ServedShop, title: str = "Summer") -> str:
    catalog = str(uuid.uuid4())
    body = {"catalogId": catalog, "title": title, "description": "Hot deals"}
    answer = served.http.request("POST", CATALOGS, body)
    assert answer.status == 202, answer
    assert answer.json["aggregateId"] == catalog
    assert answer.json["events"] == ["CatalogCreated"]
    return catalog


def item_body(name: str = "Phone", price: str = "10.00", quantity: int = 3) -> dict[str, Any]:
    goods = PHONE | {"name": name, "sku": f"SKU-{name}"}
    return {
        "inventoryId": str(uuid.uuid4()),
        "product": goods,
        "unitPrice": usd(price),
        "sku": goods["sku"],
        "quantity": quantity,
    }


def listed(served: ServedShop, path: str, **query: Any) -> list[dict[str, Any]]:
    answer = served.http.get(path, **query)
    assert answer.status == 200, answer
    found: list[dict[str, Any]] = answer.json["items"]
    return found


class TestCatalogRoutes:
    def test_a_catalog_is_created_changed_filled_activated_and_listed(
        self, served: ServedShop
    ) -> None:
        http = served.http
        catalog = new_catalog(served)
        here = f"{CATALOGS}/{catalog}"
        http.command("PUT", f"{here}/title", title="Winter")
        http.command("PUT", f"{here}/description", description="Cold deals")
        added = http.command("POST", f"{here}/items", item_body())
        assert added["events"] == ["CatalogItemAdded"]
        activated = http.request("PUT", f"{here}/activate")
        assert activated.status == 202, activated
        assert activated.json["version"] == 5

        def grid() -> dict[str, Any]:
            found = [g for g in listed(served, CATALOGS, limit=100) if g["catalogId"] == catalog]
            assert [(g["title"], g["description"], g["isActive"]) for g in found] == [
                ("Winter", "Cold deals", True)
            ]
            return found[0]

        shown = eventually(grid)
        assert shown in listed(served, f"{CATALOGS}/grid-items", limit=100)
        assert http.get(here).json == shown

        def item() -> dict[str, Any]:
            found = listed(served, f"{here}/items/list-items")
            assert [i["productName"] for i in found] == ["Phone"]
            return found[0]

        item_id = eventually(item)["itemId"]
        cards = eventually(lambda: _one(listed(served, f"{here}/items/cards")))
        assert cards["unitPrice"] == usd("10.00")

        def details() -> None:  # another projector than the list's: it may lag behind
            answer = http.get(f"{here}/items/{item_id}/details")
            assert answer.status == 200, answer
            assert answer.json["quantity"] == 3

        eventually(details)

        def storefront() -> None:
            shop_window = listed(served, f"{CATALOGS}/items", limit=100)
            assert item_id in [c["itemId"] for c in shop_window]

        eventually(storefront)

    def test_removing_an_item_and_deleting_the_catalog_empty_every_read_model(
        self, served: ServedShop
    ) -> None:
        http = served.http
        catalog = new_catalog(served)
        here = f"{CATALOGS}/{catalog}"
        http.command("POST", f"{here}/items", item_body("Phone"))
        http.command("POST", f"{here}/items", item_body("Case"))
        http.command("PUT", f"{here}/activate")
        items = eventually(lambda: _count(listed(served, f"{here}/items/list-items"), 2))
        phone = next(i["itemId"] for i in items if i["productName"] == "Phone")
        http.command("DELETE", f"{here}/items/{phone}")
        eventually(lambda: _count(listed(served, f"{here}/items/cards"), 1))

        def no_details() -> None:  # another projector: it may lag behind the cards'
            assert http.get(f"{here}/items/{phone}/details").status == 404

        eventually(no_details)
        http.command("DELETE", here)

        def gone() -> None:
            assert http.get(here).status == 404
            assert listed(served, f"{here}/items/list-items") == []
            assert listed(served, f"{here}/items/cards") == []
            window = listed(served, f"{CATALOGS}/items", limit=100)
            assert catalog not in [c["catalogId"] for c in window]

        eventually(gone)

    def test_prices_read_as_plain_amounts_however_the_client_wrote_them(
        self, served: ServedShop
    ) -> None:
        http = served.http
        catalog = new_catalog(served)
        here = f"{CATALOGS}/{catalog}"
        for name, price in (("Phone", "1E+2"), ("Case", "10.00000000"), ("Pen", "0.5")):
            http.command("POST", f"{here}/items", item_body(name, price=price))

        def prices() -> None:
            cards = _count(listed(served, f"{here}/items/cards"), 3)
            shown = {c["product"]["name"]: c["unitPrice"]["amount"] for c in cards}
            assert shown == {"Phone": "100.00", "Case": "10.00", "Pen": "0.50"}

        eventually(prices)

    def test_the_catalog_rejections_answer_409_with_their_code(self, served: ServedShop) -> None:
        http = served.http
        catalog = new_catalog(served)
        here = f"{CATALOGS}/{catalog}"
        again = {"catalogId": catalog, "title": "Again", "description": "Again"}
        assert problem(http.request("POST", CATALOGS, again), 409)["code"] == "already-exists"
        assert problem(http.request("PUT", f"{here}/activate"), 409)["code"] == (
            "catalog-has-no-items"
        )
        assert problem(http.request("PUT", f"{here}/deactivate"), 409)["code"] == (
            "catalog-not-active"
        )
        unknown = f"{here}/items/{uuid.uuid4()}"
        assert problem(http.request("DELETE", unknown), 409)["code"] == "item-not-found"
        http.command("DELETE", here)
        deleted = http.request("PUT", f"{here}/title", query={"title": "Late"})
        assert problem(deleted, 409)["code"] == "catalog-deleted"
        assert problem(http.request("DELETE", here), 409)["code"] == "catalog-deleted"
        assert http.request("PUT", f"{CATALOGS}/{uuid.uuid4()}/activate").status == 404

    def test_bad_input_is_a_400_naming_the_field(self, served: ServedShop) -> None:
        http = served.http
        catalog = new_catalog(served)
        here = f"{CATALOGS}/{catalog}"
        empty = {"catalogId": str(uuid.uuid4()), "title": "", "description": "x"}
        problem(http.request("POST", CATALOGS, empty), 400, field="title")
        problem(http.request("PUT", f"{here}/title"), 400, field="title")
        problem(http.request("PUT", f"{here}/description", query={"description": " "}), 400)
        # Escapes that are not UTF-8 were kept as the text "%FF%FE" (werkzeug's reading).
        undecodable = http.request("PUT", f"{here}/title?title=%ff%fe")
        problem(undecodable, 400, field="title")
        assert http.request("PUT", f"{here}/title?title=Caf%C3%A9+Noir%25").status == 202
        nul = {"description": "a\u0000b"}
        problem(http.request("PUT", f"{here}/description", query=nul), 400, field="description")
        problem(http.request("POST", f"{here}/items", item_body(quantity=0)), 400, field="quantity")
        problem(http.request("DELETE", f"{here}/items/{catalog}"), 400, field="itemId")
        own_id = item_body() | {"itemId": catalog}  # could never be removed (the line above)
        problem(http.request("POST", f"{here}/items", own_id), 400, field="itemId")
        problem(http.request("DELETE", f"{CATALOGS}/not-a-uuid"), 400, field="catalogId")
        problem(http.get(CATALOGS, limit=0), 400, field="limit")
        problem(http.get(f"{CATALOGS}/items", offset=-1), 400, field="offset")

    def test_a_query_field_in_the_body_is_a_400_unless_it_repeats_the_query(
        self, served: ServedShop
    ) -> None:
        """The title is a query parameter (the API document gives the operation no body): the
        body's was taken without one, and dropped for the query's with one, each a 202."""
        http = served.http
        here = f"{CATALOGS}/{new_catalog(served)}"
        alone = http.request("PUT", f"{here}/title", {"title": "from-body"})
        assert "query parameter title" in problem(alone, 400, field="title")["errors"]["title"][0]
        other = http.request("PUT", f"{here}/title", {"title": "x"}, query={"title": "q"})
        problem(other, 400, field="title")
        same = http.request("PUT", f"{here}/title", {"title": "q"}, query={"title": "q"})
        assert same.status == 202, same

        def title() -> None:
            assert http.get(here).json["title"] == "q"

        eventually(title)


def _one(found: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(found) == 1, found
    return found[0]


def _count(found: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    assert len(found) == count, found
    return found


class TestWarehouseRoutes:
    def test_an_inventory_is_created_stocked_adjusted_and_listed(self, served: ServedShop) -> None:
        http = served.http
        owner = str(uuid.uuid4())
        created = http.request("POST", WAREHOUSES, query={"ownerId": owner})
        assert created.status == 202, created
        inventory = created.json["aggregateId"]
        here = f"{WAREHOUSES}/{inventory}"
        assert created.json["events"] == ["InventoryCreated"]
        assert http.answers[-1].status == 202
        received = http.command("POST", f"{here}/items", PHONE, cost="100.50", quantity=5)
        assert received["events"] == ["InventoryItemReceived"]
        again = http.command("POST", f"{here}/items", PHONE, cost="100.5", quantity=2)
        assert again["events"] == ["InventoryItemIncreased"]
        short = PHONE | {"name": "Case", "brand": "A"}
        http.command("POST", f"{here}/items", short, cost="5E+0", quantity=1)

        def items() -> list[dict[str, Any]]:
            return _count(listed(served, f"{here}/items"), 2)

        phone = next(i for i in eventually(items) if i["product"]["name"] == "Phone")
        item = f"{here}/items/{phone['itemId']}"
        http.command("PUT", f"{item}/increase-adjust", quantity=3, reason="found")
        http.command("PUT", f"{item}/decrease-adjust", quantity=4, reason="broken")
        refused = http.command("PUT", f"{item}/decrease-adjust", quantity=100, reason="lost")
        assert refused["events"] == ["InventoryAdjustmentNotDecreased"]

        def running() -> None:
            found = {i["product"]["name"]: i for i in listed(served, f"{here}/items")}
            assert (found["Phone"]["quantity"], found["Phone"]["available"]) == (6, 6)
            assert (found["Phone"]["sku"], found["Case"]["sku"]) == ("APPHUN1", "AXPHUN1")
            # Costs read as plain amounts, however the client wrote them.
            assert (found["Phone"]["cost"], found["Case"]["cost"]) == ("100.50", "5.00")

        eventually(running)

        def grid() -> None:
            found = [
                g for g in listed(served, WAREHOUSES, limit=100) if g["inventoryId"] == inventory
            ]
            assert [(g["ownerId"], g["totalItems"]) for g in found] == [(owner, 2)]

        eventually(grid)

    def test_the_created_inventory_is_where_location_points(self, served: ServedShop) -> None:
        owner = str(uuid.uuid4())
        http = served.http
        created = http.request("POST", WAREHOUSES, query={"ownerId": owner})
        assert created.status == 202, created
        inventory = created.json["aggregateId"]
        assert uuid.UUID(inventory)
        assert http.get(f"{WAREHOUSES}/{inventory}/items").status == 200  # row 50: never a 500

    def test_bad_input_is_a_400_naming_the_field_and_unknown_items_a_409(
        self, served: ServedShop
    ) -> None:
        http = served.http
        problem(http.request("POST", WAREHOUSES), 400, field="ownerId")
        inventory = http.command("POST", WAREHOUSES, ownerId=str(uuid.uuid4()))["aggregateId"]
        here = f"{WAREHOUSES}/{inventory}"
        # Decimal read "1_000" as 1000 and an Arabic-Indic 3 (%D9%A3) as 3, and 1.005 was
        # taken, finer than the cents a cost is shown in: money a client sends refuses all three.
        for cost in ("0", "-1", "abc", "NaN", "1_000", "\u0663", "1.005"):
            answer = http.request(
                "POST", f"{here}/items", PHONE, query={"cost": cost, "quantity": 1}
            )
            problem(answer, 400, field="cost")
        no_brand = PHONE | {"brand": ""}
        problem(
            http.request("POST", f"{here}/items", no_brand, query={"cost": 1, "quantity": 1}),
            400,
            field="product.brand",
        )
        # The NUL character is named where the command's validation names the field: the body
        # is the product (it said "name").
        nul_name = PHONE | {"name": "a\u0000b"}
        problem(
            http.request("POST", f"{here}/items", nul_name, query={"cost": 1, "quantity": 1}),
            400,
            field="product.name",
        )
        item = f"{here}/items/{uuid.uuid4()}"
        problem(
            http.request("PUT", f"{item}/increase-adjust", query={"quantity": 1}),
            400,
            field="reason",
        )
        missing = http.request(
            "PUT", f"{item}/increase-adjust", query={"quantity": 1, "reason": "x"}
        )
        assert problem(missing, 409)["code"] == "item-not-found"
        problem(http.get(f"{WAREHOUSES}/not-a-uuid/items"), 400, field="inventoryId")


class TestApiV2Rows:
    """Rows 8 and 48 of the original also answer under ``/api/v2``, as their v1 rows do."""

    def test_the_v2_catalog_grid_answers_as_the_v1_grid(self, served: ServedShop) -> None:
        catalog = new_catalog(served, title="Versioned")

        def both() -> None:
            v1 = listed(served, f"{CATALOGS}/grid-items", limit=100, offset=0)
            v2 = listed(served, "/api/v2/catalogs/grid-items", limit=100, offset=0)
            assert catalog in [g["catalogId"] for g in v2]
            assert v2 == v1

        eventually(both)
        problem(served.http.get("/api/v2/catalogs/grid-items", limit=0), 400, field="limit")

    def test_the_v2_inventory_grid_answers_as_the_v1_grid(self, served: ServedShop) -> None:
        owner = str(uuid.uuid4())
        inventory = served.http.command("POST", WAREHOUSES, ownerId=owner)["aggregateId"]

        def both() -> None:
            v1 = listed(served, WAREHOUSES, limit=100)
            v2 = listed(served, "/api/v2/warehouses", limit=100)
            assert inventory in [g["inventoryId"] for g in v2]
            assert v2 == v1

        eventually(both)
        problem(served.http.get("/api/v2/warehouses", offset=-1), 400, field="offset")

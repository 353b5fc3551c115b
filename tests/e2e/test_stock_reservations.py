"""Stock reservations end to end (reference §6.1 R10): cart items hold stock in the Warehouse,
through the broker, once per setup (the embedded shop; PostgreSQL + RabbitMQ + the MongoDB
wire-protocol server).

Two carts compete for the last units of one inventory item; whatever the order in which their
events are delivered, the inventory never holds more than it has, and every unit comes back
once the carts let go of it.
"""

from __future__ import annotations

import uuid
from typing import Any

from .support import ServedShop, eventually, usd
from .test_catalog_warehouse_http import PHONE, WAREHOUSES, listed, served  # noqa: F401

CARTS = "/api/v1/shopping-carts"


def stocked(served: ServedShop, quantity: int) -> str:  # noqa: F811
    http = served.http
    inventory: str = http.command("POST", WAREHOUSES, ownerId=str(uuid.uuid4()))["aggregateId"]
    http.command("POST", f"{WAREHOUSES}/{inventory}/items", PHONE, cost="100", quantity=quantity)
    return inventory


def cart_with(served: ServedShop, inventory: str, quantity: int) -> tuple[str, str]:  # noqa: F811
    http = served.http
    cart = http.command("POST", CARTS, {"customerId": str(uuid.uuid4()), "currency": "USD"})
    cart_id: str = cart["aggregateId"]
    item = str(uuid.uuid4())
    body = {
        "itemId": item,
        "catalogId": str(uuid.uuid4()),
        "inventoryId": inventory,
        "product": PHONE,
        "quantity": quantity,
        "unitPrice": usd("10.00"),
    }
    http.command("POST", f"{CARTS}/{cart_id}/items", body)
    return cart_id, item


def stock_of(served: ServedShop, inventory: str) -> dict[str, Any]:  # noqa: F811
    items = listed(served, f"{WAREHOUSES}/{inventory}/items")
    assert len(items) == 1, items
    return items[0]


def held(served: ServedShop, inventory: str, reserved: int) -> None:  # noqa: F811
    def check() -> None:
        item = stock_of(served, inventory)
        assert (item["reserved"], item["available"]) == (reserved, item["quantity"] - reserved)

    eventually(check)


def test_a_cart_item_holds_its_quantity_and_lets_go_when_removed(
    served: ServedShop,  # noqa: F811
) -> None:
    inventory = stocked(served, 5)
    cart, item = cart_with(served, inventory, 2)
    held(served, inventory, 2)
    served.http.command("PUT", f"{CARTS}/{cart}/items/{item}/change-quantity", quantity=4)
    held(served, inventory, 4)
    served.http.command("PUT", f"{CARTS}/{cart}/items/{item}/change-quantity", quantity=1)
    held(served, inventory, 1)
    served.http.command("DELETE", f"{CARTS}/{cart}/items/{item}")
    held(served, inventory, 0)


def test_two_carts_compete_for_the_last_units_and_every_unit_comes_back_on_discard(
    served: ServedShop,  # noqa: F811
) -> None:
    inventory = stocked(served, 3)
    first, _ = cart_with(served, inventory, 2)
    second, _ = cart_with(served, inventory, 2)

    def one_of_them_holds_two() -> None:
        item = stock_of(served, inventory)
        assert item["reserved"] == 2, item  # never 4: the second cannot have both last units
        assert item["available"] == 1

    eventually(one_of_them_holds_two)
    for cart in (first, second):
        served.http.command("DELETE", f"{CARTS}/{cart}")
    held(served, inventory, 0)

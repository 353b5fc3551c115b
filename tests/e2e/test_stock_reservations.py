"""Stock reservations end to end (reference §6.1 R10): cart items hold stock in the Warehouse,
through the broker, once per setup (the embedded shop; PostgreSQL + RabbitMQ + the MongoDB
wire-protocol server).

Two carts compete for the last units of one inventory item; whatever the order in which their
events are delivered, the inventory never holds more than it has, and every unit comes back
once the carts let go of it (``LETTING_GO``: each way a cart gives its stock back). Each cart
item shows the Warehouse's answer (``availability``) in the cart's own read models.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

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


def availability(served: ServedShop, cart: str, item: str, expected: str) -> None:  # noqa: F811
    """The item shows ``expected`` in the cart's item list and in its details."""

    def check() -> None:
        items = listed(served, f"{CARTS}/{cart}/items/list-item", limit=10)
        assert [(i["itemId"], i["availability"]) for i in items] == [(item, expected)]
        details = served.http.get(f"{CARTS}/{cart}/items/{item}/details")
        assert details.status == 200, details
        assert details.json["availability"] == expected

    eventually(check)


def test_each_cart_item_shows_whether_the_warehouse_holds_it(
    served: ServedShop,  # noqa: F811
) -> None:
    http = served.http
    inventory = stocked(served, 3)
    first, first_item = cart_with(served, inventory, 2)
    availability(served, first, first_item, "reserved")
    held(served, inventory, 2)
    second, second_item = cart_with(served, inventory, 2)  # one unit is left for it
    availability(served, second, second_item, "not-reserved")
    third, third_item = cart_with(served, inventory, 1)
    availability(served, third, third_item, "reserved")
    held(served, inventory, 3)
    fourth, fourth_item = cart_with(served, inventory, 1)  # nothing is left
    availability(served, fourth, fourth_item, "out-of-stock")

    http.command("DELETE", f"{CARTS}/{first}")
    held(served, inventory, 1)
    # The second cart asks again (a change of quantity) and now gets what it asks for.
    http.command("PUT", f"{CARTS}/{second}/items/{second_item}/change-quantity", quantity=1)
    availability(served, second, second_item, "reserved")
    held(served, inventory, 2)
    for cart in (second, third, fourth):
        http.command("DELETE", f"{CARTS}/{cart}")
    held(served, inventory, 0)


def test_stock_received_at_another_cost_is_held_and_a_hold_moves_to_it_whole(
    served: ServedShop,  # noqa: F811
) -> None:
    """Stock of one product received at two costs is two items; a cart is held on one of them,
    whichever has room for all it asks."""
    http = served.http
    inventory = stocked(served, 1)
    http.command("POST", f"{WAREHOUSES}/{inventory}/items", PHONE, cost="120", quantity=3)

    def held_by_cost(expected: dict[str, int]) -> None:
        def check() -> None:
            items = listed(served, f"{WAREHOUSES}/{inventory}/items")
            shown = {i["cost"]: (i["reserved"], i["available"]) for i in items}
            quantities = {i["cost"]: i["quantity"] for i in items}
            assert shown == {c: (r, quantities[c] - r) for c, r in expected.items()}, items

        eventually(check)

    first, first_item = cart_with(served, inventory, 1)
    availability(served, first, first_item, "reserved")
    second, second_item = cart_with(served, inventory, 1)  # the unit at 100 is taken
    availability(served, second, second_item, "reserved")
    held_by_cost({"100.00": 1, "120.00": 1})
    # The first cart now asks for two: its item at 100 has one, so its hold moves to 120.
    http.command("PUT", f"{CARTS}/{first}/items/{first_item}/change-quantity", quantity=2)
    held_by_cost({"100.00": 0, "120.00": 3})
    availability(served, first, first_item, "reserved")
    discard(served, first)
    discard(served, second)
    held_by_cost({"100.00": 0, "120.00": 0})


def discard(served: ServedShop, cart: str) -> None:  # noqa: F811
    served.http.command("DELETE", f"{CARTS}/{cart}")


#: How a cart gives back what it holds, by name: each is run by the competition below.
LETTING_GO: dict[str, Callable[[ServedShop, str], None]] = {"discard": discard}


@pytest.mark.parametrize("let_go", sorted(LETTING_GO))
def test_two_carts_compete_for_the_last_units_and_every_unit_comes_back(
    served: ServedShop,  # noqa: F811
    let_go: str,
) -> None:
    inventory = stocked(served, 3)
    (first, first_item), (second, second_item) = (
        cart_with(served, inventory, 2),
        cart_with(served, inventory, 2),
    )
    answers: dict[str, str] = {}

    def one_of_them_holds_two() -> None:
        item = stock_of(served, inventory)
        assert item["reserved"] <= item["quantity"], item  # checked at every poll
        assert item["reserved"] == 2, item  # never 4: the second cannot have both last units
        assert item["available"] == 1
        for cart, cart_item in ((first, first_item), (second, second_item)):
            details = served.http.get(f"{CARTS}/{cart}/items/{cart_item}/details")
            answers[cart] = details.json["availability"] if details.status == 200 else "missing"
        # Exactly one cart got the units; the other was told there are too few.
        assert sorted(answers.values()) == ["not-reserved", "reserved"], answers

    eventually(one_of_them_holds_two)
    for cart in (first, second):
        LETTING_GO[let_go](served, cart)

    def every_unit_is_back() -> None:
        item = stock_of(served, inventory)
        assert (item["reserved"], item["available"]) == (0, item["quantity"]), item

    eventually(every_unit_is_back)

"""The cart items' availability on every read-model store adapter (memory, SQLite, PostgreSQL,
the MongoDB wire-protocol server): given two carts competing for scarce stock and the Warehouse's
real answers, when they are projected (in order, then late and duplicated), then what the item
queries show."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventualshop.kernel.paging import Paging
from eventualshop.kernel.readmodels import ReadModelStore
from eventualshop.shopping_cart import ChangeCartItemQuantity, DiscardCart
from eventualshop.shopping_cart.queries import get_cart_item_details, list_cart_items
from tests.contract.test_read_model_store import backend, store  # noqa: F401 (fixtures)
from tests.unit.shopping_cart.availability import Shop, availability_documents
from tests.unit.shopping_cart.examples import (
    CART_ID,
    ITEM_ID,
    KEYBOARD,
    MOUSE,
    OTHER_ITEM_ID,
    add_item,
)

OTHER_CART_ID = UUID("0c000000-0000-4000-8000-00000000ca02")


def shown(read_models: ReadModelStore, cart: UUID) -> dict[str, str]:
    found = list_cart_items(read_models, cart, Paging(limit=10))
    items: list[dict[str, Any]] = found.to_json()["items"]
    return {item["productName"]: item["availability"] for item in items}


def competing_carts() -> Shop:
    """The other cart takes both keyboards; this cart gets none, asks too many mice, then the
    other cart is discarded and this cart's keyboard is asked for again."""
    shop = Shop({KEYBOARD: 2, MOUSE: 1}, carts=(OTHER_CART_ID, CART_ID))
    shop.cart(add_item(KEYBOARD, 2).model_copy(update={"cart_id": OTHER_CART_ID}))
    shop.cart(add_item(KEYBOARD, 1), add_item(MOUSE, 2, item_id=OTHER_ITEM_ID))
    return shop


def test_each_item_shows_the_warehouses_answer(store: ReadModelStore) -> None:  # noqa: F811
    shop = competing_carts()

    shop.read_models(store)

    assert shown(store, CART_ID) == {"Keyboard": "out-of-stock", "Mouse": "not-reserved"}
    assert shown(store, OTHER_CART_ID) == {"Keyboard": "reserved"}
    details = get_cart_item_details(store, CART_ID, ITEM_ID)
    assert details is not None
    assert details["availability"] == "out-of-stock"


def test_stock_given_back_reaches_the_waiting_cart_whatever_the_delivery_order(
    store: ReadModelStore,  # noqa: F811
) -> None:
    shop = competing_carts()
    shop.cart(DiscardCart(cart_id=OTHER_CART_ID))
    shop.cart(ChangeCartItemQuantity(cart_id=CART_ID, item_id=ITEM_ID, new_quantity=2))
    answers = shop.answers()

    # Newest first, every answer twice: the newest answer per cart and holding must win.
    shop.read_models(store, answers=[*reversed(answers), *answers])

    assert shown(store, CART_ID) == {"Keyboard": "reserved", "Mouse": "not-reserved"}
    assert shown(store, OTHER_CART_ID) == {}
    released = [
        d for d in availability_documents(store).values() if d["cartId"] == str(OTHER_CART_ID)
    ]
    assert [(d["availability"], d["releaseReason"]) for d in released] == [
        ("released", "cart-discarded")
    ]

"""The cart's invariants, checked after every event (reference §5.7)."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

import pytest

from eventualshop.kernel import InvariantViolation, Money
from eventualshop.kernel.aggregate import execute
from eventualshop.shopping_cart import (
    CART,
    Cart,
    CartItem,
    CartItemIncreased,
    CheckOutCart,
    invariants,
)

from .examples import CART_ID, CATALOG_ID, CUSTOMER_ID, INVENTORY_ID, ITEM_ID, KEYBOARD, usd


def cart(total: str | Money = "20.00", quantity: int = 2, **changes: object) -> Cart:
    item = CartItem(
        id=ITEM_ID,
        catalog_id=CATALOG_ID,
        inventory_id=INVENTORY_ID,
        product=KEYBOARD,
        quantity=quantity,
        unit_price=usd("10.00"),
    )
    state = Cart(
        id=CART_ID,
        customer_id=CUSTOMER_ID,
        status="Active",
        total=usd(total) if isinstance(total, str) else total,
        items=(item,),
    )
    return state.model_copy(update=changes)


def test_a_consistent_cart_has_no_violations() -> None:
    assert list(invariants(cart())) == []


@pytest.mark.parametrize(
    ("state", "violation"),
    [
        (cart(id=UUID(int=0)), "the cart id is empty"),
        (cart(total="0.00"), "a cart with items has a total above zero"),
        (cart(total="-1.00", items=()), "the total -1.00 USD is negative"),
        (cart(total="30.00"), "the total 30.00 USD is not the sum of the items"),
        (cart(total="0.00", quantity=0), "has quantity 0"),
    ],
    ids=["empty id", "items but no total", "negative total", "total off", "zero quantity"],
)
def test_a_broken_cart_is_reported(state: Cart, violation: str) -> None:
    assert any(violation in v for v in invariants(state))


def test_a_price_in_another_currency_than_the_cart_is_reported() -> None:
    in_euros = cart(total=Money.model_validate({"amount": "20.00", "currency": "EUR"}))

    assert "every amount in the cart is in EUR" in list(invariants(in_euros))


def test_an_event_that_breaks_an_invariant_rejects_the_whole_command() -> None:
    # A decide that gets the arithmetic wrong: 3 * 10.00 is not 20.00.
    wrong = CartItemIncreased(
        cart_id=CART_ID,
        item_id=ITEM_ID,
        new_quantity=3,
        unit_price=usd("10.00"),
        new_cart_total=usd("20.00"),
    )
    faulty = replace(CART, decide=lambda _state, _command: [wrong])

    with pytest.raises(InvariantViolation, match="not the sum of the items"):
        execute(faulty, cart(), CheckOutCart(cart_id=CART_ID))

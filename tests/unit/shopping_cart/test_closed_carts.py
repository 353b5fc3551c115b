"""Use case: a checked-out or abandoned cart no longer changes (the original had no such guard)."""

from __future__ import annotations

import pytest

from eventualshop.kernel.messages import Command
from eventualshop.shopping_cart import (
    AddBillingAddress,
    AddShippingAddress,
    CartCheckedOut,
    CartDiscarded,
    CartNotActive,
    ChangeCartItemQuantity,
    CheckOutCart,
    RemoveCartItem,
    RemovePaymentMethod,
)

from .examples import (
    CART_ID,
    ITEM_ID,
    METHOD_ID,
    MOUSE,
    OFFICE,
    add_credit_card,
    add_debit_card,
    add_item,
    add_pay_pal,
    created,
    credit_card_added,
    given,
    item_added,
)

HISTORY = (created(), item_added(quantity=2, unit_price="10.00", total="20.00"))
CHECKED_OUT = (*HISTORY, credit_card_added("20.00"), CartCheckedOut(cart_id=CART_ID))
ABANDONED = (*HISTORY, CartDiscarded(cart_id=CART_ID))

COMMANDS = {
    "AddCartItem": add_item(MOUSE, 1, "1.00"),
    "ChangeCartItemQuantity": ChangeCartItemQuantity(
        cart_id=CART_ID, item_id=ITEM_ID, new_quantity=5
    ),
    "RemoveCartItem": RemoveCartItem(cart_id=CART_ID, item_id=ITEM_ID),
    "AddCreditCard": add_credit_card("1.00"),
    "AddDebitCard": add_debit_card("1.00"),
    "AddPayPal": add_pay_pal("1.00"),
    "RemovePaymentMethod": RemovePaymentMethod(cart_id=CART_ID, method_id=METHOD_ID),
    "AddShippingAddress": AddShippingAddress(cart_id=CART_ID, address=OFFICE),
    "AddBillingAddress": AddBillingAddress(cart_id=CART_ID, address=OFFICE),
    "CheckOutCart": CheckOutCart(cart_id=CART_ID),
}


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_checked_out_cart_rejects_every_change(command: Command) -> None:
    given(*CHECKED_OUT).when(command).then_rejected(CartNotActive, code="cart-not-active")


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_an_abandoned_cart_rejects_every_change(command: Command) -> None:
    given(*ABANDONED).when(command).then_rejected(CartNotActive, code="cart-not-active")

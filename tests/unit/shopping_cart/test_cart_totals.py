"""Property: whatever items a customer adds, changes and removes, the cart's total is the sum of
price * quantity over the items still in it, and every item holds one product."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from eventualshop.kernel import DomainRejection, Product
from eventualshop.kernel.aggregate import execute
from eventualshop.kernel.messages import Command
from eventualshop.shopping_cart import (
    CART,
    AddCartItem,
    Cart,
    ChangeCartItemQuantity,
    RemoveCartItem,
)

from . import examples
from .examples import CART_ID, add_item

PRODUCTS = [examples.KEYBOARD.model_copy(update={"sku": f"SKU-{n}"}) for n in range(3)]
ITEM_IDS = [UUID(int=n + 1) for n in range(6)]

add = st.builds(
    lambda p, q, price, i: add_item(p, q, price, item_id=i),
    st.sampled_from(PRODUCTS),
    st.integers(1, 9),
    st.sampled_from(["0.99", "10.00", "12.345"]),
    st.sampled_from(ITEM_IDS),
)
change = st.builds(
    lambda i, q: ChangeCartItemQuantity(cart_id=CART_ID, item_id=i, new_quantity=q),
    st.sampled_from(ITEM_IDS),
    st.integers(1, 9),
)
remove = st.builds(lambda i: RemoveCartItem(cart_id=CART_ID, item_id=i), st.sampled_from(ITEM_IDS))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(add, change, remove), max_size=25))
def test_the_total_is_always_the_sum_of_the_items_still_in_the_cart(
    commands: list[Command],
) -> None:
    cart = examples.given(examples.created()).state
    assert cart is not None
    # An independent model of the cart: product -> (quantity, unit price).
    expected: dict[Product, tuple[int, Decimal]] = {}
    for command in commands:
        try:
            steps = execute(CART, cart, command)
        except DomainRejection:
            continue
        cart = steps[-1].state
        _apply(expected, cart, command)
        assert cart.total.amount == sum((q * p for q, p in expected.values()), Decimal(0))
        assert {i.product: (i.quantity, i.unit_price.amount) for i in cart.items} == expected


def _apply(expected: dict[Product, tuple[int, Decimal]], cart: Cart, command: Command) -> None:
    by_id = {i.id: i.product for i in cart.items}
    match command:
        case AddCartItem(product=product, quantity=quantity, unit_price=price):
            old_quantity, old_price = expected.get(product, (0, price.amount))
            expected[product] = (old_quantity + quantity, old_price)
        case ChangeCartItemQuantity(item_id=item_id, new_quantity=quantity):
            product = by_id[item_id]
            expected[product] = (quantity, expected[product][1])
        case RemoveCartItem():
            for product in set(expected) - set(by_id.values()):
                del expected[product]

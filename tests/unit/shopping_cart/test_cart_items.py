"""Use cases: adding items, changing their quantity and removing them.

Cases marked "original" are the ten cases of the original's ShoppingCartTests; cases 4 and 5 use
the intended total (Total +/- UnitPrice * |new - old|), not the original's defect.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from eventualshop.kernel import CurrencyMismatch
from eventualshop.shopping_cart import (
    CartItemDecreased,
    CartItemIncreased,
    CartItemRemoved,
    ChangeCartItemQuantity,
    ItemIdTaken,
    ItemNotFound,
    QuantityLimitExceeded,
    QuantityUnchanged,
    RemoveCartItem,
)

from .examples import (
    CART_ID,
    ITEM_ID,
    KEYBOARD,
    MOUSE,
    OTHER_ITEM_ID,
    add_item,
    created,
    given,
    item_added,
    usd,
)


class TestAddingAnItem:
    def test_adding_a_product_raises_cart_item_added_with_price_times_quantity(self) -> None:
        # original case 2
        cart = (
            given(created())
            .when(add_item(KEYBOARD, 3, "12.50"))
            .then(item_added(KEYBOARD, 3, "12.50", total="37.50"))
        )

        assert cart.version == 2
        assert cart.total == usd("37.50")
        assert [(i.product, i.quantity) for i in cart.items] == [(KEYBOARD, 3)]

    def test_an_item_with_quantity_zero_is_refused_before_it_reaches_the_cart(self) -> None:
        # original case 3: the original's ValidationException is pydantic's here
        with pytest.raises(ValidationError):
            add_item(quantity=0)

    def test_adding_the_same_product_again_increases_the_item_at_its_existing_price(self) -> None:
        # original case 7: the price in the command is not trusted over the item's
        cart = (
            given(created(), item_added(KEYBOARD, 2, "10.00", total="20.00"))
            .when(add_item(KEYBOARD, 3, "99.00", item_id=OTHER_ITEM_ID))
            .then(
                CartItemIncreased(
                    cart_id=CART_ID,
                    item_id=ITEM_ID,
                    new_quantity=5,
                    unit_price=usd("10.00"),
                    new_cart_total=usd("50.00"),
                )
            )
        )

        assert cart.version == 3
        assert len(cart.items) == 1

    def test_adding_a_different_product_adds_a_second_item(self) -> None:
        # original case 8
        cart = (
            given(created(), item_added(KEYBOARD, 2, "10.00", total="20.00"))
            .when(add_item(MOUSE, 1, "5.25", item_id=OTHER_ITEM_ID))
            .then(item_added(MOUSE, 1, "5.25", total="25.25", item_id=OTHER_ITEM_ID))
        )

        assert cart.version == 3
        assert [i.id for i in cart.items] == [ITEM_ID, OTHER_ITEM_ID]

    def test_a_product_whose_item_was_removed_comes_back_as_a_new_item(self) -> None:
        removed = CartItemRemoved(
            cart_id=CART_ID,
            item_id=ITEM_ID,
            unit_price=usd("10.00"),
            quantity=2,
            new_cart_total=usd("0.00"),
        )

        given(created(), item_added(total="20.00"), removed).when(
            add_item(KEYBOARD, 1, "11.00", item_id=OTHER_ITEM_ID)
        ).then(item_added(KEYBOARD, 1, "11.00", total="11.00", item_id=OTHER_ITEM_ID))

    def test_a_product_added_again_after_its_removal_then_grows_its_new_item(self) -> None:
        # Reference §5.7 ⚠: the original matched the product among removed items too, so the
        # add after the re-add found two items and threw. Only the item in the cart counts.
        removed = CartItemRemoved(
            cart_id=CART_ID,
            item_id=ITEM_ID,
            unit_price=usd("10.00"),
            quantity=2,
            new_cart_total=usd("0.00"),
        )
        added_again = item_added(KEYBOARD, 1, "11.00", total="11.00", item_id=OTHER_ITEM_ID)

        cart = (
            given(created(), item_added(total="20.00"), removed, added_again)
            .when(add_item(KEYBOARD, 2, "12.00"))
            .then(
                CartItemIncreased(
                    cart_id=CART_ID,
                    item_id=OTHER_ITEM_ID,
                    new_quantity=3,
                    unit_price=usd("11.00"),
                    new_cart_total=usd("33.00"),
                )
            )
        )

        assert [(i.id, i.quantity) for i in cart.items] == [(OTHER_ITEM_ID, 3)]

    def test_a_price_in_another_currency_is_rejected(self) -> None:
        given(created()).when(add_item(currency="EUR")).then_rejected(
            CurrencyMismatch, code="currency-mismatch"
        )

    def test_a_new_item_cannot_take_the_id_of_another_item(self) -> None:
        given(created(), item_added(KEYBOARD, total="20.00")).when(
            add_item(MOUSE, item_id=ITEM_ID)
        ).then_rejected(ItemIdTaken, code="item-id-taken")

    def test_an_item_cannot_grow_beyond_65535(self) -> None:
        given(created(), item_added(KEYBOARD, 65000, "1.00", total="65000.00")).when(
            add_item(KEYBOARD, 536, "1.00")
        ).then_rejected(QuantityLimitExceeded, code="quantity-limit-exceeded")


class TestChangingAnItemsQuantity:
    def test_a_higher_quantity_raises_cart_item_increased_by_the_difference(self) -> None:
        # original case 4, corrected: Total + UnitPrice * (new - old)
        cart = (
            given(created(), item_added(KEYBOARD, 2, "10.00", total="20.00"))
            .when(ChangeCartItemQuantity(cart_id=CART_ID, item_id=ITEM_ID, new_quantity=3))
            .then(
                CartItemIncreased(
                    cart_id=CART_ID,
                    item_id=ITEM_ID,
                    new_quantity=3,
                    unit_price=usd("10.00"),
                    new_cart_total=usd("30.00"),
                )
            )
        )

        assert cart.version == 3
        assert cart.items[0].quantity == 3

    def test_a_lower_quantity_raises_cart_item_decreased_by_the_difference(self) -> None:
        # original case 5, corrected: Total - UnitPrice * (old - new)
        cart = (
            given(
                created(),
                item_added(KEYBOARD, 2, "10.00", total="20.00"),
                item_added(MOUSE, 5, "3.00", total="35.00", item_id=OTHER_ITEM_ID),
            )
            .when(ChangeCartItemQuantity(cart_id=CART_ID, item_id=OTHER_ITEM_ID, new_quantity=1))
            .then(
                CartItemDecreased(
                    cart_id=CART_ID,
                    item_id=OTHER_ITEM_ID,
                    new_quantity=1,
                    unit_price=usd("3.00"),
                    new_cart_total=usd("23.00"),
                )
            )
        )

        assert cart.version == 4

    def test_the_same_quantity_is_rejected(self) -> None:
        given(created(), item_added(quantity=2, total="20.00")).when(
            ChangeCartItemQuantity(cart_id=CART_ID, item_id=ITEM_ID, new_quantity=2)
        ).then_rejected(QuantityUnchanged, code="quantity-unchanged")

    def test_an_unknown_item_is_rejected(self) -> None:
        given(created(), item_added(total="20.00")).when(
            ChangeCartItemQuantity(cart_id=CART_ID, item_id=OTHER_ITEM_ID, new_quantity=1)
        ).then_rejected(ItemNotFound, code="item-not-found")

    def test_a_removed_item_is_rejected(self) -> None:
        removed = CartItemRemoved(
            cart_id=CART_ID,
            item_id=ITEM_ID,
            unit_price=usd("10.00"),
            quantity=2,
            new_cart_total=usd("0.00"),
        )

        given(created(), item_added(total="20.00"), removed).when(
            ChangeCartItemQuantity(cart_id=CART_ID, item_id=ITEM_ID, new_quantity=1)
        ).then_rejected(ItemNotFound, code="item-not-found")


class TestRemovingAnItem:
    def test_removing_an_item_raises_cart_item_removed_and_lowers_the_total(self) -> None:
        # original case 6
        cart = (
            given(
                created(),
                item_added(KEYBOARD, 2, "10.00", total="20.00"),
                item_added(MOUSE, 3, "2.50", total="27.50", item_id=OTHER_ITEM_ID),
            )
            .when(RemoveCartItem(cart_id=CART_ID, item_id=ITEM_ID))
            .then(
                CartItemRemoved(
                    cart_id=CART_ID,
                    item_id=ITEM_ID,
                    unit_price=usd("10.00"),
                    quantity=2,
                    new_cart_total=usd("7.50"),
                )
            )
        )

        assert cart.version == 4
        assert [i.id for i in cart.items] == [OTHER_ITEM_ID]

    def test_removing_the_last_item_leaves_an_empty_cart_with_a_zero_total(self) -> None:
        cart = (
            given(created(), item_added(KEYBOARD, 2, "10.00", total="20.00"))
            .when(RemoveCartItem(cart_id=CART_ID, item_id=ITEM_ID))
            .then(
                CartItemRemoved(
                    cart_id=CART_ID,
                    item_id=ITEM_ID,
                    unit_price=usd("10.00"),
                    quantity=2,
                    new_cart_total=usd("0.00"),
                )
            )
        )

        assert cart.version == 3
        assert cart.items == ()
        assert cart.total.is_zero

    def test_removing_an_item_twice_is_rejected(self) -> None:
        removed = CartItemRemoved(
            cart_id=CART_ID,
            item_id=ITEM_ID,
            unit_price=usd("10.00"),
            quantity=2,
            new_cart_total=usd("0.00"),
        )

        given(created(), item_added(total="20.00"), removed).when(
            RemoveCartItem(cart_id=CART_ID, item_id=ITEM_ID)
        ).then_rejected(ItemNotFound, code="item-not-found")

    def test_removing_an_unknown_item_is_rejected(self) -> None:
        given(created()).when(RemoveCartItem(cart_id=CART_ID, item_id=ITEM_ID)).then_rejected(
            ItemNotFound, code="item-not-found"
        )

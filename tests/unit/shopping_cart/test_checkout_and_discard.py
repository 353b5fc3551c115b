"""Use cases: checking a cart out, and discarding (abandoning) it."""

from __future__ import annotations

from eventualshop.shopping_cart import (
    AmountDueNotSettled,
    CartAlreadyDiscarded,
    CartCheckedOut,
    CartDiscarded,
    CartEmpty,
    CartItemRemoved,
    CartNotActive,
    CartStatus,
    CheckOutCart,
    DiscardCart,
)

from .examples import (
    CART_ID,
    ITEM_ID,
    MOUSE,
    OTHER_ITEM_ID,
    created,
    credit_card_added,
    given,
    item_added,
    pay_pal_added,
    usd,
)

PAID_CART = (
    created(),
    item_added(quantity=2, unit_price="10.00", total="20.00"),
    credit_card_added("20.00"),
)
CHECK_OUT = CheckOutCart(cart_id=CART_ID)
DISCARD = DiscardCart(cart_id=CART_ID)


class TestCheckingOut:
    def test_a_cart_with_items_paid_in_full_checks_out(self) -> None:
        cart = given(*PAID_CART).when(CHECK_OUT).then(CartCheckedOut(cart_id=CART_ID))

        assert cart.status is CartStatus.CHECKED_OUT
        assert cart.version == 4

    def test_a_cart_without_items_is_rejected(self) -> None:
        given(created()).when(CHECK_OUT).then_rejected(CartEmpty, code="cart-empty")

    def test_a_cart_whose_items_were_all_removed_is_rejected(self) -> None:
        removed = CartItemRemoved(
            cart_id=CART_ID,
            item_id=ITEM_ID,
            unit_price=usd("10.00"),
            quantity=2,
            new_cart_total=usd("0.00"),
        )

        given(created(), item_added(total="20.00"), removed).when(CHECK_OUT).then_rejected(
            CartEmpty, code="cart-empty"
        )

    def test_a_cart_not_paid_in_full_is_rejected(self) -> None:
        given(created(), item_added(total="20.00"), pay_pal_added("19.99")).when(
            CHECK_OUT
        ).then_rejected(AmountDueNotSettled, code="amount-due-not-settled")

    def test_a_cart_paid_more_than_its_total_is_rejected(self) -> None:
        # Payments covered 20.00, then an item was removed: the customer must take one back.
        removed = CartItemRemoved(
            cart_id=CART_ID,
            item_id=ITEM_ID,
            unit_price=usd("10.00"),
            quantity=2,
            new_cart_total=usd("0.00"),
        )
        extra = item_added(MOUSE, 1, "5.00", total="5.00", item_id=OTHER_ITEM_ID)

        refused = (
            given(*PAID_CART, removed, extra)
            .when(CHECK_OUT)
            .then_rejected(AmountDueNotSettled, code="amount-due-not-settled")
        )
        # Was "… -15.00 USD is still due": the customer is told what to do instead.
        assert str(refused) == (
            "the payment methods cover 15.00 USD more than the total 5.00 USD; "
            "remove one and add what is due"
        )

    def test_what_is_still_due_is_said(self) -> None:
        refused = (
            given(created(), item_added(total="20.00"), pay_pal_added("19.99"))
            .when(CHECK_OUT)
            .then_rejected(AmountDueNotSettled)
        )
        assert str(refused) == "0.01 USD of the total 20.00 USD is still due"

    def test_checking_out_twice_is_rejected(self) -> None:
        given(*PAID_CART, CartCheckedOut(cart_id=CART_ID)).when(CHECK_OUT).then_rejected(
            CartNotActive, code="cart-not-active"
        )


class TestDiscarding:
    def test_an_active_cart_is_discarded_and_marked_deleted(self) -> None:
        cart = (
            given(created(), item_added(total="20.00"))
            .when(DISCARD)
            .then(CartDiscarded(cart_id=CART_ID))
        )

        assert cart.status is CartStatus.ABANDONED
        assert cart.is_deleted

    def test_discarding_a_discarded_cart_is_rejected(self) -> None:
        given(created(), CartDiscarded(cart_id=CART_ID)).when(DISCARD).then_rejected(
            CartAlreadyDiscarded, code="cart-already-discarded"
        )

    def test_a_checked_out_cart_cannot_be_discarded(self) -> None:
        # Its order is on its way; the cart is that order's record of what was bought.
        given(*PAID_CART, CartCheckedOut(cart_id=CART_ID)).when(DISCARD).then_rejected(
            CartNotActive, code="cart-not-active"
        )

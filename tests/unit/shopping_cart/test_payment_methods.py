"""Use cases: paying for the cart with credit cards, debit cards and PayPal, and taking a payment
method back."""

from __future__ import annotations

import pytest

from eventualshop.kernel import CurrencyMismatch, PositiveMoney
from eventualshop.kernel.messages import Command
from eventualshop.shopping_cart import (
    AddCreditCard,
    AmountExceedsDue,
    PaymentMethodIdTaken,
    PaymentMethodNotFound,
    PaymentMethodRemoved,
    RemovePaymentMethod,
)

from .examples import (
    CART_ID,
    METHOD_ID,
    OTHER_METHOD_ID,
    add_credit_card,
    add_debit_card,
    add_pay_pal,
    card,
    created,
    credit_card_added,
    debit_card_added,
    given,
    item_added,
    pay_pal_added,
    usd,
)

CART_OF_20 = (created(), item_added(quantity=2, unit_price="10.00", total="20.00"))


class TestAddingAPaymentMethod:
    def test_a_credit_card_raises_credit_card_added_with_a_token_and_the_last_four(self) -> None:
        cart = given(*CART_OF_20).when(add_credit_card("20.00")).then(credit_card_added("20.00"))

        assert cart.total_payment == usd("20.00")
        assert cart.amount_due.is_zero

    def test_a_debit_card_keeps_its_holder_and_number_where_they_belong(self) -> None:
        # The original swapped Number and HolderName of every debit card.
        given(*CART_OF_20).when(add_debit_card("5.00")).then(debit_card_added("5.00"))

    def test_pay_pal_raises_pay_pal_added_with_the_email_only(self) -> None:
        cart = given(*CART_OF_20).when(add_pay_pal("20.00")).then(pay_pal_added("20.00"))

        assert cart.payment_methods[0].option.type == "PayPal"

    def test_several_methods_may_share_the_amount_due(self) -> None:
        cart = (
            given(*CART_OF_20, credit_card_added("12.00"))
            .when(add_pay_pal("8.00", OTHER_METHOD_ID))
            .then(pay_pal_added("8.00", OTHER_METHOD_ID))
        )

        assert cart.total_payment == usd("20.00")
        assert cart.amount_due == usd("0")

    @pytest.mark.parametrize(
        "command",
        [add_credit_card("20.01"), add_debit_card("25.00"), add_pay_pal("100.00")],
        ids=["credit card", "debit card", "PayPal"],
    )
    def test_an_amount_above_the_amount_due_is_rejected(self, command: Command) -> None:
        given(*CART_OF_20).when(command).then_rejected(AmountExceedsDue, code="amount-exceeds-due")

    def test_a_second_method_may_pay_only_what_the_first_left_due(self) -> None:
        given(*CART_OF_20, credit_card_added("15.00")).when(
            add_pay_pal("5.01", OTHER_METHOD_ID)
        ).then_rejected(AmountExceedsDue, code="amount-exceeds-due")

    def test_paying_an_empty_cart_is_rejected(self) -> None:
        given(created()).when(add_credit_card("1.00")).then_rejected(
            AmountExceedsDue, code="amount-exceeds-due"
        )

    def test_an_amount_in_another_currency_is_rejected(self) -> None:
        command = AddCreditCard(
            cart_id=CART_ID,
            amount=PositiveMoney.model_validate({"amount": "5.00", "currency": "EUR"}),
            credit_card=card(),
        )

        given(*CART_OF_20).when(command).then_rejected(CurrencyMismatch, code="currency-mismatch")

    def test_a_method_id_already_in_the_cart_is_rejected(self) -> None:
        given(*CART_OF_20, credit_card_added("5.00")).when(add_pay_pal("5.00")).then_rejected(
            PaymentMethodIdTaken, code="payment-method-id-taken"
        )


class TestRemovingAPaymentMethod:
    def test_removing_a_method_raises_payment_method_removed_and_restores_the_amount_due(
        self,
    ) -> None:
        cart = (
            given(*CART_OF_20, credit_card_added("12.00"), pay_pal_added("8.00", OTHER_METHOD_ID))
            .when(RemovePaymentMethod(cart_id=CART_ID, method_id=METHOD_ID))
            .then(PaymentMethodRemoved(cart_id=CART_ID, method_id=METHOD_ID, amount=usd("12.00")))
        )

        assert [m.id for m in cart.payment_methods] == [OTHER_METHOD_ID]
        assert cart.amount_due == usd("12.00")

    def test_removing_an_unknown_method_is_rejected(self) -> None:
        given(*CART_OF_20).when(
            RemovePaymentMethod(cart_id=CART_ID, method_id=METHOD_ID)
        ).then_rejected(PaymentMethodNotFound, code="payment-method-not-found")

    def test_removing_a_method_twice_is_rejected(self) -> None:
        removed = PaymentMethodRemoved(cart_id=CART_ID, method_id=METHOD_ID, amount=usd("12.00"))

        given(*CART_OF_20, credit_card_added("12.00"), removed).when(
            RemovePaymentMethod(cart_id=CART_ID, method_id=METHOD_ID)
        ).then_rejected(PaymentMethodNotFound, code="payment-method-not-found")

"""Use case: a customer opens a cart."""

from __future__ import annotations

from eventualshop.kernel import AggregateAlreadyExists, Currency
from eventualshop.shopping_cart import CartCreated, CartStatus, CreateCart

from .examples import CART_ID, CUSTOMER_ID, created, given, usd


def test_creating_a_cart_raises_cart_created_with_a_zero_total_and_active_status() -> None:
    command = CreateCart(cart_id=CART_ID, customer_id=CUSTOMER_ID, currency=Currency.USD)

    cart = (
        given()
        .when(command)
        .then(
            CartCreated(cart_id=CART_ID, customer_id=CUSTOMER_ID, total=usd("0"), status="Active")
        )
    )

    assert cart.version == 1
    assert cart.status is CartStatus.ACTIVE
    assert cart.total == usd("0.00")
    assert cart.customer_id == CUSTOMER_ID


def test_a_new_cart_is_in_the_currency_the_customer_chose() -> None:
    command = CreateCart(cart_id=CART_ID, customer_id=CUSTOMER_ID, currency="€")

    cart = given().when(command).then(created("EUR"))

    assert cart.currency is Currency.EUR


def test_creating_a_cart_that_already_exists_is_rejected() -> None:
    command = CreateCart(cart_id=CART_ID, customer_id=CUSTOMER_ID, currency="USD")

    given(created()).when(command).then_rejected(AggregateAlreadyExists, code="already-exists")

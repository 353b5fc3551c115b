"""Use cases: giving the cart a billing and a shipping address."""

from __future__ import annotations

from eventualshop.shopping_cart import (
    AddBillingAddress,
    AddShippingAddress,
    BillingAddressAdded,
    CartCheckedOut,
    CartNotActive,
    ShippingAddressAdded,
)

from .examples import CART_ID, HOME, OFFICE, created, given


def test_adding_a_billing_address_raises_billing_address_added() -> None:
    # original case 9
    cart = (
        given(created())
        .when(AddBillingAddress(cart_id=CART_ID, address=HOME))
        .then(BillingAddressAdded(cart_id=CART_ID, address=HOME))
    )

    assert cart.version == 2
    assert cart.billing_address == HOME


def test_adding_a_shipping_address_raises_shipping_address_added() -> None:
    # original case 10
    cart = (
        given(created())
        .when(AddShippingAddress(cart_id=CART_ID, address=OFFICE))
        .then(ShippingAddressAdded(cart_id=CART_ID, address=OFFICE))
    )

    assert cart.version == 2
    assert cart.shipping_address == OFFICE


def test_the_shipping_address_follows_the_billing_address_until_chosen_apart() -> None:
    cart = (
        given(created(), BillingAddressAdded(cart_id=CART_ID, address=HOME))
        .when(AddBillingAddress(cart_id=CART_ID, address=OFFICE))
        .then(BillingAddressAdded(cart_id=CART_ID, address=OFFICE))
    )

    assert cart.shipping_address == OFFICE


def test_a_separate_shipping_address_stays_when_the_billing_address_changes() -> None:
    cart = (
        given(
            created(),
            BillingAddressAdded(cart_id=CART_ID, address=HOME),
            ShippingAddressAdded(cart_id=CART_ID, address=OFFICE),
        )
        .when(AddBillingAddress(cart_id=CART_ID, address=HOME.model_copy(update={"number": 1})))
        .then(BillingAddressAdded(cart_id=CART_ID, address=HOME.model_copy(update={"number": 1})))
    )

    assert cart.shipping_address == OFFICE
    assert not cart.same_billing_shipping


def test_the_same_billing_address_again_changes_nothing_and_is_no_error() -> None:
    given(created(), BillingAddressAdded(cart_id=CART_ID, address=HOME)).when(
        AddBillingAddress(cart_id=CART_ID, address=HOME)
    ).then()


def test_the_billing_address_then_the_same_as_shipping_address_is_accepted_with_no_event() -> None:
    # Issue 12 item 6, as a new user tried it: the billing address also set the shipping
    # address, so this changes nothing; it used to be 409 address-unchanged.
    given(created(), BillingAddressAdded(cart_id=CART_ID, address=HOME)).when(
        AddShippingAddress(cart_id=CART_ID, address=HOME)
    ).then()


def test_an_address_in_place_on_a_checked_out_cart_is_still_refused() -> None:
    given(
        created(),
        BillingAddressAdded(cart_id=CART_ID, address=HOME),
        CartCheckedOut(cart_id=CART_ID),
    ).when(AddShippingAddress(cart_id=CART_ID, address=HOME)).then_rejected(CartNotActive)

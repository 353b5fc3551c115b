"""Example values and builders for the cart tests. Totals are always written out by hand, so the
tests check the cart's arithmetic against an independent oracle."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from eventualshop.kernel import Address, Money, PositiveMoney, Product
from eventualshop.kernel.testing import Scenario
from eventualshop.shopping_cart import (
    CART,
    AddCartItem,
    AddCreditCard,
    AddDebitCard,
    AddPayPal,
    Cart,
    CartCreated,
    CartItemAdded,
    CreditCardAdded,
    CreditCardOption,
    DebitCardAdded,
    DebitCardOption,
    PayPalAdded,
    PayPalOption,
    card_token,
)
from eventualshop.shopping_cart.payment_methods import current_card_token_key

CART_ID = UUID("0c000000-0000-4000-8000-00000000ca01")
CUSTOMER_ID = UUID("0c000000-0000-4000-8000-00000000c001")
ITEM_ID = UUID("0c000000-0000-4000-8000-0000000001e1")
OTHER_ITEM_ID = UUID("0c000000-0000-4000-8000-0000000001e2")
CATALOG_ID = UUID("0c000000-0000-4000-8000-00000000ca7a")
INVENTORY_ID = UUID("0c000000-0000-4000-8000-00000000100e")
METHOD_ID = UUID("0c000000-0000-4000-8000-00000000be01")
OTHER_METHOD_ID = UUID("0c000000-0000-4000-8000-00000000be02")

CREDIT_CARD_NUMBER = "4539 1488-0343 6467"
CREDIT_CARD_DIGITS = "4539148803436467"
DEBIT_CARD_DIGITS = "6011000990139424"
SECURITY_CODE = 7351
PAYPAL_PASSWORD = "Sup3r-secret pässwörd"

KEYBOARD = Product(
    description="Mechanical keyboard",
    name="Keyboard",
    brand="Keys & Co",
    category="Peripherals",
    unit="piece",
    sku="KB-101",
)
MOUSE = Product(
    description="Wireless mouse",
    name="Mouse",
    brand="Pointers",
    category="Peripherals",
    unit="piece",
    sku="MS-202",
)
HOME = Address(street="Main Street", city="Springfield", state="IL", zip_code="62701",
               country="US", number=742)  # fmt: skip
OFFICE = Address(street="Market Street", city="Springfield", state="IL", zip_code="62702",
                 country="US", number=1, complement="3rd floor")  # fmt: skip


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


def price(amount: str, currency: str = "USD") -> PositiveMoney:
    return PositiveMoney.model_validate({"amount": amount, "currency": currency})


def given(*events: Any) -> Scenario[Cart]:
    return Scenario(CART).given(*events)


def created(currency: str = "USD") -> CartCreated:
    zero = Money.model_validate({"amount": "0", "currency": currency})
    return CartCreated(cart_id=CART_ID, customer_id=CUSTOMER_ID, total=zero)


def add_item(
    product: Product = KEYBOARD,
    quantity: int = 2,
    unit_price: str = "10.00",
    *,
    item_id: UUID = ITEM_ID,
    currency: str = "USD",
) -> AddCartItem:
    return AddCartItem(
        cart_id=CART_ID,
        item_id=item_id,
        catalog_id=CATALOG_ID,
        inventory_id=INVENTORY_ID,
        product=product,
        quantity=quantity,
        unit_price=price(unit_price, currency),
    )


def item_added(
    product: Product = KEYBOARD,
    quantity: int = 2,
    unit_price: str = "10.00",
    *,
    total: str,
    item_id: UUID = ITEM_ID,
) -> CartItemAdded:
    return CartItemAdded(
        cart_id=CART_ID,
        item_id=item_id,
        catalog_id=CATALOG_ID,
        inventory_id=INVENTORY_ID,
        product=product,
        quantity=quantity,
        unit_price=usd(unit_price),
        new_cart_total=usd(total),
    )


def card(number: str = CREDIT_CARD_NUMBER, **changes: Any) -> dict[str, Any]:
    """A card as a client sends it (camelCase JSON)."""
    return {
        "number": number,
        "holderName": "Ada Lovelace",
        "expirationDate": "01/12/2099",
        "securityCode": SECURITY_CODE,
    } | changes


def add_credit_card(amount: str, method_id: UUID = METHOD_ID, **card_changes: Any) -> AddCreditCard:
    return AddCreditCard(
        cart_id=CART_ID, method_id=method_id, amount=price(amount), credit_card=card(**card_changes)
    )


def add_debit_card(amount: str, method_id: UUID = METHOD_ID) -> AddDebitCard:
    return AddDebitCard(
        cart_id=CART_ID,
        method_id=method_id,
        amount=price(amount),
        debit_card=card(DEBIT_CARD_DIGITS, holderName="Charles Babbage"),
    )


def add_pay_pal(amount: str, method_id: UUID = METHOD_ID) -> AddPayPal:
    return AddPayPal(
        cart_id=CART_ID,
        method_id=method_id,
        amount=price(amount),
        pay_pal={"email": "ada@example.com", "password": PAYPAL_PASSWORD},
    )


def credit_card_added(amount: str, method_id: UUID = METHOD_ID) -> CreditCardAdded:
    option = CreditCardOption(
        holder_name="Ada Lovelace",
        expiration="12/99",
        last_four="6467",
        token=card_token(CREDIT_CARD_DIGITS, current_card_token_key()),
    )
    return CreditCardAdded(
        cart_id=CART_ID, method_id=method_id, amount=usd(amount), credit_card=option
    )


def debit_card_added(amount: str, method_id: UUID = METHOD_ID) -> DebitCardAdded:
    option = DebitCardOption(
        holder_name="Charles Babbage",
        expiration="12/99",
        last_four="9424",
        token=card_token(DEBIT_CARD_DIGITS, current_card_token_key()),
    )
    return DebitCardAdded(
        cart_id=CART_ID, method_id=method_id, amount=usd(amount), debit_card=option
    )


def pay_pal_added(amount: str, method_id: UUID = METHOD_ID) -> PayPalAdded:
    option = PayPalOption(email="ada@example.com")
    return PayPalAdded(cart_id=CART_ID, method_id=method_id, amount=usd(amount), pay_pal=option)

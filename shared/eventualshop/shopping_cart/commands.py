"""Shopping cart commands: the contract a client sends (reference §5.7, HTTP validation).

Ids a new thing will get (cart, item, payment method) default to a fresh UUID in the command, so
``decide`` stays pure and deterministic, and a retried command keeps the id it was given.
Commands carrying a secret hide it from ``repr`` and from validation errors; their JSON dump shows
the secret masked, so such a command is never meant to be serialised and sent on.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field

from eventualshop.kernel.identifiers import Id, NewId
from eventualshop.kernel.messages import Command
from eventualshop.kernel.money import ClientAmount, CurrencyCode
from eventualshop.kernel.values import ClientAddress, NonEmpty, Product, WholeNumber
from eventualshop.shopping_cart.payment_methods import CardDetails, PayPalDetails

MAX_QUANTITY = 65535  # the original's ushort


Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY), WholeNumber]


class CartCommand(Command):
    cart_id: Id


class CreateCart(CartCommand):
    cart_id: NewId
    customer_id: Id
    currency: CurrencyCode


class AddCartItem(CartCommand):
    item_id: NewId  # the id the item gets if the product is not in the cart yet
    catalog_id: Id
    inventory_id: Id
    product: Product
    quantity: Quantity
    unit_price: ClientAmount


class ChangeCartItemQuantity(CartCommand):
    item_id: Id
    new_quantity: Quantity


class RemoveCartItem(CartCommand):
    item_id: Id


class _AddPayment(CartCommand):
    # The whole command hides its input in validation errors: a bad card number must not be logged.
    model_config = ConfigDict(hide_input_in_errors=True)

    method_id: NewId
    amount: ClientAmount


class AddCreditCard(_AddPayment):
    credit_card: CardDetails


class AddDebitCard(_AddPayment):
    debit_card: CardDetails


class AddPayPal(_AddPayment):
    pay_pal: PayPalDetails


class RemovePaymentMethod(CartCommand):
    method_id: Id


class AddShippingAddress(CartCommand):
    address: ClientAddress


class AddBillingAddress(CartCommand):
    address: ClientAddress


class CheckOutCart(CartCommand):
    pass


class DiscardCart(CartCommand):
    pass


class RebuildCartProjection(Command):
    """Not an aggregate command: asks for every cart's summary to be published again."""

    name: NonEmpty


CART_COMMANDS: frozenset[type[CartCommand]] = frozenset(
    {
        CreateCart,
        AddCartItem,
        ChangeCartItemQuantity,
        RemoveCartItem,
        AddCreditCard,
        AddDebitCard,
        AddPayPal,
        RemovePaymentMethod,
        AddShippingAddress,
        AddBillingAddress,
        CheckOutCart,
        DiscardCart,
    }
)

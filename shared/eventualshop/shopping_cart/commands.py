"""Shopping cart commands: the contract a client sends (reference §5.7, HTTP validation).

Ids a new thing will get (cart, item, payment method) default to a fresh UUID in the command, so
``decide`` stays pure and deterministic, and a retried command keeps the id it was given.
Commands carrying a secret hide it from ``repr`` and from validation errors; their JSON dump shows
the secret masked, so such a command is never meant to be serialised and sent on.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID, uuid4

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, field_validator

from eventualshop.kernel.messages import Command
from eventualshop.kernel.money import CurrencyCode, Money, PositiveMoney
from eventualshop.kernel.values import Address, NonEmpty, Product
from eventualshop.shopping_cart.payment_methods import CardDetails, PayPalDetails

MAX_QUANTITY = 65535  # the original's ushort


def _not_nil(value: UUID) -> UUID:
    if value.int == 0:
        raise ValueError("id must not be the empty (nil) UUID")
    return value


MAX_AMOUNT_DIGITS = 28  # about what the original's decimal holds


class ClientMoney(PositiveMoney):
    """An amount a client sends: above zero, and no more digits than the original's decimal
    holds, so no total of such amounts can overflow the arithmetic ("9e999999" would)."""

    @field_validator("amount")
    @classmethod
    def _fits(cls, value: Decimal) -> Decimal:
        exponent = value.as_tuple().exponent
        if (
            not isinstance(exponent, int)
            or len(value.as_tuple().digits) > MAX_AMOUNT_DIGITS
            or value.adjusted() >= MAX_AMOUNT_DIGITS
            or exponent < -MAX_AMOUNT_DIGITS
        ):
            raise ValueError(
                f"amount must have at most {MAX_AMOUNT_DIGITS} digits, below 10^{MAX_AMOUNT_DIGITS}"
            )
        return value


def _money_fields(value: Any) -> Any:
    # Any Money is a fine input too; it is then checked like any other (above zero, its digits).
    if isinstance(value, Money) and not isinstance(value, ClientMoney):
        return {"amount": value.amount, "currency": value.currency}
    return value


Id = Annotated[UUID, AfterValidator(_not_nil)]
NewId = Annotated[UUID, AfterValidator(_not_nil), Field(default_factory=uuid4)]
Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY)]
Amount = Annotated[ClientMoney, BeforeValidator(_money_fields)]


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
    unit_price: Amount


class ChangeCartItemQuantity(CartCommand):
    item_id: Id
    new_quantity: Quantity


class RemoveCartItem(CartCommand):
    item_id: Id


class _AddPayment(CartCommand):
    # The whole command hides its input in validation errors: a bad card number must not be logged.
    model_config = ConfigDict(hide_input_in_errors=True)

    method_id: NewId
    amount: Amount


class AddCreditCard(_AddPayment):
    credit_card: CardDetails


class AddDebitCard(_AddPayment):
    debit_card: CardDetails


class AddPayPal(_AddPayment):
    pay_pal: PayPalDetails


class RemovePaymentMethod(CartCommand):
    method_id: Id


class AddShippingAddress(CartCommand):
    address: Address


class AddBillingAddress(CartCommand):
    address: Address


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

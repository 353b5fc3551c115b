"""Shopping cart events (reference §5.7): the domain events stored in the cart's stream, and the
summary events that publish a whole cart to other contexts.

The two kinds live in two registries. ``CART_EVENTS`` decodes a cart's stream; summary events are
published, never stored in a stream, so a summary can never be replayed into a cart by mistake.
"""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from eventualshop.kernel.messages import DomainEvent
from eventualshop.kernel.money import Money
from eventualshop.kernel.registry import EventRegistry
from eventualshop.kernel.values import Address, Product, ValueObject
from eventualshop.shopping_cart.payment_methods import (
    CreditCardOption,
    DebitCardOption,
    PaymentMethod,
    PayPalOption,
)


class CartStatus(StrEnum):
    EMPTY = "Empty"
    ACTIVE = "Active"
    ABANDONED = "Abandoned"
    CHECKED_OUT = "CheckedOut"


class CartItem(ValueObject):
    """An item in the cart. A removed item is gone from the cart; only its events remember it."""

    id: UUID
    catalog_id: UUID
    inventory_id: UUID
    product: Product
    quantity: int
    unit_price: Money


# ---- domain events ----------------------------------------------------------------------------


class CartEvent(DomainEvent):
    cart_id: UUID


class CartCreated(CartEvent):
    customer_id: UUID
    total: Money
    status: CartStatus = CartStatus.ACTIVE


class CartItemAdded(CartEvent):
    item_id: UUID
    # Kept so Warehouse can reserve against the real catalog (the original sent a random one).
    catalog_id: UUID
    inventory_id: UUID
    product: Product
    quantity: int
    unit_price: Money
    new_cart_total: Money


class CartItemIncreased(CartEvent):
    item_id: UUID
    new_quantity: int
    unit_price: Money
    new_cart_total: Money


class CartItemDecreased(CartEvent):
    item_id: UUID
    new_quantity: int
    unit_price: Money
    new_cart_total: Money


class CartItemRemoved(CartEvent):
    item_id: UUID
    unit_price: Money
    quantity: int
    new_cart_total: Money


class CartCheckedOut(CartEvent):
    status: CartStatus = CartStatus.CHECKED_OUT


class CartDiscarded(CartEvent):
    status: CartStatus = CartStatus.ABANDONED


class BillingAddressAdded(CartEvent):
    address: Address


class ShippingAddressAdded(CartEvent):
    address: Address


class CreditCardAdded(CartEvent):
    method_id: UUID
    amount: Money
    credit_card: CreditCardOption


class DebitCardAdded(CartEvent):
    method_id: UUID
    amount: Money
    debit_card: DebitCardOption


class PayPalAdded(CartEvent):
    method_id: UUID
    amount: Money
    pay_pal: PayPalOption


class PaymentMethodRemoved(CartEvent):
    method_id: UUID
    amount: Money


CART_EVENTS = EventRegistry(
    [
        CartCreated,
        CartItemAdded,
        CartItemIncreased,
        CartItemDecreased,
        CartItemRemoved,
        CartCheckedOut,
        CartDiscarded,
        BillingAddressAdded,
        ShippingAddressAdded,
        CreditCardAdded,
        DebitCardAdded,
        PayPalAdded,
        PaymentMethodRemoved,
    ]
)


# ---- summary events ---------------------------------------------------------------------------


class CartSummary(ValueObject):
    """A whole cart at ``version``, flat enough for a read model or the Order context."""

    id: UUID
    customer_id: UUID
    status: CartStatus
    billing_address: Address | None
    shipping_address: Address | None
    total: Money
    total_payment: Money
    amount_due: Money
    items: tuple[CartItem, ...]
    payment_methods: tuple[PaymentMethod, ...]
    is_deleted: bool
    version: int


# The original's summary events (reference R11, R12). Nothing publishes them yet: the reaction
# that would publish CartSubmitted after a checkout feeds the Order context, which is not built.
# Read models here are rebuilt from the event store (``eventualshop rebuild``), not from
# CartProjectionRebuilt.


class CartSubmitted(DomainEvent):
    """The cart as checked out, for the Order context (to be published after a checkout)."""

    cart: CartSummary


class CartProjectionRebuilt(DomainEvent):
    """The cart's current state, for a read model rebuilt from it (the original's rebuild)."""

    cart: CartSummary


CART_SUMMARY_EVENTS = EventRegistry([CartSubmitted, CartProjectionRebuilt])

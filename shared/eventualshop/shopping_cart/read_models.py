"""The cart's read models (reference §5.7 "Projections") and how each event changes them.

Five projections, one collection each, every one fed with *all* cart events (see
:mod:`eventualshop.kernel.projection` for why): the cart details (also how a customer finds their
cart), the item list and item details, the payment-method list and details. Documents are flat
JSON: ids and money amounts are strings. A discarded cart, a removed item or payment method stays
as a tombstone (``isDeleted``) that queries skip, so a late event can never bring it back.
Payment details keep no secret: the events never had one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from eventualshop.kernel.messages import DomainEvent, RecordedEvent
from eventualshop.kernel.money import Currency, shown
from eventualshop.kernel.projection import Documents, Projection
from eventualshop.kernel.values import Product
from eventualshop.shopping_cart.events import (
    BillingAddressAdded,
    CartCheckedOut,
    CartCreated,
    CartDiscarded,
    CartItemAdded,
    CartItemDecreased,
    CartItemIncreased,
    CartItemRemoved,
    CartStatus,
    CreditCardAdded,
    DebitCardAdded,
    PaymentMethodRemoved,
    PayPalAdded,
    ShippingAddressAdded,
)

AGGREGATE = "ShoppingCart"
DETAILS = "ShoppingCartDetails"
ITEM_LIST = "ShoppingCartItemListItem"
ITEM_DETAILS = "ShoppingCartItemDetails"
METHOD_LIST = "PaymentMethodListItem"
METHOD_DETAILS = "PaymentMethodDetails"
#: The Warehouse's latest answer per (cart, inventory, product): written by the cart's projector
#: of the Warehouse's events (``eventualshop.processes.availability``), read by the item queries.
AVAILABILITY = "ShoppingCartItemAvailability"
#: What the inventory holds per (cart, inventory, product) now, by the same projector: the
#: answers that change a hold, ordered by the inventory's own version (see its docstring).
HOLDS = "ShoppingCartItemHold"

Docs = Mapping[str, Documents]
PaymentAdded = CreditCardAdded | DebitCardAdded | PayPalAdded


def member_id(cart_id: object, id: object) -> str:
    """The document id of an item or payment method: unique per cart, not only within one.

    Clients may choose item and method ids, and nothing stops two carts from using the same one;
    keyed by that id alone, the two carts' documents would overwrite each other.
    """
    return f"{cart_id}:{id}"


def holding(inventory_id: object, product: Product) -> str:
    """What a cart holds in the Warehouse: one inventory's one product.

    The Warehouse keeps one hold per cart, inventory and product, and its answers name no cart
    item, so this is how an answer finds the items it is about. The product is compared by value
    (all its fields, as the contexts compare it), through a digest that keeps the key short.
    """
    digest = hashlib.sha256(product.model_dump_json(by_alias=True).encode()).hexdigest()[:32]
    return f"{inventory_id}:{digest}"


def availability_id(cart_id: object, held: str) -> str:
    """The document id of the Warehouse's answer about one holding of one cart."""
    return f"{cart_id}:{held}"


def _amount(document: Mapping[str, Any], field: str) -> Decimal:
    return Decimal(document[field]["amount"])


def _option(event: PaymentAdded) -> dict[str, Any]:
    match event:
        case CreditCardAdded():
            option: Any = event.credit_card
        case DebitCardAdded():
            option = event.debit_card
        case PayPalAdded():
            option = event.pay_pal
    # The token identifies the card to the payment provider; a read model has no use for it.
    shown: dict[str, Any] = option.model_dump(mode="json", by_alias=True, exclude={"token"})
    return shown


#: Each projection names what it does with every event of the cart's stream: changes its
#: documents, or deliberately ignores (only its cursor moves). The model check fails when a cart
#: event is in neither, so a new event cannot slip past a read model unnoticed.
_ITEM_EVENTS: frozenset[type[DomainEvent]] = frozenset(
    {CartItemAdded, CartItemIncreased, CartItemDecreased, CartItemRemoved, CartDiscarded}
)
_METHOD_EVENTS: frozenset[type[DomainEvent]] = frozenset(
    {CreditCardAdded, DebitCardAdded, PayPalAdded, PaymentMethodRemoved, CartDiscarded}
)
_ALL: frozenset[type[DomainEvent]] = frozenset(
    {
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
    }
)


class CartDetails:
    name = "shopping-cart-details"
    aggregate_type = AGGREGATE
    handles = _ALL
    ignores: frozenset[type[DomainEvent]] = frozenset()
    collections = {DETAILS: (("customerId", "isDeleted"), ("cartId",))}

    def apply(self, documents: Docs, recorded: RecordedEvent) -> None:
        docs, event, version = documents[DETAILS], recorded.event, recorded.version
        cart = str(recorded.aggregate_id)
        if isinstance(event, CartCreated):
            docs.put(
                {
                    "id": cart,
                    "cartId": cart,
                    "customerId": str(event.customer_id),
                    "status": event.status.value,
                    "total": event.total.shown(),
                    "totalPayment": event.total.shown(),
                    "amountDue": event.total.shown(),
                    "itemCount": 0,
                    "billingAddress": None,
                    "shippingAddress": None,
                    "sameBillingShipping": True,
                    "createdAt": recorded.metadata.timestamp.isoformat(),
                    "isDeleted": False,
                },
                version,
            )
            return
        current = docs.get(cart)
        if current is None:
            return  # not reached: the projector fills a gap before a later event
        docs.patch(cart, self._changes(current, event), version)

    @staticmethod
    def _changes(current: Mapping[str, Any], event: object) -> dict[str, Any]:
        currency = Currency(current["total"]["currency"])
        paid = _amount(current, "totalPayment")

        def totals(total: Decimal, payment: Decimal) -> dict[str, Any]:
            return {
                "total": shown(total, currency),
                "totalPayment": shown(payment, currency),
                "amountDue": shown(total - payment, currency),
            }

        match event:
            case CartItemAdded():
                return totals(event.new_cart_total.amount, paid) | {
                    "itemCount": current["itemCount"] + 1
                }
            case CartItemRemoved():
                return totals(event.new_cart_total.amount, paid) | {
                    "itemCount": current["itemCount"] - 1
                }
            case CartItemIncreased() | CartItemDecreased():
                return totals(event.new_cart_total.amount, paid)
            case CreditCardAdded() | DebitCardAdded() | PayPalAdded():
                return totals(_amount(current, "total"), paid + event.amount.amount)
            case PaymentMethodRemoved():
                return totals(_amount(current, "total"), paid - event.amount.amount)
            case ShippingAddressAdded():
                address = event.address.model_dump(mode="json", by_alias=True)
                return {
                    "shippingAddress": address,
                    "sameBillingShipping": address == current["billingAddress"],
                }
            case BillingAddressAdded():
                address = event.address.model_dump(mode="json", by_alias=True)
                changes: dict[str, Any] = {"billingAddress": address}
                if current["sameBillingShipping"]:
                    changes["shippingAddress"] = address
                return changes
            case CartCheckedOut():
                return {"status": event.status.value}
            case CartDiscarded():
                return {"status": CartStatus.ABANDONED.value, "isDeleted": True}
        return {}  # an event this read model does not show still moves its version


class CartItemList:
    name = "shopping-cart-item-list"
    aggregate_type = AGGREGATE
    handles = _ITEM_EVENTS
    ignores = _ALL - _ITEM_EVENTS
    collections = {ITEM_LIST: (("cartId", "isDeleted", "addedAt"),)}

    def apply(self, documents: Docs, recorded: RecordedEvent) -> None:
        _apply_item(documents[ITEM_LIST], recorded, details=False)


class CartItemDetails:
    name = "shopping-cart-item-details"
    aggregate_type = AGGREGATE
    handles = _ITEM_EVENTS
    ignores = _ALL - _ITEM_EVENTS
    collections = {ITEM_DETAILS: (("cartId",),)}

    def apply(self, documents: Docs, recorded: RecordedEvent) -> None:
        _apply_item(documents[ITEM_DETAILS], recorded, details=True)


def _apply_item(docs: Documents, recorded: RecordedEvent, *, details: bool) -> None:
    event, version, cart = recorded.event, recorded.version, str(recorded.aggregate_id)
    match event:
        case CartItemAdded():
            document: dict[str, Any] = {
                "id": member_id(cart, event.item_id),
                "itemId": str(event.item_id),
                "cartId": cart,
                "productName": event.product.name,
                "quantity": event.quantity,
                "unitPrice": event.unit_price.shown(),
                "addedAt": recorded.metadata.timestamp.isoformat(),
                "isDeleted": False,
                "holding": holding(event.inventory_id, event.product),
            }
            if details:
                document |= {
                    "catalogId": str(event.catalog_id),
                    "inventoryId": str(event.inventory_id),
                    "product": event.product.model_dump(mode="json", by_alias=True),
                }
            docs.put(document, version)
        case CartItemIncreased() | CartItemDecreased():
            docs.patch(member_id(cart, event.item_id), {"quantity": event.new_quantity}, version)
        case CartItemRemoved():
            docs.patch(member_id(cart, event.item_id), {"isDeleted": True}, version)
        case CartDiscarded():
            docs.patch_all({"cartId": cart, "isDeleted": False}, {"isDeleted": True}, version)


class PaymentMethodList:
    name = "shopping-cart-payment-method-list"
    aggregate_type = AGGREGATE
    handles = _METHOD_EVENTS
    ignores = _ALL - _METHOD_EVENTS
    collections = {METHOD_LIST: (("cartId", "isDeleted", "addedAt"),)}

    def apply(self, documents: Docs, recorded: RecordedEvent) -> None:
        _apply_method(documents[METHOD_LIST], recorded, details=False)


class PaymentMethodDetails:
    name = "shopping-cart-payment-method-details"
    aggregate_type = AGGREGATE
    handles = _METHOD_EVENTS
    ignores = _ALL - _METHOD_EVENTS
    collections = {METHOD_DETAILS: (("cartId",),)}

    def apply(self, documents: Docs, recorded: RecordedEvent) -> None:
        _apply_method(documents[METHOD_DETAILS], recorded, details=True)


def _apply_method(docs: Documents, recorded: RecordedEvent, *, details: bool) -> None:
    event, version, cart = recorded.event, recorded.version, str(recorded.aggregate_id)
    match event:
        case CreditCardAdded() | DebitCardAdded() | PayPalAdded():
            option = _option(event)
            document: dict[str, Any] = {
                "id": member_id(cart, event.method_id),
                "methodId": str(event.method_id),
                "cartId": cart,
                "amount": event.amount.shown(),
                "option": option if details else option["type"],
                "addedAt": recorded.metadata.timestamp.isoformat(),
                "isDeleted": False,
            }
            docs.put(document, version)
        case PaymentMethodRemoved():
            docs.patch(member_id(cart, event.method_id), {"isDeleted": True}, version)
        case CartDiscarded():
            docs.patch_all({"cartId": cart, "isDeleted": False}, {"isDeleted": True}, version)


PROJECTIONS: tuple[Projection, ...] = (
    CartDetails(),
    CartItemList(),
    CartItemDetails(),
    PaymentMethodList(),
    PaymentMethodDetails(),
)
BY_NAME: dict[str, Projection] = {projection.name: projection for projection in PROJECTIONS}

"""The cart's projector of the Warehouse's answers: each cart item's availability.

The stock reservations (``processes.reservations``) ask an inventory to hold what a cart holds;
the inventory answers with ``InventoryReserved``, ``InventoryNotReserved``, ``StockDepleted`` or,
once the cart gave the stock back, ``InventoryReservationReleased``. This projector keeps the
newest answer per cart and holding (an inventory's one product, ``read_models.holding``) in the
cart's read model ``ShoppingCartItemAvailability``; the cart's item queries show it on each item.

Every answer carries the version of the cart event it answers (``cart_version``), which orders
the document: the answer to the newest cart version wins whatever the delivery order, and a
duplicate (same version) or a late, older answer writes nothing. One answer shares its cart
version with an earlier one: a hold's expiry (the durable timer's release names the cart version
of the hold it ends), so within one cart version the expiry comes after the reservation: the
document's version is ``2 * cart_version``, plus one for an expiry. So unlike the cart's own
projectors it needs no cursor and no gap filling, and it subscribes only to the four answers.

What the inventory holds for the cart (``reservedQuantity``) is ordered otherwise, and kept in a
document of its own (``ShoppingCartItemHold``): by the inventory's version of the answer that set
it (a reservation, a release). The inventory decides the requests as they reach it, not in cart
order: a late, older request may still be reserved after a newer one was refused (the hold a
refusal would have kept), and a hold a refusal kept may expire after it. Each of those is older
than the answer the cart shows, and would have been dropped with it, leaving the hold unshown.

Two answers name the inventory item but not the product (``InventoryNotReserved``,
``InventoryReservationReleased``); the product is looked up by item (``ProductOf``: an item's
product never changes once received, so any later state of the inventory tells it).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from eventualshop.kernel.errors import DeliverLater
from eventualshop.kernel.messages import DomainEvent, RecordedEvent
from eventualshop.kernel.readmodels import ReadModelStore
from eventualshop.kernel.values import Product
from eventualshop.shopping_cart.read_models import AVAILABILITY, HOLDS, availability_id, holding
from eventualshop.warehouse.commands import ReleaseReason
from eventualshop.warehouse.events import (
    InventoryNotReserved,
    InventoryReservationReleased,
    InventoryReserved,
    StockDepleted,
)

#: (inventory id, inventory item id) -> the item's product, or ``None`` if it is not known yet.
ProductOf = Callable[[UUID, UUID], Product | None]
#: The Warehouse events the projector consumes (its Triggers filter on exactly these types).
ANSWERS: tuple[type[DomainEvent], ...] = (
    InventoryReserved,
    InventoryNotReserved,
    StockDepleted,
    InventoryReservationReleased,
)
NAME = "shopping-cart-item-availability"
INDEXES: tuple[tuple[str, ...], ...] = (("cartId",),)


class Availability(StrEnum):
    RESERVED = "reserved"  # the inventory holds the item's quantity for the cart
    NOT_RESERVED = "not-reserved"  # fewer units are available than the quantity asked for
    OUT_OF_STOCK = "out-of-stock"  # nothing of the product is left to hold
    RELEASED = "released"  # given back (item removed, cart discarded, the hold expired)


class ProductUnknown(DeliverLater):
    """The answer's item is not found in its inventory's history yet: deliver it again later."""


#: How many (inventory, item) products a projector remembers before it starts afresh.
PRODUCTS_KEPT = 10_000


class ItemAvailability:
    """Writes the Warehouse's answers into the cart's availability documents."""

    name = NAME
    collection = AVAILABILITY

    def __init__(self, store: ReadModelStore, product_of: ProductOf) -> None:
        self.store = store
        self.product_of = product_of
        # No event changes an inventory item's product, so each is looked up once: a lookup
        # loads the whole inventory, and a busy one answers for many carts.
        self._products: dict[tuple[UUID, UUID], Product] = {}

    def ensure_indexes(self) -> None:
        self.store.ensure_indexes(AVAILABILITY, INDEXES)
        self.store.ensure_indexes(HOLDS, INDEXES)

    def handle(self, recorded: RecordedEvent) -> Literal["applied", "stale", "ignored"]:
        """``stale``: a duplicate, or an answer older than the one the document holds."""
        event = recorded.event
        # What else the answer says, and what the inventory holds for the cart after it
        # (``None``: not said).
        shown: dict[str, Any] = {}
        hold: int | None = None
        match event:
            case InventoryReserved():
                product, state = event.product, Availability.RESERVED
                hold = event.quantity
            case StockDepleted():
                product, state = event.product, Availability.OUT_OF_STOCK
                hold = 0  # nothing left to hold, so the cart holds none of it
            case InventoryNotReserved():
                product = self._product(event.inventory_id, event.item_id)
                state = Availability.NOT_RESERVED
                shown = {"quantityAvailable": event.quantity_available}
                # The hold the refusal left, as the inventory stood then (``None``: none, or a
                # refusal recorded before it told): a hold document may not exist yet, where
                # the answers were projected before holds were kept apart.
                hold = event.quantity_held
            case InventoryReservationReleased():
                product = self._product(event.inventory_id, event.item_id)
                state = Availability.RELEASED
                shown = {"releaseReason": event.reason}
                hold = 0
            case _:
                return "ignored"
        held = holding(event.inventory_id, product)
        key = availability_id(event.cart_id, held)
        applied = False
        if hold is not None:
            applied = self.store.upsert_if_newer(
                HOLDS,
                {
                    "id": key,
                    "cartId": str(event.cart_id),
                    "holding": held,
                    "quantity": hold,
                    "version": recorded.version,  # the inventory's: its order of holds
                },
            )
        document = shown | {
            "id": key,
            "cartId": str(event.cart_id),
            "holding": held,
            "inventoryId": str(event.inventory_id),
            "inventoryItemId": str(event.item_id),
            "availability": state.value,
            "answeredAt": recorded.metadata.timestamp.isoformat(),
            "cartVersion": event.cart_version,
            "version": 2 * event.cart_version + (1 if _expiry(event) else 0),
        }
        applied = self.store.upsert_if_newer(AVAILABILITY, document) or applied
        return "applied" if applied else "stale"

    def _product(self, inventory_id: UUID, item_id: UUID) -> Product:
        key = (inventory_id, item_id)
        product = self._products.get(key)
        if product is None:
            product = self.product_of(inventory_id, item_id)
            if product is None:
                raise ProductUnknown(f"inventory {inventory_id} has no item {item_id} (yet)")
            if len(self._products) >= PRODUCTS_KEPT:
                self._products.clear()
            self._products[key] = product
        return product


def _expiry(event: DomainEvent) -> bool:
    return isinstance(event, InventoryReservationReleased) and event.reason == ReleaseReason.EXPIRED

"""Warehouse events (reference §5.8 "Domain events"). Every one of them is applied by
``inventory.evolve`` (the original had three without an Apply, so raising them threw)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID

from pydantic import Field

from eventualshop.kernel.messages import DomainEvent
from eventualshop.kernel.registry import EventRegistry
from eventualshop.kernel.values import Product, ValueObject


class Reserve(ValueObject):
    """What one cart holds of one item. A released hold stays with quantity 0: its
    ``cart_version`` still tells a late, older reservation that it comes too late. A hold its
    timer released leaves none: the inventory's ``horizon`` tells its cart's older requests."""

    cart_id: UUID
    quantity: int
    cart_version: int = 0
    expiration: datetime | None = None


class InventoryItem(ValueObject):
    id: UUID
    product: Product
    cost: Decimal
    quantity: int
    sku: str
    reserves: tuple[Reserve, ...] = ()
    #: Increases minus decreases by adjustment (already counted in ``quantity``).
    adjustments: int = 0

    @property
    def reserved(self) -> int:
        return sum(r.quantity for r in self.reserves)

    @property
    def available(self) -> int:
        return self.quantity - self.reserved

    def reserve_of(self, cart_id: UUID) -> Reserve | None:
        return next((r for r in self.reserves if r.cart_id == cart_id), None)


def _untold(value: object) -> bool:
    """Fields added to an event are left out of its payload while they say nothing, so the
    previous release (whose events forbid fields they do not know) still reads the event during
    a rolling upgrade and after a rollback; only an event that says something new is new to it."""
    return value is None


class InventoryEvent(DomainEvent):
    inventory_id: UUID


class InventoryCreated(InventoryEvent):
    owner_id: UUID


#: The decimal places of an item's cost: what a client may send and what the item list shows.
COST_DECIMALS = 2


class InventoryItemReceived(InventoryEvent):
    item_id: UUID
    product: Product
    cost: Decimal
    quantity: int
    sku: str


class InventoryItemIncreased(InventoryEvent):
    item_id: UUID
    quantity: int  # received, as in the original
    new_quantity: int


class InventoryItemDecreased(InventoryEvent):
    """Nothing raises it, as nothing raised it in the original: stock leaves by
    ``DecreaseInventoryAdjust`` (``InventoryAdjustmentDecreased``). It stays in the stream's
    vocabulary, applied and projected like the other stock changes."""

    item_id: UUID
    quantity: int
    new_quantity: int


class InventoryAdjustmentIncreased(InventoryEvent):
    item_id: UUID
    reason: str
    quantity: int
    new_quantity: int


class InventoryAdjustmentDecreased(InventoryEvent):
    item_id: UUID
    reason: str
    quantity: int
    new_quantity: int


class InventoryAdjustmentNotDecreased(InventoryEvent):
    """A decrease beyond what is available: recorded, and nothing changes."""

    item_id: UUID
    reason: str
    quantity_desired: int
    quantity_available: int


class InventoryReserved(InventoryEvent):
    """The cart now holds ``quantity`` of the item (replacing what it held before), until
    ``expiration``; ``None`` holds it for the order of a checked-out cart."""

    item_id: UUID
    catalog_id: UUID
    cart_id: UUID
    product: Product
    quantity: int
    expiration: datetime | None
    cart_version: int = 0
    #: Everything reserved of the item afterwards, by every cart: what its read model shows.
    item_reserved: int
    #: The item of the same product (another cost) the cart held its stock on before, when that
    #: item had no room for the new quantity and this one has: the hold moved whole, and
    #: ``moved_from_reserved`` is everything reserved of that item afterwards.
    moved_from: UUID | None = Field(None, exclude_if=_untold)
    moved_from_reserved: int | None = Field(None, exclude_if=_untold)


class InventoryReservationReleased(InventoryEvent):
    """The cart holds nothing of the item any more; ``quantity`` is what it gave back."""

    item_id: UUID
    cart_id: UUID
    quantity: int
    cart_version: int
    reason: str
    item_reserved: int


class InventoryNotReserved(InventoryEvent):
    item_id: UUID
    cart_id: UUID
    quantity_desired: int
    quantity_available: int
    cart_version: int = 0
    #: What the cart still holds of the product: the hold a refused change leaves as it was
    #: (``None``: nothing, or an event recorded before it was told).
    quantity_held: int | None = Field(None, exclude_if=_untold)


class StockDepleted(InventoryEvent):
    """Nothing of the product is left to reserve: recorded, and nothing changes."""

    item_id: UUID
    cart_id: UUID
    product: Product
    cart_version: int = 0


INVENTORY_EVENTS = EventRegistry(
    [
        InventoryCreated,
        InventoryItemReceived,
        InventoryItemIncreased,
        InventoryItemDecreased,
        InventoryAdjustmentIncreased,
        InventoryAdjustmentDecreased,
        InventoryAdjustmentNotDecreased,
        InventoryReserved,
        InventoryReservationReleased,
        InventoryNotReserved,
        StockDepleted,
    ]
)

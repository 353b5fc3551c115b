"""Warehouse events (reference §5.8 "Domain events"). Every one of them is applied by
``inventory.evolve`` (the original had three without an Apply, so raising them threw)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID

from eventualshop.kernel.messages import DomainEvent
from eventualshop.kernel.registry import EventRegistry
from eventualshop.kernel.values import Product, ValueObject


class Reserve(ValueObject):
    cart_id: UUID
    quantity: int
    expiration: datetime


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


class InventoryEvent(DomainEvent):
    inventory_id: UUID


class InventoryCreated(InventoryEvent):
    owner_id: UUID


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
    item_id: UUID
    catalog_id: UUID
    cart_id: UUID
    product: Product
    quantity: int
    expiration: datetime


class InventoryNotReserved(InventoryEvent):
    item_id: UUID
    cart_id: UUID
    quantity_desired: int
    quantity_available: int


class StockDepleted(InventoryEvent):
    """Nothing of the product is left to reserve: recorded, and nothing changes."""

    item_id: UUID
    cart_id: UUID
    product: Product


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
        InventoryNotReserved,
        StockDepleted,
    ]
)

"""Catalog events (reference §5.2 "Domain events"): the facts of a catalog's stream."""

from __future__ import annotations

from uuid import UUID

from eventualshop.kernel.messages import DomainEvent
from eventualshop.kernel.money import Money
from eventualshop.kernel.registry import EventRegistry
from eventualshop.kernel.values import Product, ValueObject


class CatalogItem(ValueObject):
    id: UUID
    inventory_id: UUID
    product: Product
    unit_price: Money
    sku: str
    quantity: int


class CatalogEvent(DomainEvent):
    catalog_id: UUID


class CatalogCreated(CatalogEvent):
    title: str
    description: str


class CatalogDeleted(CatalogEvent):
    pass


class CatalogActivated(CatalogEvent):
    pass


class CatalogDeactivated(CatalogEvent):
    pass


class CatalogTitleChanged(CatalogEvent):
    title: str


class CatalogDescriptionChanged(CatalogEvent):
    description: str


class CatalogItemAdded(CatalogEvent):
    item_id: UUID
    inventory_id: UUID
    product: Product
    unit_price: Money
    sku: str
    quantity: int


class CatalogItemIncreased(CatalogEvent):
    item_id: UUID
    inventory_id: UUID
    quantity: int  # added, as in the original
    new_quantity: int  # so a read model never has to add up deltas


class CatalogItemRemoved(CatalogEvent):
    item_id: UUID


CATALOG_EVENTS = EventRegistry(
    [
        CatalogCreated,
        CatalogDeleted,
        CatalogActivated,
        CatalogDeactivated,
        CatalogTitleChanged,
        CatalogDescriptionChanged,
        CatalogItemAdded,
        CatalogItemIncreased,
        CatalogItemRemoved,
    ]
)

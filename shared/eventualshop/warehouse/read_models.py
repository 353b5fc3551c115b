"""The warehouse's read models (reference §5.8 "Projections") with running quantities.

The original set an item's quantity to each event's delta (and to minus the delta for a
decrease); here every quantity event carries the item's new quantity, and every reservation or
release what the item has reserved in all, so a document always shows ``quantity``,
``reserved`` and ``available`` without adding up deltas. The
cursor of each projection makes every event count once, however often it is delivered.
"""

from __future__ import annotations

from collections.abc import Mapping

from eventualshop.kernel.messages import DomainEvent, RecordedEvent
from eventualshop.kernel.money import plain
from eventualshop.kernel.projection import Documents, Projection
from eventualshop.warehouse.events import (
    COST_DECIMALS,
    InventoryAdjustmentDecreased,
    InventoryAdjustmentIncreased,
    InventoryAdjustmentNotDecreased,
    InventoryCreated,
    InventoryItemDecreased,
    InventoryItemIncreased,
    InventoryItemReceived,
    InventoryNotReserved,
    InventoryReservationReleased,
    InventoryReserved,
    StockDepleted,
)

AGGREGATE = "Inventory"
GRID = "InventoryGridItem"
ITEM_LIST = "InventoryItemListItem"

Docs = Mapping[str, Documents]
_ALL: frozenset[type[DomainEvent]] = frozenset(
    {
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
    }
)
_GRID_EVENTS: frozenset[type[DomainEvent]] = frozenset({InventoryCreated, InventoryItemReceived})
_ITEM_EVENTS: frozenset[type[DomainEvent]] = frozenset(
    {
        InventoryItemReceived,
        InventoryItemIncreased,
        InventoryItemDecreased,
        InventoryAdjustmentIncreased,
        InventoryAdjustmentDecreased,
        InventoryReserved,
        InventoryReservationReleased,
    }
)


def member_id(inventory_id: object, item_id: object) -> str:
    """An item's document id: unique per inventory, since clients may reuse item ids."""
    return f"{inventory_id}:{item_id}"


class InventoryGrid:
    name = "warehouse-inventory-grid"
    aggregate_type = AGGREGATE
    handles = _GRID_EVENTS
    ignores = _ALL - _GRID_EVENTS
    collections = {GRID: (("isDeleted", "createdAt"),)}

    def apply(self, documents: Docs, recorded: RecordedEvent) -> None:
        docs, event, version = documents[GRID], recorded.event, recorded.version
        inventory = str(recorded.aggregate_id)
        match event:
            case InventoryCreated():
                docs.put(
                    {
                        "id": inventory,
                        "inventoryId": inventory,
                        "ownerId": str(event.owner_id),
                        "totalItems": 0,
                        "createdAt": recorded.metadata.timestamp.isoformat(),
                        "isDeleted": False,
                    },
                    version,
                )
            case InventoryItemReceived():
                current = docs.get(inventory)
                if current is not None:
                    docs.patch(inventory, {"totalItems": current["totalItems"] + 1}, version)


class InventoryItemList:
    name = "warehouse-inventory-item-list"
    aggregate_type = AGGREGATE
    handles = _ITEM_EVENTS
    ignores = _ALL - _ITEM_EVENTS
    collections = {ITEM_LIST: (("inventoryId", "isDeleted", "addedAt"),)}

    def apply(self, documents: Docs, recorded: RecordedEvent) -> None:
        docs, event, version = documents[ITEM_LIST], recorded.event, recorded.version
        inventory = str(recorded.aggregate_id)
        match event:
            case InventoryItemReceived():
                docs.put(
                    {
                        "id": member_id(inventory, event.item_id),
                        "inventoryId": inventory,
                        "itemId": str(event.item_id),
                        "product": event.product.model_dump(mode="json", by_alias=True),
                        "sku": event.sku,
                        "cost": plain(event.cost, COST_DECIMALS),
                        "quantity": event.quantity,
                        "reserved": 0,
                        "available": event.quantity,
                        "addedAt": recorded.metadata.timestamp.isoformat(),
                        "isDeleted": False,
                    },
                    version,
                )
            case (
                InventoryItemIncreased()
                | InventoryItemDecreased()
                | InventoryAdjustmentIncreased()
                | InventoryAdjustmentDecreased()
            ):
                _set(
                    docs, member_id(inventory, event.item_id), version, quantity=event.new_quantity
                )
            case InventoryReserved() | InventoryReservationReleased():
                key = member_id(inventory, event.item_id)
                _set(docs, key, version, reserved=event.item_reserved)
                if isinstance(event, InventoryReserved) and event.moved_from is not None:
                    left = member_id(inventory, event.moved_from)
                    _set(docs, left, version, reserved=event.moved_from_reserved)


def _set(
    docs: Documents,
    key: str,
    version: int,
    *,
    quantity: int | None = None,
    reserved: int | None = None,
) -> None:
    current = docs.get(key)
    if current is None:
        return  # not reached: the projector fills a gap before a later event
    quantity = current["quantity"] if quantity is None else quantity
    reserved = current["reserved"] if reserved is None else reserved
    docs.patch(
        key,
        {"quantity": quantity, "reserved": reserved, "available": quantity - reserved},
        version,
    )


PROJECTIONS: tuple[Projection, ...] = (InventoryGrid(), InventoryItemList())
BY_NAME: dict[str, Projection] = {projection.name: projection for projection in PROJECTIONS}

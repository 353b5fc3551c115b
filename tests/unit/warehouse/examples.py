"""Commands and events of the warehouse's use cases, named after what they are."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

from eventualshop.kernel.values import Product
from eventualshop.warehouse.commands import CreateInventory, ReceiveInventoryItem
from eventualshop.warehouse.events import InventoryCreated, InventoryItemReceived

INVENTORY_ID = UUID("0a4e0000-0000-4000-8000-000000000001")
OWNER_ID = UUID("0a4e0000-0000-4000-8000-0000000000f1")
ITEM_ID = UUID("0a4e0000-0000-4000-8000-0000000000a1")
OTHER_ITEM_ID = UUID("0a4e0000-0000-4000-8000-0000000000a2")
CATALOG_ID = UUID("0a4e0000-0000-4000-8000-0000000000c1")
CART_ID = UUID("0a4e0000-0000-4000-8000-0000000000d1")
OTHER_CART_ID = UUID("0a4e0000-0000-4000-8000-0000000000d2")
EXPIRATION = datetime(2024, 5, 17, 10, 0, tzinfo=UTC)

PHONE = Product(
    description="A phone",
    name="Phone",
    brand="Apple",
    category="Phones",
    unit="Unit",
    sku="IP-1",
)
CASE = PHONE.model_copy(update={"name": "Case", "sku": "CS-1"})


def create() -> CreateInventory:
    return CreateInventory(inventory_id=INVENTORY_ID, owner_id=OWNER_ID)


def created() -> InventoryCreated:
    return InventoryCreated(inventory_id=INVENTORY_ID, owner_id=OWNER_ID)


def receive(
    product: Product = PHONE, cost: str = "100", quantity: int = 5, item_id: UUID = ITEM_ID
) -> ReceiveInventoryItem:
    return ReceiveInventoryItem(
        inventory_id=INVENTORY_ID,
        item_id=item_id,
        product=product,
        cost=Decimal(cost),
        quantity=quantity,
    )


def received(
    product: Product = PHONE,
    cost: str = "100",
    quantity: int = 5,
    item_id: UUID = ITEM_ID,
    sku: str = "APPHUN1",
) -> InventoryItemReceived:
    return InventoryItemReceived(
        inventory_id=INVENTORY_ID,
        item_id=item_id,
        product=product,
        cost=Decimal(cost),
        quantity=quantity,
        sku=sku,
    )

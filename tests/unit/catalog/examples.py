"""Commands and events of the catalog's use cases, named after what they are."""

from __future__ import annotations

from uuid import UUID

from eventualshop.catalog.commands import AddCatalogItem, CreateCatalog
from eventualshop.catalog.events import CatalogCreated, CatalogItemAdded
from eventualshop.kernel.money import Money
from eventualshop.kernel.values import Product

CATALOG_ID = UUID("0ca7a100-0000-4000-8000-000000000001")
OTHER_CATALOG_ID = UUID("0ca7a100-0000-4000-8000-000000000002")
ITEM_ID = UUID("0ca7a100-0000-4000-8000-0000000000a1")
OTHER_ITEM_ID = UUID("0ca7a100-0000-4000-8000-0000000000a2")
INVENTORY_ID = UUID("0ca7a100-0000-4000-8000-0000000000b1")
OTHER_INVENTORY_ID = UUID("0ca7a100-0000-4000-8000-0000000000b2")

KEYBOARD = Product(
    description="A mechanical keyboard",
    name="Keyboard",
    brand="Keyco",
    category="Peripherals",
    unit="Unit",
    sku="KB-1",
)
MOUSE = KEYBOARD.model_copy(update={"name": "Mouse", "sku": "MS-1"})


def create(catalog_id: UUID = CATALOG_ID) -> CreateCatalog:
    return CreateCatalog(catalog_id=catalog_id, title="Summer", description="Hot deals")


def created(catalog_id: UUID = CATALOG_ID) -> CatalogCreated:
    return CatalogCreated(catalog_id=catalog_id, title="Summer", description="Hot deals")


def add_item(
    product: Product = KEYBOARD,
    price: str = "10.00",
    quantity: int = 3,
    item_id: UUID = ITEM_ID,
    catalog_id: UUID = CATALOG_ID,
    inventory_id: UUID = INVENTORY_ID,
) -> AddCatalogItem:
    return AddCatalogItem.model_validate(
        {
            "catalogId": catalog_id,
            "itemId": item_id,
            "inventoryId": inventory_id,
            "product": product,
            "unitPrice": {"amount": price, "currency": "USD"},
            "sku": product.sku,
            "quantity": quantity,
        }
    )


def item_added(
    product: Product = KEYBOARD,
    price: str = "10.00",
    quantity: int = 3,
    item_id: UUID = ITEM_ID,
    inventory_id: UUID = INVENTORY_ID,
) -> CatalogItemAdded:
    return CatalogItemAdded(
        catalog_id=CATALOG_ID,
        item_id=item_id,
        inventory_id=inventory_id,
        product=product,
        unit_price=Money.of(price, "USD"),
        sku=product.sku,
        quantity=quantity,
    )

"""The Warehouse context as the platform sees it: the original's v1 routes (reference §7.4 rows
48-53), with the original's query-string parameters, and ``API_V2``, the v2 row of 48. Plain
data: reading it imports no domain module.

The Warehouse is the back office: every route, reads included, is the admin's. Its read models
show costs, stock counts and what carts hold, which are the shop's business, not a customer's;
the storefront learns what it may sell from the Catalog (anonymous reads) and the cart's own
availability projection, never from these routes."""

from eventualshop.kernel.declaration import BoundedContext, CommandRoute, QueryRoute

_ADJUST = {"quantity": "quantity", "reason": "reason"}

WAREHOUSE = BoundedContext(
    name="warehouse",
    package="eventualshop.warehouse",
    aggregate="eventualshop.warehouse.inventory:INVENTORY",
    aggregate_type="Inventory",
    routes="/api/v1/warehouses",
    location="/{aggregateId}/items",
    commands=(
        CommandRoute("CreateInventory", "POST", "", query={"ownerId": "ownerId"}, access="admin"),
        CommandRoute(
            "ReceiveInventoryItem",
            "POST",
            "/{inventoryId}/items",
            query={"cost": "cost", "quantity": "quantity"},
            body_field="product",
            access="admin",
        ),
        CommandRoute(
            "IncreaseInventoryAdjust",
            "PUT",
            "/{inventoryId}/items/{itemId}/increase-adjust",
            query=_ADJUST,
            access="admin",
        ),
        CommandRoute(
            "DecreaseInventoryAdjust",
            "PUT",
            "/{inventoryId}/items/{itemId}/decrease-adjust",
            query=_ADJUST,
            access="admin",
        ),
    ),
    queries=(
        QueryRoute("list_inventories", "", access="admin"),
        QueryRoute("list_inventory_items", "/{inventoryId}/items", access="admin"),
    ),
    projections=("warehouse-inventory-grid", "warehouse-inventory-item-list"),
    configure="eventualshop.warehouse.settings:configure",
)

#: The query routes the original also served under ``/api/v2`` with the same behaviour (row 48).
API_V2 = ("list_inventories",)

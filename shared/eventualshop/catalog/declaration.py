"""The Catalog context as the platform sees it: the original's v1 routes (reference §7.4 rows
7-18), the two the web app and the load test call (§8.3, §9.2: ``GET /catalogs`` and
``GET /catalogs/items``) and one catalog's own document, where a command's ``Location`` points.
Plain data: reading it imports no domain module. The v2 rows of the original's API (reference
§7.4) are ``API_V2``.

Who may: the reads are the storefront's (anonymous), every write is the back office's (admin)."""

from eventualshop.kernel.declaration import BoundedContext, CommandRoute, QueryRoute

CATALOG = BoundedContext(
    name="catalog",
    package="eventualshop.catalog",
    aggregate="eventualshop.catalog.catalog:CATALOG",
    aggregate_type="Catalog",
    routes="/api/v1/catalogs",
    location="/{aggregateId}",
    commands=(
        CommandRoute("CreateCatalog", "POST", "", access="admin"),
        CommandRoute("DeleteCatalog", "DELETE", "/{catalogId}", access="admin"),
        CommandRoute("ActivateCatalog", "PUT", "/{catalogId}/activate", access="admin"),
        CommandRoute("DeactivateCatalog", "PUT", "/{catalogId}/deactivate", access="admin"),
        CommandRoute(
            "ChangeCatalogDescription",
            "PUT",
            "/{catalogId}/description",
            query={"description": "description"},
            access="admin",
        ),
        CommandRoute(
            "ChangeCatalogTitle",
            "PUT",
            "/{catalogId}/title",
            query={"title": "title"},
            access="admin",
        ),
        CommandRoute("AddCatalogItem", "POST", "/{catalogId}/items", access="admin"),
        CommandRoute("RemoveCatalogItem", "DELETE", "/{catalogId}/items/{itemId}", access="admin"),
    ),
    queries=(
        QueryRoute("list_catalogs", "", access="anonymous"),
        QueryRoute("list_catalog_grid_items", "/grid-items", access="anonymous"),
        QueryRoute("list_storefront_items", "/items", access="anonymous"),
        QueryRoute("get_catalog", "/{catalogId}", access="anonymous"),
        QueryRoute("list_catalog_items", "/{catalogId}/items/list-items", access="anonymous"),
        QueryRoute("list_catalog_item_cards", "/{catalogId}/items/cards", access="anonymous"),
        QueryRoute(
            "get_catalog_item_details", "/{catalogId}/items/{itemId}/details", access="anonymous"
        ),
    ),
    projections=(
        "catalog-grid",
        "catalog-item-list",
        "catalog-item-cards",
        "catalog-item-details",
    ),
)

#: The query routes the original also served under ``/api/v2`` with the same behaviour (row 8).
API_V2 = ("list_catalog_grid_items",)

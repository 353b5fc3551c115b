"""The catalog's queries (reference §5.2 "Queries", §9.2) over the read-model store port.

Answers are shaped like the original's gRPC messages (``catalogId``, ``itemId``); tombstones
(deleted catalogs, removed items) are not found.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from eventualshop.catalog.read_models import CARDS, DETAILS, GRID, ITEM_LIST, member_id
from eventualshop.kernel.paging import Page, Paging, page
from eventualshop.kernel.readmodels import Filters, ReadModelStore

_INTERNAL = frozenset({"id", "isDeleted", "addedAt", "createdAt", "catalogActive"})


def _shape(document: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in _INTERNAL}


def _list(
    store: ReadModelStore, collection: str, filters: Filters, paging: Paging, by: str
) -> Page:
    return page(
        lambda limit, offset: store.find(
            collection,
            {**filters, "isDeleted": False},
            sort=[(by, "asc")],
            limit=limit,
            offset=offset,
        ),
        paging,
        _shape,
    )


def list_catalogs(store: ReadModelStore, paging: Paging) -> Page:
    """The grid, as the web app asks for it (``GET /catalogs``)."""
    return _list(store, GRID, {}, paging, "createdAt")


def list_catalog_grid_items(store: ReadModelStore, paging: Paging) -> Page:
    """The original's route for the grid (``GET /catalogs/grid-items``)."""
    return list_catalogs(store, paging)


def get_catalog(store: ReadModelStore, catalog_id: UUID) -> dict[str, Any] | None:
    document = store.get(GRID, str(catalog_id))
    if document is None or document.get("isDeleted"):
        return None
    return _shape(document)


def list_storefront_items(store: ReadModelStore, paging: Paging) -> Page:
    """The cards of every active catalog: the storefront listing (``GET /catalogs/items``)."""
    return _list(store, CARDS, {"catalogActive": True}, paging, "addedAt")


def list_catalog_items(store: ReadModelStore, catalog_id: UUID, paging: Paging) -> Page:
    return _list(store, ITEM_LIST, {"catalogId": str(catalog_id)}, paging, "addedAt")


def list_catalog_item_cards(store: ReadModelStore, catalog_id: UUID, paging: Paging) -> Page:
    return _list(store, CARDS, {"catalogId": str(catalog_id)}, paging, "addedAt")


def get_catalog_item_details(
    store: ReadModelStore, catalog_id: UUID, item_id: UUID
) -> dict[str, Any] | None:
    document = store.get(DETAILS, member_id(catalog_id, item_id))
    if document is None or document.get("isDeleted"):
        return None
    return _shape(document)

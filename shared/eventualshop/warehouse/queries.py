"""The warehouse's queries (reference §5.8 "Queries") over the read-model store port."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from eventualshop.kernel.paging import Page, Paging, page
from eventualshop.kernel.readmodels import Filters, ReadModelStore
from eventualshop.warehouse.read_models import GRID, ITEM_LIST

_INTERNAL = frozenset({"id", "isDeleted", "addedAt", "createdAt"})


def _shape(document: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in _INTERNAL}


def _list(
    store: ReadModelStore, collection: str, filters: Filters, paging: Paging, by: str
) -> Page:
    live: Filters = {**filters, "isDeleted": False}
    return page(
        lambda limit, offset: store.find(
            collection, live, sort=[(by, "asc")], limit=limit, offset=offset
        ),
        paging,
        _shape,
    )


def list_inventories(store: ReadModelStore, paging: Paging) -> Page:
    return _list(store, GRID, {}, paging, "createdAt")


def list_inventory_items(store: ReadModelStore, inventory_id: UUID, paging: Paging) -> Page:
    return _list(store, ITEM_LIST, {"inventoryId": str(inventory_id)}, paging, "addedAt")

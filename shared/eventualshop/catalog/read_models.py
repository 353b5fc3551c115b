"""The catalog's read models (reference §5.2 "Projections") and how each event changes them.

Four projections, each fed with every event of a catalog's stream, each keeping every read model
up to date with every event that changes it (the original never reached its grid's title and
description handlers and never removed cards or details). A removed item or a deleted catalog
stays as a tombstone (``isDeleted``) that queries skip, so a late event cannot bring it back.

The cards also say whether their catalog is active (``catalogActive``): the storefront listing
is the cards of every active catalog, one indexed ``find``. A card added to an already active
catalog learns it from the projection's own per-catalog note (``CatalogItemCardCatalog``), not
from another read model, which has a cursor of its own and could lag behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from eventualshop.catalog.events import (
    CatalogActivated,
    CatalogCreated,
    CatalogDeactivated,
    CatalogDeleted,
    CatalogDescriptionChanged,
    CatalogItemAdded,
    CatalogItemIncreased,
    CatalogItemRemoved,
    CatalogTitleChanged,
)
from eventualshop.kernel.messages import DomainEvent, RecordedEvent
from eventualshop.kernel.projection import Documents, Projection

AGGREGATE = "Catalog"
GRID = "CatalogGridItem"
ITEM_LIST = "CatalogItemListItem"
CARDS = "CatalogItemCard"
CARD_CATALOGS = "CatalogItemCardCatalog"
DETAILS = "CatalogItemDetails"

Docs = Mapping[str, Documents]

_ALL: frozenset[type[DomainEvent]] = frozenset(
    {
        CatalogCreated,
        CatalogDeleted,
        CatalogActivated,
        CatalogDeactivated,
        CatalogTitleChanged,
        CatalogDescriptionChanged,
        CatalogItemAdded,
        CatalogItemIncreased,
        CatalogItemRemoved,
    }
)
_ITEM_EVENTS: frozenset[type[DomainEvent]] = frozenset(
    {CatalogItemAdded, CatalogItemIncreased, CatalogItemRemoved, CatalogDeleted}
)
_CARD_EVENTS: frozenset[type[DomainEvent]] = frozenset(
    {
        CatalogCreated,
        CatalogItemAdded,
        CatalogItemRemoved,
        CatalogDeleted,
        CatalogActivated,
        CatalogDeactivated,
    }
)


def member_id(catalog_id: object, item_id: object) -> str:
    """An item's document id: unique per catalog, since clients may reuse item ids elsewhere."""
    return f"{catalog_id}:{item_id}"


def image_url(sku: str) -> str:
    # The original computed https://localhost:5001/images/{Sku}.jpg but stored "image url";
    # a path relative to the shop serves every deployment. The SKU is the client's text, so it
    # is escaped as one path segment: "/", "?", "#" or a space would make another URL of it.
    return f"/images/{quote(sku, safe='')}.jpg"


class CatalogGrid:
    name = "catalog-grid"
    aggregate_type = AGGREGATE
    handles = _ALL - {CatalogItemIncreased}
    ignores: frozenset[type[DomainEvent]] = frozenset({CatalogItemIncreased})
    collections = {GRID: (("isDeleted", "createdAt"),)}

    def apply(self, documents: Docs, recorded: RecordedEvent) -> None:
        docs, event, version = documents[GRID], recorded.event, recorded.version
        catalog = str(recorded.aggregate_id)
        match event:
            case CatalogCreated():
                docs.put(
                    {
                        "id": catalog,
                        "catalogId": catalog,
                        "title": event.title,
                        "description": event.description,
                        "imageUrl": image_url(catalog),
                        "isActive": False,
                        "itemCount": 0,
                        "createdAt": recorded.metadata.timestamp.isoformat(),
                        "isDeleted": False,
                    },
                    version,
                )
            case CatalogActivated():
                docs.patch(catalog, {"isActive": True}, version)
            case CatalogDeactivated():
                docs.patch(catalog, {"isActive": False}, version)
            case CatalogTitleChanged():
                docs.patch(catalog, {"title": event.title}, version)
            case CatalogDescriptionChanged():
                docs.patch(catalog, {"description": event.description}, version)
            case CatalogItemAdded() | CatalogItemRemoved():
                # The items the catalog has now: a removed one counted for good before.
                step = 1 if isinstance(event, CatalogItemAdded) else -1
                current = docs.get(catalog)
                if current is not None:
                    docs.patch(catalog, {"itemCount": current["itemCount"] + step}, version)
            case CatalogDeleted():
                docs.patch(catalog, {"isActive": False, "isDeleted": True}, version)


class CatalogItemList:
    name = "catalog-item-list"
    aggregate_type = AGGREGATE
    handles = _ITEM_EVENTS
    ignores = _ALL - _ITEM_EVENTS
    collections = {ITEM_LIST: (("catalogId", "isDeleted", "addedAt"),)}

    def apply(self, documents: Docs, recorded: RecordedEvent) -> None:
        _apply_item(documents[ITEM_LIST], recorded, details=False)


class CatalogItemDetails:
    name = "catalog-item-details"
    aggregate_type = AGGREGATE
    handles = _ITEM_EVENTS
    ignores = _ALL - _ITEM_EVENTS
    collections = {DETAILS: (("catalogId",),)}

    def apply(self, documents: Docs, recorded: RecordedEvent) -> None:
        _apply_item(documents[DETAILS], recorded, details=True)


def _apply_item(docs: Documents, recorded: RecordedEvent, *, details: bool) -> None:
    event, version, catalog = recorded.event, recorded.version, str(recorded.aggregate_id)
    match event:
        case CatalogItemAdded():
            document: dict[str, Any] = {
                "id": member_id(catalog, event.item_id),
                "catalogId": catalog,
                "itemId": str(event.item_id),
                "productName": event.product.name,
                "quantity": event.quantity,
                "addedAt": recorded.metadata.timestamp.isoformat(),
                "isDeleted": False,
            }
            if details:
                document |= {
                    "inventoryId": str(event.inventory_id),
                    "product": event.product.model_dump(mode="json", by_alias=True),
                    "description": event.product.description,
                    "unitPrice": event.unit_price.shown(),
                    "sku": event.sku,
                    "imageUrl": image_url(event.sku),
                }
            docs.put(document, version)
        case CatalogItemIncreased():
            docs.patch(member_id(catalog, event.item_id), {"quantity": event.new_quantity}, version)
        case CatalogItemRemoved():
            docs.patch(member_id(catalog, event.item_id), {"isDeleted": True}, version)
        case CatalogDeleted():
            docs.patch_all({"catalogId": catalog, "isDeleted": False}, {"isDeleted": True}, version)


class CatalogItemCards:
    name = "catalog-item-cards"
    aggregate_type = AGGREGATE
    handles = _CARD_EVENTS
    ignores = _ALL - _CARD_EVENTS
    collections = {
        CARDS: (("catalogId", "isDeleted", "addedAt"), ("catalogActive", "isDeleted", "addedAt")),
        CARD_CATALOGS: (),
    }

    def apply(self, documents: Docs, recorded: RecordedEvent) -> None:
        cards, catalogs = documents[CARDS], documents[CARD_CATALOGS]
        event, version, catalog = recorded.event, recorded.version, str(recorded.aggregate_id)
        match event:
            case CatalogCreated():
                catalogs.put({"id": catalog, "isActive": False}, version)
            case CatalogActivated() | CatalogDeactivated():
                active = isinstance(event, CatalogActivated)
                catalogs.patch(catalog, {"isActive": active}, version)
                cards.patch_all({"catalogId": catalog}, {"catalogActive": active}, version)
            case CatalogItemAdded():
                note = catalogs.get(catalog)
                cards.put(
                    {
                        "id": member_id(catalog, event.item_id),
                        "catalogId": catalog,
                        "itemId": str(event.item_id),
                        "product": event.product.model_dump(mode="json", by_alias=True),
                        "description": event.product.description,
                        "unitPrice": event.unit_price.shown(),
                        "imageUrl": image_url(event.sku),
                        "catalogActive": bool(note and note["isActive"]),
                        "addedAt": recorded.metadata.timestamp.isoformat(),
                        "isDeleted": False,
                    },
                    version,
                )
            case CatalogItemRemoved():
                cards.patch(member_id(catalog, event.item_id), {"isDeleted": True}, version)
            case CatalogDeleted():
                catalogs.patch(catalog, {"isActive": False}, version)
                cards.patch_all(
                    {"catalogId": catalog},
                    {"isDeleted": True, "catalogActive": False},
                    version,
                )


PROJECTIONS: tuple[Projection, ...] = (
    CatalogGrid(),
    CatalogItemList(),
    CatalogItemCards(),
    CatalogItemDetails(),
)
BY_NAME: dict[str, Projection] = {projection.name: projection for projection in PROJECTIONS}

"""The cart's queries (reference §5.7 "Queries") over the read-model store port.

Each answer is shaped like the original's gRPC messages (``cartId``, ``itemId``, ``methodId``);
tombstones (discarded carts, removed items and payment methods) are not found.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from eventualshop.kernel.paging import Page, Paging, page
from eventualshop.kernel.readmodels import Filters, ReadModelStore, Sort
from eventualshop.shopping_cart.read_models import (
    DETAILS,
    ITEM_DETAILS,
    ITEM_LIST,
    METHOD_DETAILS,
    METHOD_LIST,
    member_id,
)

_INTERNAL = frozenset({"id", "isDeleted", "sameBillingShipping", "addedAt", "createdAt"})


def _shape(document: Mapping[str, Any], key: str) -> dict[str, Any]:
    # Items and payment methods carry their own id (``itemId``, ``methodId``) besides ``id``.
    shown = {k: v for k, v in document.items() if k not in _INTERNAL}
    return {key: document.get(key, document["id"]), **shown}


def _live(store: ReadModelStore, collection: str, id: UUID | str) -> dict[str, Any] | None:
    document = store.get(collection, str(id))
    if document is None or document.get("isDeleted"):
        return None
    return document


def get_cart_details(store: ReadModelStore, cart_id: UUID) -> dict[str, Any] | None:
    document = _live(store, DETAILS, cart_id)
    return _shape(document, "cartId") if document else None


def get_customer_cart_details(store: ReadModelStore, customer_id: UUID) -> dict[str, Any] | None:
    """The customer's active cart, else their most recent one (checked out), else none."""
    # Two look-ups, not a scan of the newest few: an active cart may be older than any number
    # of checked-out ones.
    customer: Filters = {"customerId": str(customer_id), "isDeleted": False}
    newest: Sort = [("createdAt", "desc")]
    chosen = store.find(DETAILS, {**customer, "status": "Active"}, sort=newest, limit=1)
    chosen = chosen or store.find(DETAILS, customer, sort=newest, limit=1)
    return _shape(chosen[0], "cartId") if chosen else None


def _in_cart(
    store: ReadModelStore, collection: str, cart_id: UUID, id: UUID, key: str
) -> dict[str, Any] | None:
    document = _live(store, collection, member_id(cart_id, id))
    if document is None or document["cartId"] != str(cart_id):
        return None
    return _shape(document, key)


def get_cart_item_details(
    store: ReadModelStore, cart_id: UUID, item_id: UUID
) -> dict[str, Any] | None:
    return _in_cart(store, ITEM_DETAILS, cart_id, item_id, "itemId")


def get_payment_method_details(
    store: ReadModelStore, cart_id: UUID, method_id: UUID
) -> dict[str, Any] | None:
    return _in_cart(store, METHOD_DETAILS, cart_id, method_id, "methodId")


def _list(store: ReadModelStore, collection: str, cart_id: UUID, paging: Paging, key: str) -> Page:
    filters: Filters = {"cartId": str(cart_id), "isDeleted": False}
    return page(
        lambda limit, offset: store.find(
            collection, filters, sort=[("addedAt", "asc")], limit=limit, offset=offset
        ),
        paging,
        lambda document: _shape(document, key),
    )


def list_cart_items(store: ReadModelStore, cart_id: UUID, paging: Paging) -> Page:
    return _list(store, ITEM_LIST, cart_id, paging, "itemId")


def list_payment_methods(store: ReadModelStore, cart_id: UUID, paging: Paging) -> Page:
    return _list(store, METHOD_LIST, cart_id, paging, "methodId")

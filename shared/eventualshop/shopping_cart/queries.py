"""The cart's queries (reference §5.7 "Queries") over the read-model store port.

Each answer is shaped like the original's gRPC messages (``cartId``, ``itemId``, ``methodId``);
tombstones (discarded carts, removed items and payment methods) are not found. An item also
shows its ``availability``: the Warehouse's answer to what the cart asked it to hold for the
item's current quantity (``reserved``, ``not-reserved``, ``out-of-stock``, ``released``), or
``pending`` while that answer has not been projected yet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from eventualshop.kernel.paging import Page, Paging, page
from eventualshop.kernel.readmodels import Document, Filters, ReadModelStore, Sort
from eventualshop.shopping_cart.read_models import (
    AVAILABILITY,
    DETAILS,
    HOLDS,
    ITEM_DETAILS,
    ITEM_LIST,
    METHOD_DETAILS,
    METHOD_LIST,
    availability_id,
    member_id,
)

_INTERNAL = frozenset({"id", "isDeleted", "sameBillingShipping", "addedAt", "createdAt", "holding"})
#: What an item shows until the Warehouse's answer about its current quantity is projected.
PENDING = "pending"


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


def _member(
    store: ReadModelStore, collection: str, cart_id: UUID, id: UUID
) -> dict[str, Any] | None:
    """An item or payment method of this cart (an id of another cart's member is not found)."""
    document = _live(store, collection, member_id(cart_id, id))
    if document is None or document["cartId"] != str(cart_id):
        return None
    return document


def availability(item: Mapping[str, Any], answer: Mapping[str, Any] | None) -> str:
    """The item's availability from the Warehouse's latest answer about its holding.

    Both carry cart versions: the item the version of the last cart event that changed it, the
    answer the version of the cart event it answers. An answer older than the item's last change
    (a quantity changed, or the item added again after a removal) says nothing about the item
    as it is now, so the item is ``pending`` until the newer answer arrives.
    """
    if answer is None:
        return PENDING
    # ``version`` orders the answers (see ``processes.availability``); ``cartVersion`` is the cart
    # version answered (documents written before it existed have only ``version``).
    if int(answer.get("cartVersion", answer["version"])) < int(item["version"]):
        return PENDING
    return str(answer["availability"])


#: The Warehouse's answer and hold about one holding of a cart.
Answered = tuple[Document | None, Document | None]


def _answers(store: ReadModelStore, cart_id: UUID) -> dict[str, Answered]:
    """The Warehouse's answers and holds about the cart, by holding (a cart holds a handful)."""
    cart = {"cartId": str(cart_id)}
    answers = {a["holding"]: a for a in store.find(AVAILABILITY, cart)}
    holds = {h["holding"]: h for h in store.find(HOLDS, cart)}
    return {held: (answers.get(held), holds.get(held)) for held in answers.keys() | holds.keys()}


def _held(answer: Mapping[str, Any] | None, hold: Mapping[str, Any] | None) -> int | None:
    """What the inventory holds for the item now: while a change is ``pending`` or
    ``not-reserved``, the earlier hold stands. ``null`` while no answer says; 0 once one did and
    nothing was ever held (an answer written before holds were kept apart says it itself)."""
    if hold is not None:
        return int(hold["quantity"])
    if answer is None:
        return None
    held = answer.get("reservedQuantity", 0)
    return None if held is None else int(held)


def _item(document: Mapping[str, Any], answered: Answered) -> dict[str, Any]:
    answer, hold = answered
    return {
        **_shape(document, "itemId"),
        "availability": availability(document, answer),
        "reservedQuantity": _held(answer, hold),
    }


def get_cart_item_details(
    store: ReadModelStore, cart_id: UUID, item_id: UUID
) -> dict[str, Any] | None:
    document = _member(store, ITEM_DETAILS, cart_id, item_id)
    if document is None:
        return None
    held = document.get("holding")
    if not held:
        return _item(document, (None, None))
    key = availability_id(cart_id, held)
    return _item(document, (store.get(AVAILABILITY, key), store.get(HOLDS, key)))


def get_payment_method_details(
    store: ReadModelStore, cart_id: UUID, method_id: UUID
) -> dict[str, Any] | None:
    document = _member(store, METHOD_DETAILS, cart_id, method_id)
    return _shape(document, "methodId") if document else None


def _list(
    store: ReadModelStore,
    collection: str,
    cart_id: UUID,
    paging: Paging,
    shape: Callable[[Mapping[str, Any]], Mapping[str, Any]],
) -> Page:
    """The cart's live members in the order they were added, a page at a time."""
    filters: Filters = {"cartId": str(cart_id), "isDeleted": False}
    return page(
        lambda limit, offset: store.find(
            collection, filters, sort=[("addedAt", "asc")], limit=limit, offset=offset
        ),
        paging,
        shape,
    )


def list_cart_items(store: ReadModelStore, cart_id: UUID, paging: Paging) -> Page:
    answers = _answers(store, cart_id)
    return _list(
        store,
        ITEM_LIST,
        cart_id,
        paging,
        lambda document: _item(document, answers.get(document.get("holding", ""), (None, None))),
    )


def list_payment_methods(store: ReadModelStore, cart_id: UUID, paging: Paging) -> Page:
    return _list(store, METHOD_LIST, cart_id, paging, lambda document: _shape(document, "methodId"))

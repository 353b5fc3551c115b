"""Account queries (reference §5.1 and §7.4 rows 1, 3, 6), with the billing twin of row 6 and
the address lists filtered by account (the original listed every account's addresses)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from eventualshop.account.read_models import BILLING_LIST, DETAILS, SHIPPING_LIST
from eventualshop.kernel.paging import Page, Paging, page
from eventualshop.kernel.readmodels import Filters, ReadModelStore, Sort

_DETAILS = ("accountId", "firstName", "lastName", "email", "status")
_ADDRESS = ("addressId", "accountId", "address", "isPrimary")


def _shape(fields: tuple[str, ...]) -> Any:
    def shape(document: Mapping[str, Any]) -> dict[str, Any]:
        return {k: document.get(k) for k in fields}

    return shape


def get_account_details(store: ReadModelStore, account_id: UUID) -> dict[str, Any] | None:
    document = store.get(DETAILS, str(account_id))
    if document is None or document.get("isDeleted"):
        return None
    shown: dict[str, Any] = _shape(_DETAILS)(document)
    return shown


def list_accounts_details(store: ReadModelStore, paging: Paging) -> Page:
    return page(
        lambda limit, offset: store.find(
            DETAILS, {"isDeleted": False}, sort=[("id", "asc")], limit=limit, offset=offset
        ),
        paging,
        _shape(_DETAILS),
    )


def _addresses(store: ReadModelStore, collection: str, account_id: UUID, paging: Paging) -> Page:
    live: Filters = {"accountId": str(account_id), "isDeleted": False}
    # In one order, or offset paging may show an address twice and another never (no store
    # promises an order without one): by id, as the accounts' list.
    by_id: Sort = [("id", "asc")]
    return page(
        lambda limit, offset: store.find(collection, live, sort=by_id, limit=limit, offset=offset),
        paging,
        _shape(_ADDRESS),
    )


def list_shipping_addresses(store: ReadModelStore, account_id: UUID, paging: Paging) -> Page:
    return _addresses(store, SHIPPING_LIST, account_id, paging)


def list_billing_addresses(store: ReadModelStore, account_id: UUID, paging: Paging) -> Page:
    return _addresses(store, BILLING_LIST, account_id, paging)

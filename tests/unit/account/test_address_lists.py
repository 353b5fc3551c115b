"""An account's address lists page in one order, whatever order a store gives unasked."""

from __future__ import annotations

import uuid

from eventualshop.account.queries import list_billing_addresses
from eventualshop.account.read_models import BILLING_LIST
from eventualshop.kernel.paging import Paging
from eventualshop.kernel.readmodels import Document, Filters, Sort
from eventualshop.kernel.readmodels_memory import InMemoryReadModelStore
from tests.unit.account.test_account import ACCOUNT_ID, HOME


class _NoOrderPromised(InMemoryReadModelStore):
    """A store that answers a query without a sort in an order of its own (backwards): none is
    promised, and MongoDB or PostgreSQL may give any."""

    def find(
        self,
        collection: str,
        filters: Filters | None = None,
        *,
        sort: Sort | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Document]:
        if sort:
            return super().find(collection, filters, sort=sort, limit=limit, offset=offset)
        backwards = super().find(collection, filters)[::-1]
        return backwards[offset : None if limit is None else offset + limit]


def test_an_accounts_addresses_are_listed_in_one_order_page_after_page() -> None:
    # Every store here happens to answer in id order unasked, so the query asked for none.
    store = _NoOrderPromised()
    ids = [uuid.UUID(int=n) for n in (9, 3, 7, 1, 5)]  # added in this order
    for address_id in ids:
        store.upsert_if_newer(
            BILLING_LIST,
            {
                "id": f"{ACCOUNT_ID}:{address_id}",
                "version": 1,
                "accountId": str(ACCOUNT_ID),
                "addressId": str(address_id),
                "address": HOME.model_dump(mode="json", by_alias=True),
                "isPrimary": False,
                "isDeleted": False,
            },
        )

    pages = [
        list_billing_addresses(store, ACCOUNT_ID, Paging(limit=2, offset=offset)).to_json()
        for offset in (0, 2, 4)
    ]

    listed = [item["addressId"] for page in pages for item in page["items"]]
    assert listed == sorted(str(i) for i in ids)

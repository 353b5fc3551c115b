"""An account's address lists page in one order on every read-model store.

Every store here returns id order even when not asked (the test passes on the query before it
asked): it holds the order the query now asks for, should a store or an index return another."""

from __future__ import annotations

import uuid

from eventualshop.account.queries import list_billing_addresses
from eventualshop.account.read_models import BILLING_LIST
from eventualshop.kernel.paging import Paging
from eventualshop.kernel.readmodels import ReadModelStore
from tests.contract.test_read_model_store import backend, store  # noqa: F401 (fixtures)
from tests.unit.account.test_account import ACCOUNT_ID, HOME


def test_an_accounts_addresses_are_listed_in_one_order_page_after_page(
    store: ReadModelStore,  # noqa: F811
) -> None:
    # Was: in whatever order the store gave (no sort): MongoDB's is the order of insertion,
    # and offset paging on PostgreSQL is promised none.
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

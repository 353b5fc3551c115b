"""An account's address lists: its own addresses only, in one order page after page, whatever
order a store gives unasked."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from eventualshop.account import commands as c
from eventualshop.account.account import ACCOUNT
from eventualshop.account.queries import list_billing_addresses, list_shipping_addresses
from eventualshop.account.read_models import BILLING_LIST, PROJECTIONS
from eventualshop.kernel.paging import Page, Paging
from eventualshop.kernel.readmodels import Document, Filters, ReadModelStore, Sort
from eventualshop.kernel.readmodels_memory import InMemoryReadModelStore
from tests.unit.account.test_account import ACCOUNT_ID, HOME, OFFICE
from tests.unit.recorded import History, project

Query = Callable[[ReadModelStore, uuid.UUID, Paging], Page]


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


def test_each_accounts_lists_show_its_own_live_addresses_only() -> None:
    # Reference §5.1 and §7.4 row 6 ⚠: the original listed every account's shipping addresses,
    # whatever account the route named. Two accounts here, one address of each kind apiece
    # (one deleted), then a third account that is deleted with its addresses.
    alice, bob, carol = (uuid.UUID(int=n) for n in (0xA, 0xB, 0xC))
    history = History(ACCOUNT)
    for account in (alice, bob, carol):
        history.run(
            c.CreateAccount(
                account_id=account, first_name="Alice", last_name="Smith", email="a@b.co"
            )
        )
    history.run(
        c.AddShippingAddress(account_id=alice, address_id=uuid.UUID(int=1), address=HOME),
        c.AddShippingAddress(account_id=alice, address_id=uuid.UUID(int=2), address=OFFICE),
        c.DeleteShippingAddress(account_id=alice, address_id=uuid.UUID(int=2)),
        c.AddBillingAddress(account_id=alice, address_id=uuid.UUID(int=3), address=OFFICE),
        c.AddShippingAddress(account_id=bob, address_id=uuid.UUID(int=4), address=OFFICE),
        c.AddBillingAddress(account_id=bob, address_id=uuid.UUID(int=5), address=HOME),
        c.AddShippingAddress(account_id=carol, address_id=uuid.UUID(int=6), address=HOME),
        c.AddBillingAddress(account_id=carol, address_id=uuid.UUID(int=7), address=HOME),
        c.DeleteAccount(account_id=carol),
    )
    store = project(InMemoryReadModelStore(), PROJECTIONS, history.events)

    def listed(query: Query, account: uuid.UUID) -> list[tuple[str, str]]:
        items = query(store, account, Paging()).to_json()["items"]
        return [(item["accountId"], item["addressId"]) for item in items]

    assert listed(list_shipping_addresses, alice) == [(str(alice), str(uuid.UUID(int=1)))]
    assert listed(list_billing_addresses, alice) == [(str(alice), str(uuid.UUID(int=3)))]
    assert listed(list_shipping_addresses, bob) == [(str(bob), str(uuid.UUID(int=4)))]
    assert listed(list_billing_addresses, bob) == [(str(bob), str(uuid.UUID(int=5)))]
    assert listed(list_shipping_addresses, carol) == []
    assert listed(list_billing_addresses, carol) == []

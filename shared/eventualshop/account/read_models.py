"""Account read models (reference §5.1 "Projections"), with the original's gaps closed: every
address event is projected, and a deleted account's addresses are deleted with it (the original
matched them by the wrong id). Deleted things stay as tombstones (``isDeleted``) that queries
skip, so a late event cannot bring them back.
"""

from __future__ import annotations

from collections.abc import Mapping

from eventualshop.account import events as e
from eventualshop.kernel.messages import DomainEvent, RecordedEvent
from eventualshop.kernel.projection import Documents, Projection

AGGREGATE = "Account"
DETAILS = "AccountDetails"
BILLING_LIST = "BillingAddressListItem"
SHIPPING_LIST = "ShippingAddressListItem"

_ALL: frozenset[type[DomainEvent]] = frozenset(e.ACCOUNT_EVENTS)


def address_key(account_id: object, address_id: object) -> str:
    """Address ids are the client's or random; keyed with the account, two accounts never meet."""
    return f"{account_id}:{address_id}"


class AccountDetails:
    name = "account-details"
    aggregate_type = AGGREGATE
    handles: frozenset[type[DomainEvent]] = frozenset(
        {e.AccountCreated, e.AccountActivated, e.AccountEmailChanged, e.AccountDeleted}
    )
    ignores = _ALL - handles
    collections = {DETAILS: (("isDeleted",),)}

    def apply(self, documents: Mapping[str, Documents], recorded: RecordedEvent) -> None:
        docs, event, version = documents[DETAILS], recorded.event, recorded.version
        account = str(recorded.aggregate_id)
        match event:
            case e.AccountCreated():
                docs.put(
                    {
                        "id": account,
                        "accountId": account,
                        "firstName": event.first_name,
                        "lastName": event.last_name,
                        "email": event.email,
                        "status": event.status.value,
                        "isDeleted": False,
                    },
                    version,
                )
            case e.AccountActivated():
                docs.patch(account, {"status": event.status.value}, version)
            case e.AccountEmailChanged():
                docs.patch(account, {"email": event.email}, version)
            case e.AccountDeleted():
                docs.patch(account, {"status": event.status.value, "isDeleted": True}, version)


class _AddressList:
    aggregate_type = AGGREGATE

    def __init__(self, name: str, collection: str, kind: str) -> None:
        self.name, self.collection = name, collection
        table = {
            "added": f"{kind}AddressAdded",
            "restored": f"{kind}AddressRestored",
            "deleted": f"{kind}AddressDeleted",
            "preferred": f"{kind}AddressPreferred",
            "primary_removed": f"Primary{kind}AddressRemoved",
        }
        self.types = {role: e.ACCOUNT_EVENTS.type_of(name) for role, name in table.items()}
        self.handles: frozenset[type[DomainEvent]] = frozenset(
            {*self.types.values(), e.AccountDeleted}
        )
        self.ignores: frozenset[type[DomainEvent]] = _ALL - self.handles
        self.collections: dict[str, tuple[tuple[str, ...], ...]] = {
            collection: (("accountId", "isDeleted"),)
        }

    def apply(self, documents: Mapping[str, Documents], recorded: RecordedEvent) -> None:
        docs, event, version = documents[self.collection], recorded.event, recorded.version
        account = str(recorded.aggregate_id)
        if isinstance(event, e.AccountDeleted):
            docs.patch_all({"accountId": account}, {"isDeleted": True}, version)
            return
        if not isinstance(event, e.AddressEvent) or type(event) not in self.handles:
            return  # the other book's events, and the account's own: only the cursor moves
        key = address_key(account, event.address_id)
        role = next(r for r, t in self.types.items() if isinstance(event, t))
        if role == "added":
            address = getattr(event, "address")  # noqa: B009 (both added events carry one)
            docs.put(
                {
                    "id": key,
                    "addressId": str(event.address_id),
                    "accountId": account,
                    "address": address.model_dump(mode="json", by_alias=True),
                    "isPrimary": False,
                    "isDeleted": False,
                },
                version,
            )
            return
        if role == "preferred":  # the one primary address: the others are not any more
            docs.patch_all({"accountId": account, "isPrimary": True}, {"isPrimary": False}, version)
        changes = {
            "restored": {"isDeleted": False},
            "deleted": {"isDeleted": True},
            "preferred": {"isPrimary": True},
            "primary_removed": {"isPrimary": False},
        }[role]
        docs.patch(key, changes, version)


PROJECTIONS: tuple[Projection, ...] = (
    AccountDetails(),
    _AddressList("account-billing-address-list", BILLING_LIST, "Billing"),
    _AddressList("account-shipping-address-list", SHIPPING_LIST, "Shipping"),
)
BY_NAME: dict[str, Projection] = {p.name: p for p in PROJECTIONS}

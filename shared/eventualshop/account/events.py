"""Account events (reference §5.1)."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from eventualshop.kernel.messages import DomainEvent
from eventualshop.kernel.registry import EventRegistry
from eventualshop.kernel.values import Address


class AccountStatus(StrEnum):
    PENDING = "Pending"
    ACTIVE = "Active"
    INACTIVE = "Inactive"
    CLOSED = "Closed"


class AccountEvent(DomainEvent):
    account_id: UUID


class AccountCreated(AccountEvent):
    first_name: str
    last_name: str
    email: str
    status: AccountStatus = AccountStatus.PENDING


class AccountActivated(AccountEvent):
    status: AccountStatus = AccountStatus.ACTIVE


class AccountDeleted(AccountEvent):
    status: AccountStatus = AccountStatus.CLOSED


class AccountEmailChanged(AccountEvent):
    email: str
    user_version: int  # the user's version the email was read at


class AddressEvent(AccountEvent):
    address_id: UUID


class BillingAddressAdded(AddressEvent):
    address: Address


class BillingAddressRestored(AddressEvent):
    pass


class BillingAddressDeleted(AddressEvent):
    pass


class BillingAddressPreferred(AddressEvent):
    pass


class PrimaryBillingAddressRemoved(AddressEvent):
    pass


class ShippingAddressAdded(AddressEvent):
    address: Address


class ShippingAddressRestored(AddressEvent):
    pass


class ShippingAddressDeleted(AddressEvent):
    pass


class ShippingAddressPreferred(AddressEvent):
    pass


class PrimaryShippingAddressRemoved(AddressEvent):
    pass


ACCOUNT_EVENTS = EventRegistry(
    [
        AccountCreated,
        AccountActivated,
        AccountDeleted,
        AccountEmailChanged,
        BillingAddressAdded,
        BillingAddressRestored,
        BillingAddressDeleted,
        BillingAddressPreferred,
        PrimaryBillingAddressRemoved,
        ShippingAddressAdded,
        ShippingAddressRestored,
        ShippingAddressDeleted,
        ShippingAddressPreferred,
        PrimaryShippingAddressRemoved,
    ]
)

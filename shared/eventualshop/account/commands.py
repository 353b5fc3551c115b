"""Account commands (reference §5.1). ``CreateAccount`` and ``ActivateAccount`` come from
Identity's events (R1 and the email confirmation), the rest from the account's routes."""

from __future__ import annotations

from eventualshop.kernel.identifiers import Id, NewId
from eventualshop.kernel.messages import Command
from eventualshop.kernel.values import Address


class AccountCommand(Command):
    account_id: Id


class CreateAccount(AccountCommand):
    first_name: str
    last_name: str
    email: str


class ActivateAccount(AccountCommand):
    pass


class DeleteAccount(AccountCommand):
    pass


class AddBillingAddress(AccountCommand):
    address_id: NewId  # the id a new address gets
    address: Address


class AddShippingAddress(AccountCommand):
    address_id: NewId
    address: Address


class DeleteBillingAddress(AccountCommand):
    address_id: Id


class DeleteShippingAddress(AccountCommand):
    address_id: Id


class PreferBillingAddress(AccountCommand):
    address_id: Id


class PreferShippingAddress(AccountCommand):
    address_id: Id

"""Account commands (reference §5.1). ``CreateAccount``, ``ActivateAccount`` and
``ChangeAccountEmail`` come from Identity's events (R1, the email confirmation, the primary email
defined), the rest from the account's routes."""

from __future__ import annotations

from pydantic import Field

from eventualshop.kernel.identifiers import Id, NewId
from eventualshop.kernel.messages import Command
from eventualshop.kernel.values import ClientAddress


class AccountCommand(Command):
    account_id: Id


class CreateAccount(AccountCommand):
    first_name: str
    last_name: str
    email: str


class ActivateAccount(AccountCommand):
    pass


class ChangeAccountEmail(AccountCommand):
    """The email the user signs in with now (their primary one): the account's, to write to.
    ``user_version`` is the user's version it was read at: of two, the later read wins."""

    email: str
    user_version: int = Field(ge=1)


class DeleteAccount(AccountCommand):
    pass


class AddBillingAddress(AccountCommand):
    address_id: NewId  # the id a new address gets
    address: ClientAddress


class AddShippingAddress(AccountCommand):
    address_id: NewId
    address: ClientAddress


class DeleteBillingAddress(AccountCommand):
    address_id: Id


class DeleteShippingAddress(AccountCommand):
    address_id: Id


class PreferBillingAddress(AccountCommand):
    address_id: Id


class PreferShippingAddress(AccountCommand):
    address_id: Id

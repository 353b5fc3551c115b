"""Why an account refuses a command (409 with a stable ``code``)."""

from __future__ import annotations

from eventualshop.kernel.errors import DomainRejection


class AccountClosed(DomainRejection):
    code = "account-closed"


class AddressNotFound(DomainRejection):
    code = "address-not-found"


class AddressIdTaken(DomainRejection):
    """The id a new address was to get is another address's already (a live or a deleted one):
    one id, one address, as the address books and their read models key them."""

    code = "address-id-taken"

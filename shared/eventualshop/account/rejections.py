"""Why an account refuses a command (409 with a stable ``code``)."""

from __future__ import annotations

from eventualshop.kernel.errors import DomainRejection


class AccountClosed(DomainRejection):
    code = "account-closed"


class AddressNotFound(DomainRejection):
    code = "address-not-found"

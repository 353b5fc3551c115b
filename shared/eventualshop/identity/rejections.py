"""Why a user refuses a command, each with a stable ``code`` (409)."""

from __future__ import annotations

from eventualshop.kernel.errors import DomainRejection


class UserDeleted(DomainRejection):
    code = "user-deleted"


class EmailNotFound(DomainRejection):
    code = "email-not-found"


class EmailExpired(DomainRejection):
    """The confirmation window closed: change the email again to get a new one."""

    code = "email-expired"


class EmailNotVerified(DomainRejection):
    code = "email-not-verified"

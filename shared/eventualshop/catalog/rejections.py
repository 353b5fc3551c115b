"""Why a catalog refuses a command: one class per rule, each with a stable ``code`` (409)."""

from __future__ import annotations

from eventualshop.kernel.errors import DomainRejection


class CatalogIsDeleted(DomainRejection):
    """A deleted catalog is gone: the original still accepted commands on it (a defect)."""

    code = "catalog-deleted"


class CatalogAlreadyActive(DomainRejection):
    code = "catalog-already-active"


class CatalogNotActive(DomainRejection):
    code = "catalog-not-active"


class CatalogHasNoItems(DomainRejection):
    """Activating needs at least one item: an empty catalog would show an empty shop window."""

    code = "catalog-has-no-items"


class CatalogItemNotFound(DomainRejection):
    code = "item-not-found"


class CatalogItemIdTaken(DomainRejection):
    code = "item-id-taken"


class QuantityLimitExceeded(DomainRejection):
    code = "quantity-limit-exceeded"

"""Why an inventory refuses a command: one class per rule, each with a stable ``code`` (409)."""

from __future__ import annotations

from eventualshop.kernel.errors import DomainRejection


class InventoryItemNotFound(DomainRejection):
    code = "item-not-found"


class ProductNotStocked(DomainRejection):
    """A reservation names a product the inventory does not hold."""

    code = "product-not-stocked"


class InventoryItemIdTaken(DomainRejection):
    code = "item-id-taken"


class QuantityLimitExceeded(DomainRejection):
    code = "quantity-limit-exceeded"

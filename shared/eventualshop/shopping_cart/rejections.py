"""Why a cart refuses a command. Each of the original's "ignored when" rules is one class with a
stable ``code``, so an HTTP function can answer 409 with a reason a client can act on.

Mixing currencies is the kernel's ``CurrencyMismatch`` (code ``currency-mismatch``).
"""

from __future__ import annotations

from eventualshop.kernel.errors import DomainRejection


class CartNotActive(DomainRejection):
    """The cart is checked out or abandoned: it can no longer change."""

    code = "cart-not-active"


class CartAlreadyDiscarded(DomainRejection):
    code = "cart-already-discarded"


class CartEmpty(DomainRejection):
    """Checking out needs at least one item."""

    code = "cart-empty"


class AmountDueNotSettled(DomainRejection):
    """Checking out needs payment methods that cover the total exactly."""

    code = "amount-due-not-settled"


class ItemNotFound(DomainRejection):
    """No such item in the cart, or it was removed."""

    code = "item-not-found"


class ItemIdTaken(DomainRejection):
    """A new item would reuse the id of another item in the cart."""

    code = "item-id-taken"


class QuantityUnchanged(DomainRejection):
    code = "quantity-unchanged"


class QuantityLimitExceeded(DomainRejection):
    """An item's quantity would go above 65535."""

    code = "quantity-limit-exceeded"


class AmountExceedsDue(DomainRejection):
    """A payment method may pay at most what is still due."""

    code = "amount-exceeds-due"


class PaymentMethodNotFound(DomainRejection):
    code = "payment-method-not-found"


class PaymentMethodIdTaken(DomainRejection):
    code = "payment-method-id-taken"


class AddressUnchanged(DomainRejection):
    """No longer raised: an address already in place is accepted with no event (PUT is
    idempotent). Kept so that stored outcomes and clients that know the code still read."""

    code = "address-unchanged"

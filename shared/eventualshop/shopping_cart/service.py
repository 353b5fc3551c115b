"""The cart's application service and its summary: what the checkout reaction and the projection
rebuild publish (``CartSubmitted``, ``CartProjectionRebuilt``)."""

from __future__ import annotations

from eventualshop.kernel.eventstore import EventStore
from eventualshop.kernel.service import ApplicationService
from eventualshop.shopping_cart.cart import CART, Cart
from eventualshop.shopping_cart.events import CartSummary


def cart_service(
    store: EventStore, *, snapshot_interval: int | None = None
) -> ApplicationService[Cart]:
    """Load, decide and append for every cart command; snapshots every 3 events unless told."""
    return ApplicationService(store, CART, snapshot_interval=snapshot_interval)


def summary(cart: Cart) -> CartSummary:
    """The whole cart, flat: only the items still in it, payment methods without secrets."""
    return CartSummary(
        id=cart.id,
        customer_id=cart.customer_id,
        status=cart.status,
        billing_address=cart.billing_address,
        shipping_address=cart.shipping_address,
        total=cart.total,
        total_payment=cart.total_payment,
        amount_due=cart.amount_due,
        items=cart.items,
        payment_methods=cart.payment_methods,
        is_deleted=cart.is_deleted,
        version=cart.version,
    )

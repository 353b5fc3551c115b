"""The cart's application service and its summary, the payload of the summary events
(``CartSubmitted``, ``CartProjectionRebuilt``; nothing publishes them yet, see ``events``)."""

from __future__ import annotations

from collections.abc import Sequence

from eventualshop.kernel.eventstore import EventStore
from eventualshop.kernel.readmodels import ReadModelStore
from eventualshop.kernel.rebuild import RebuildReport, rebuild
from eventualshop.kernel.repository import Repository
from eventualshop.kernel.service import ApplicationService
from eventualshop.shopping_cart.cart import CART, Cart
from eventualshop.shopping_cart.events import CartSummary
from eventualshop.shopping_cart.read_models import BY_NAME, PROJECTIONS


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


def rebuild_read_models(
    event_store: EventStore, read_models: ReadModelStore, names: Sequence[str] | None = None
) -> list[RebuildReport]:
    """Replay every cart event into fresh read models and swap them in (all, or those named)."""
    chosen = [BY_NAME[name] for name in names] if names else list(PROJECTIONS)
    return rebuild(event_store, Repository(event_store, CART).decode, read_models, chosen)

"""Shopping Cart projectors: one CloudEvent target per read model.

Each receives every cart event (one Trigger per event type) and applies it in version order per
cart; an event ahead of its predecessor raises, so the broker delivers it again later.
"""

from __future__ import annotations

from functools import cache

from eventualshop.kernel.messages import RecordedEvent
from eventualshop.kernel.projection import Projector
from eventualshop.runtime import wiring
from eventualshop.runtime.consumer import consumer
from eventualshop.shopping_cart.events import CART_EVENTS
from eventualshop.shopping_cart.read_models import BY_NAME


@cache
def projector(name: str) -> Projector:
    found = Projector(wiring.read_model_store(), BY_NAME[name])
    found.ensure_indexes()
    return found


def _target(function: str, projection: str):  # type: ignore[no-untyped-def]
    def handle(event: RecordedEvent) -> None:
        projector(projection).handle(event)

    return consumer(function, CART_EVENTS, handle)


cart_details = _target("shopping-cart-cart-details", "shopping-cart-details")
cart_item_list = _target("shopping-cart-cart-item-list", "shopping-cart-item-list")
cart_item_details = _target("shopping-cart-cart-item-details", "shopping-cart-item-details")
payment_method_list = _target(
    "shopping-cart-payment-method-list", "shopping-cart-payment-method-list"
)
payment_method_details = _target(
    "shopping-cart-payment-method-details", "shopping-cart-payment-method-details"
)

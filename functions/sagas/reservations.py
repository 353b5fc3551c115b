"""Stock reservations for cart items (``eventualshop.processes.reservations``): a CloudEvent
function subscribed by exact type to the cart events that change what a cart holds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventualshop.kernel.messages import RecordedEvent
from eventualshop.kernel.repository import Repository
from eventualshop.processes.reservations import StockReservations
from eventualshop.runtime.consumer import consumer
from eventualshop.shopping_cart.cart import CART
from eventualshop.shopping_cart.declaration import SHOPPING_CART
from eventualshop.shopping_cart.events import CART_EVENTS
from eventualshop.warehouse.declaration import WAREHOUSE
from eventualshop.warehouse.settings import WarehouseSettings
from functions.main import ROOT

NAME = "stock-reservations"


def _cart_history(cart: UUID) -> Sequence[RecordedEvent]:
    store = ROOT.event_store(SHOPPING_CART.name)
    repository = Repository(store, CART)
    return [
        repository.decode(stored) for stored in store.load_events(cart, aggregate_type=CART.name)
    ]


def _handle(event: Any) -> None:
    process = StockReservations(
        _cart_history,
        ROOT.service(WAREHOUSE.name),
        after_commit=ROOT.relay_after_commit(WAREHOUSE.name),
        hold_for=WarehouseSettings().reservation_time,
    )
    process.handle(event)


def reserve_stock(event: Any) -> None:
    process_event = consumer(ROOT.by_name[NAME], CART_EVENTS, _handle, ROOT.dead_letter_store)
    process_event(event)

"""Stock reservations for cart items (``eventualshop.processes.reservations``): a CloudEvent
function subscribed by exact type to the cart events that change what a cart holds."""

from __future__ import annotations

from typing import Any

from eventualshop.processes.reservations import StockReservations
from eventualshop.runtime.consumer import consumer
from eventualshop.shopping_cart.events import CART_EVENTS
from functions.main import ROOT

NAME = "stock-reservations"


def _handle(event: Any) -> None:
    process = StockReservations(
        ROOT.read_model_store(),
        ROOT.service("warehouse"),
        after_commit=ROOT.relay_after_commit("warehouse"),
    )
    process.handle(event)


def reserve_stock(event: Any) -> None:
    process_event = consumer(ROOT.by_name[NAME], CART_EVENTS, _handle, ROOT.dead_letter_store)
    process_event(event)

"""Reservations expire through the durable timers, end to end on both set-ups (the embedded shop;
PostgreSQL + RabbitMQ + the MongoDB wire-protocol server): the shop's own timer sweep (the
server's ticker, a PingSource in production) releases what a cart did not check out in time,
and keeps what a checked-out cart holds for its order.

The hold time is a setting (``EVENTUALSHOP_WAREHOUSE_RESERVATION_TIME``, 15 minutes by default),
read by the reservation reaction for every event, so a test shortens it for its own carts.
"""

from __future__ import annotations

import datetime as dt

import pytest

from eventualshop.kernel.messages import utc_now
from functions.main import ROOT

from .support import ServedShop, eventually, usd
from .test_cart_commands_http import card
from .test_catalog_warehouse_http import served  # noqa: F401
from .test_stock_reservations import CARTS, cart_with, held, stock_of, stocked

HOLD_SECONDS = 2


@pytest.fixture(autouse=True)
def short_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTUALSHOP_WAREHOUSE_RESERVATION_TIME", f"PT{HOLD_SECONDS}S")


def no_timer_due() -> None:
    """Every timer due by now has fired (the sweep deletes a timer once its command ran)."""
    store = ROOT.event_store("warehouse")
    assert store.due_messages(utc_now()) == []


def test_a_reservation_its_cart_does_not_check_out_in_time_is_released(
    served: ServedShop,  # noqa: F811
) -> None:
    inventory = stocked(served, 3)
    cart_with(served, inventory, 2)
    held(served, inventory, 2)

    held(served, inventory, 0)  # the timer fired: the units are back, nobody released them
    eventually(no_timer_due)


def test_a_checked_out_cart_keeps_what_it_holds_past_the_hold_time(
    served: ServedShop,  # noqa: F811
) -> None:
    inventory = stocked(served, 3)
    cart, _ = cart_with(served, inventory, 2)  # 2 x 10.00 USD
    body = {"amount": usd("20.00"), "creditCard": card()}
    served.http.command("POST", f"{CARTS}/{cart}/payment-methods/credit-card", body)
    served.http.command("PUT", f"{CARTS}/{cart}/check-out")
    checked_out = utc_now()
    held(served, inventory, 2)

    # Past every expiration the cart's reservations asked for, and past their timers' firing.
    def every_timer_fired() -> None:
        assert utc_now() > checked_out + dt.timedelta(seconds=HOLD_SECONDS + 1)
        no_timer_due()

    eventually(every_timer_fired)
    served.settle()
    held(served, inventory, 2)


def test_two_carts_compete_and_every_unit_comes_back_when_their_holds_expire(
    served: ServedShop,  # noqa: F811
) -> None:
    inventory = stocked(served, 3)
    carts = [cart_with(served, inventory, 2), cart_with(served, inventory, 2)]

    def one_holds_two_and_never_more_than_there_is() -> None:
        item = stock_of(served, inventory)
        assert item["reserved"] <= item["quantity"], item
        assert item["reserved"] == 2, item

    eventually(one_holds_two_and_never_more_than_there_is)
    held(served, inventory, 0)  # nobody let go: the timer of the one that held did

    def the_holder_shows_released_the_other_not_reserved() -> None:
        shown = [
            served.http.get(f"{CARTS}/{cart}/items/{item}/details").json["availability"]
            for cart, item in carts
        ]
        assert sorted(shown) == ["not-reserved", "released"], shown

    eventually(the_holder_shows_released_the_other_not_reserved)

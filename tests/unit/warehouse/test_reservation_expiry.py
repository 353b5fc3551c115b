"""A reservation's expiry: the durable timer its ``InventoryReserved`` asks for, and what the
timer's ``ExpireInventoryReservation`` does when it fires (given events, when, then)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from eventualshop.kernel.declaration import ConfigurationMissing, Surroundings
from eventualshop.warehouse.commands import ExpireInventoryReservation
from eventualshop.warehouse.events import InventoryReservationReleased, InventoryReserved
from eventualshop.warehouse.inventory import timers
from eventualshop.warehouse.settings import RESERVATION_TIME, WarehouseSettings, configure
from tests.unit.shopping_cart.availability import Shop
from tests.unit.shopping_cart.examples import KEYBOARD, add_item

from .examples import CART_ID, EXPIRATION, INVENTORY_ID, PHONE, created, received
from .test_inventory_commands import given, released, reserved

HOUR = timedelta(hours=1)


def expire(version: int, expiration: object = EXPIRATION) -> ExpireInventoryReservation:
    return ExpireInventoryReservation.model_validate(
        {
            "inventoryId": INVENTORY_ID,
            "cartId": CART_ID,
            "product": PHONE,
            "cartVersion": version,
            "expiration": expiration,
        }
    )


def expired(quantity: int, version: int, in_all: int = 0) -> InventoryReservationReleased:
    return released(quantity, version, in_all, reason="expired")


class TestTheTimerOfAReservation:
    def test_a_reservation_asks_to_be_expired_at_its_expiration(self) -> None:
        asked = timers(reserved(2, version=3), EXPIRATION - timedelta(minutes=15))

        assert [(t.due, t.command) for t in asked] == [(EXPIRATION, expire(version=3))]

    def test_a_reservation_kept_for_checkout_has_no_timer(self) -> None:
        kept = reserved(2, version=4).model_copy(update={"expiration": None})

        assert timers(kept, EXPIRATION) == ()

    def test_other_events_have_no_timer(self) -> None:
        assert timers(released(2, version=4), EXPIRATION) == ()


class TestExpiringAReservation:
    def test_an_unchanged_reservation_is_released_as_expired(self) -> None:
        inventory = (
            given(created(), received(quantity=5), reserved(3, version=2))
            .when(expire(version=2))
            .then(expired(3, version=2))
        )

        assert [(i.reserved, i.available) for i in inventory.items] == [(0, 5)]

    def test_a_reservation_renewed_by_a_later_cart_event_is_not_expired_by_the_old_timer(
        self,
    ) -> None:
        given(created(), received(quantity=5), reserved(3, version=2), reserved(4, version=3)).when(
            expire(version=2)
        ).then()

    def test_a_released_reservation_is_not_expired_again(self) -> None:
        given(created(), received(quantity=5), reserved(3, version=2), released(3, version=3)).when(
            expire(version=2)
        ).then()

    def test_a_reservation_kept_for_checkout_does_not_expire(self) -> None:
        kept = reserved(3, version=5).model_copy(update={"expiration": None})

        given(created(), received(quantity=5), kept).when(expire(version=5)).then()

    def test_a_timer_of_another_expiration_changes_nothing(self) -> None:
        given(created(), received(quantity=5), reserved(3, version=2)).when(
            expire(version=2, expiration=EXPIRATION + timedelta(minutes=1))
        ).then()

    def test_firing_twice_releases_once(self) -> None:
        given(created(), received(quantity=5), reserved(3, version=2), expired(3, version=2)).when(
            expire(version=2)
        ).then()


class TestTheHoldTimeSetting:
    def test_the_default_is_fifteen_minutes_and_an_iso_duration_is_read(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("EVENTUALSHOP_WAREHOUSE_RESERVATION_TIME", raising=False)
        assert WarehouseSettings().reservation_time == timedelta(minutes=15)
        monkeypatch.setenv("EVENTUALSHOP_WAREHOUSE_RESERVATION_TIME", "PT2M")
        assert WarehouseSettings().reservation_time == timedelta(minutes=2)

    @pytest.mark.parametrize(
        ("value", "says"),
        [
            ("soon", "timedelta"),
            ("PT0S", "greater than"),
            ("-PT5M", "greater than"),
            # Read as HH:MM, "15:00" held stock for fifteen hours where fifteen minutes was meant.
            ("15:00", "HH:MM:SS"),
            ("01:15", "HH:MM:SS"),
            ("0:15", "HH:MM:SS"),
        ],
    )
    def test_a_setting_that_cannot_be_read_stops_the_start_with_one_line(
        self, monkeypatch: pytest.MonkeyPatch, value: str, says: str
    ) -> None:
        monkeypatch.setenv("EVENTUALSHOP_WAREHOUSE_RESERVATION_TIME", value)

        with pytest.raises(ConfigurationMissing) as stopped:
            configure(Surroundings(embedded=True, data_dir="."))

        message = str(stopped.value)
        assert message.startswith("EVENTUALSHOP_WAREHOUSE_RESERVATION_TIME: ")
        assert says in message
        assert "\n" not in message

    def test_hours_minutes_and_seconds_are_read(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("EVENTUALSHOP_WAREHOUSE_RESERVATION_TIME", "00:15:00")
        assert WarehouseSettings().reservation_time == timedelta(minutes=15)


class TestTheHoldTime:
    def test_a_hold_is_counted_from_the_cart_event_however_late_the_warehouse_is_asked(
        self,
    ) -> None:
        # Was: from the saga's delivery, so a cart event delivered late (after a broker outage,
        # or a dead letter replayed) held its stock a whole hold time from then, and two
        # deliveries of one event asked for two expirations. The README said: from the event.
        shop = Shop({KEYBOARD: 5})
        (added,) = shop.carts.run(add_item(KEYBOARD, 2))
        # Delivered an hour after the cart's event: from the delivery, the hold would end an
        # hour later than from the event.
        added = replace(
            added, metadata=replace(added.metadata, timestamp=added.metadata.timestamp - HOUR)
        )

        shop.reservations.handle(added)

        (answer,) = shop.answers()
        assert isinstance(answer.event, InventoryReserved)
        assert answer.event.expiration == added.metadata.timestamp + RESERVATION_TIME

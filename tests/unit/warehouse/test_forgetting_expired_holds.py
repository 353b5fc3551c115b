"""An inventory forgets the carts whose holds expired: their records would otherwise stay for
ever (one per cart that ever held an item), and every command's load, decision and snapshot
grew with them. What tells a late, older request that it comes too late is then the inventory's
horizon, the latest expiration a timer released: a cart's older requests expire no later than
its newer ones, so every one of them expires at or before it."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from eventualshop.kernel.memory import InMemoryEventStore
from eventualshop.kernel.service import ApplicationService, CommandContext
from eventualshop.warehouse.commands import ExpireInventoryReservation, ReserveInventoryItem
from eventualshop.warehouse.inventory import INVENTORY, Inventory

from .examples import (
    CATALOG_ID,
    EXPIRATION,
    INVENTORY_ID,
    OTHER_CART_ID,
    PHONE,
    create,
    created,
    receive,
    received,
)
from .test_inventory_commands import given, released, reserve, reserved
from .test_reservation_expiry import expire, expired

MINUTE = timedelta(minutes=1)
BEFORE = (created(), received(quantity=5))


def cart(n: int) -> UUID:
    return UUID(int=0x0A4E_0000_0000_4000_8000_0000_0000_0000 + n)


def stocked() -> ApplicationService[Inventory]:
    warehouse = ApplicationService(InMemoryEventStore(), INVENTORY, snapshot_interval=5)
    warehouse.handle(create())
    warehouse.handle(receive(quantity=100))
    return warehouse


def records(warehouse: ApplicationService[Inventory]) -> int:
    inventory = warehouse.repository.load(INVENTORY_ID)
    assert inventory is not None
    return sum(len(item.reserves) for item in inventory.items)


class TestAnInventoryAfterManyCarts:
    def test_carts_whose_holds_expired_leave_no_record_behind(self) -> None:
        # Was: one record of quantity 0 per cart, for ever (a popular item's inventory grew
        # with every cart that ever held it, and so did every command on it).
        warehouse = stocked()
        for n in range(40):
            expiration = EXPIRATION + n * MINUTE
            hold = ReserveInventoryItem(
                inventory_id=INVENTORY_ID,
                catalog_id=CATALOG_ID,
                cart_id=cart(n),
                product=PHONE,
                quantity=1,
                cart_version=2,
                expiration=expiration,
            )
            warehouse.handle(hold, CommandContext())
            timer = ExpireInventoryReservation(
                inventory_id=INVENTORY_ID,
                cart_id=cart(n),
                product=PHONE,
                cart_version=2,
                expiration=expiration,
            )
            warehouse.handle(timer, CommandContext())

        assert records(warehouse) == 0


class TestALateRequestAfterItsCartWasForgotten:
    def test_an_older_request_reserves_nothing(self) -> None:
        older = reserve(2, version=1).model_copy(update={"expiration": EXPIRATION - MINUTE})

        given(*BEFORE, reserved(3, version=2), expired(3, version=2)).when(older).then()

    def test_a_repeat_of_the_expired_request_reserves_nothing(self) -> None:
        given(*BEFORE, reserved(3, version=2), expired(3, version=2)).when(
            reserve(3, version=2)
        ).then()

    def test_a_newer_request_already_past_the_horizon_reserves_nothing(self) -> None:
        # Delivered after a later hold's timer fired: it would be released at the next sweep.
        newer = reserve(2, version=3).model_copy(update={"expiration": EXPIRATION - MINUTE})

        given(*BEFORE, reserved(3, version=2), expired(3, version=2)).when(newer).then()

    def test_a_newer_request_that_has_not_expired_is_reserved(self) -> None:
        newer = reserve(2, version=3).model_copy(update={"expiration": EXPIRATION + MINUTE})
        renewed = reserved(2, version=3).model_copy(update={"expiration": EXPIRATION + MINUTE})

        given(*BEFORE, reserved(3, version=2), expired(3, version=2)).when(newer).then(renewed)

    def test_another_carts_request_of_an_earlier_expiration_reserves_nothing(self) -> None:
        late = reserve(1, cart_id=OTHER_CART_ID, version=5)
        late = late.model_copy(update={"expiration": EXPIRATION - MINUTE})

        given(*BEFORE, reserved(3, version=2), expired(3, version=2)).when(late).then()

    def test_a_checkout_holds_whatever_the_horizon(self) -> None:
        kept = reserve(2, version=4).model_copy(update={"expiration": None})
        held = reserved(2, version=4, in_all=2).model_copy(update={"expiration": None})

        given(*BEFORE, reserved(3, version=2), expired(3, version=2)).when(kept).then(held)

    def test_a_release_is_still_recorded_against_a_late_reservation(self) -> None:
        inventory = given(
            *BEFORE, reserved(3, version=2), expired(3, version=2), released(0, 4)
        ).state
        assert inventory is not None

        assert [r.cart_version for i in inventory.items for r in i.reserves] == [4]

    def test_a_timer_of_a_forgotten_hold_changes_nothing(self) -> None:
        given(*BEFORE, reserved(3, version=2), expired(3, version=2)).when(expire(version=2)).then()


class TestSnapshotsOfEarlierReleases:
    def test_a_snapshot_with_records_of_quantity_zero_still_loads(self) -> None:
        # Written before expired holds were forgotten: every released hold kept a record of 0
        # and the inventory had no horizon.
        earlier = given(*BEFORE, reserved(3, version=2), released(3, version=3)).state
        assert earlier is not None
        stored = earlier.model_dump_json(exclude={"horizon"})
        assert '"quantity":0' in stored
        assert "horizon" not in stored

        loaded = Inventory.model_validate_json(stored)

        assert loaded == earlier

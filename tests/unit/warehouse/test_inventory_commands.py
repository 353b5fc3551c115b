"""Use cases of the Inventory aggregate: given events, when a command, then events or a rejection.

Each of the original's defects (reference §5.8 ⚠) has a case that holds the intended behaviour:
adjustments change the quantity, refusals are recorded events that apply, a short product field
does not crash the SKU rule.
"""

from __future__ import annotations

import json
from decimal import Decimal
from uuid import UUID

import pytest
from pydantic import ValidationError

from eventualshop.kernel.errors import AggregateAlreadyExists, AggregateNotFound
from eventualshop.kernel.messages import DomainEvent
from eventualshop.kernel.testing import Scenario
from eventualshop.warehouse.commands import (
    DecreaseInventoryAdjust,
    ExpireInventoryReservation,
    IncreaseInventoryAdjust,
    ReceiveInventoryItem,
    ReleaseInventoryReservation,
    ReleaseReason,
    ReserveInventoryItem,
)
from eventualshop.warehouse.events import (
    INVENTORY_EVENTS,
    InventoryAdjustmentDecreased,
    InventoryAdjustmentIncreased,
    InventoryAdjustmentNotDecreased,
    InventoryItemIncreased,
    InventoryItemReceived,
    InventoryNotReserved,
    InventoryReservationReleased,
    InventoryReserved,
    StockDepleted,
)
from eventualshop.warehouse.inventory import INVENTORY, Inventory
from eventualshop.warehouse.rejections import (
    InventoryItemIdTaken,
    InventoryItemNotFound,
    ProductNotStocked,
)

from .examples import (
    CART_ID,
    CASE,
    CATALOG_ID,
    EXPIRATION,
    INVENTORY_ID,
    ITEM_ID,
    OTHER_CART_ID,
    OTHER_ITEM_ID,
    OWNER_ID,
    PHONE,
    create,
    created,
    receive,
    received,
)


def given(*events: DomainEvent) -> Scenario[Inventory]:
    return Scenario(INVENTORY).given(*events)


def adjust(kind: type[IncreaseInventoryAdjust] | type[DecreaseInventoryAdjust], quantity: int):  # type: ignore[no-untyped-def]
    return kind(inventory_id=INVENTORY_ID, item_id=ITEM_ID, quantity=quantity, reason="count")


def reserve(
    quantity: int, cart_id: object = CART_ID, product: object = PHONE, version: int = 0
) -> ReserveInventoryItem:
    return ReserveInventoryItem.model_validate(
        {
            "inventoryId": INVENTORY_ID,
            "catalogId": CATALOG_ID,
            "cartId": cart_id,
            "product": product,
            "quantity": quantity,
            "cartVersion": version,
            "expiration": EXPIRATION,
        }
    )


def reserved(
    quantity: int, cart_id: object = CART_ID, version: int = 0, in_all: int | None = None
) -> InventoryReserved:
    return InventoryReserved.model_validate(
        {
            "inventoryId": INVENTORY_ID,
            "itemId": ITEM_ID,
            "catalogId": CATALOG_ID,
            "cartId": cart_id,
            "product": PHONE,
            "quantity": quantity,
            "expiration": EXPIRATION,
            "cartVersion": version,
            "itemReserved": quantity if in_all is None else in_all,
        }
    )


def not_reserved(
    *,
    desired: int,
    available: int,
    version: int = 0,
    cart_id: UUID = CART_ID,
    item_id: UUID = ITEM_ID,
    held: int | None = None,
) -> InventoryNotReserved:
    return InventoryNotReserved(
        inventory_id=INVENTORY_ID,
        item_id=item_id,
        cart_id=cart_id,
        quantity_desired=desired,
        quantity_available=available,
        cart_version=version,
        quantity_held=held,
    )


def release(version: int, cart_id: UUID = CART_ID) -> ReleaseInventoryReservation:
    return ReleaseInventoryReservation(
        inventory_id=INVENTORY_ID,
        cart_id=cart_id,
        product=PHONE,
        cart_version=version,
        reason=ReleaseReason.ITEM_REMOVED,
    )


def released(
    quantity: int, version: int, in_all: int = 0, reason: str = "item-removed"
) -> InventoryReservationReleased:
    return InventoryReservationReleased(
        inventory_id=INVENTORY_ID,
        item_id=ITEM_ID,
        cart_id=CART_ID,
        quantity=quantity,
        cart_version=version,
        reason=reason,
        item_reserved=in_all,
    )


class TestCreatingAnInventory:
    def test_an_inventory_is_created_for_its_owner(self) -> None:
        assert given().when(create()).then(created()).owner_id == OWNER_ID

    def test_creating_an_existing_id_is_a_rejection(self) -> None:
        given(created()).when(create()).then_rejected(AggregateAlreadyExists)

    def test_the_inventory_id_is_generated_when_the_client_gives_none(self) -> None:
        from eventualshop.warehouse.commands import CreateInventory

        first, second = (CreateInventory(owner_id=OWNER_ID) for _ in range(2))
        assert first.inventory_id != second.inventory_id


class TestReceivingStock:
    def test_a_new_product_is_received_with_its_sku(self) -> None:
        # The original's example: Apple, Phones, Unit, first of its kind -> APPHUN1.
        inventory = given(created()).when(receive()).then(received())
        assert [(i.sku, i.quantity, i.available) for i in inventory.items] == [("APPHUN1", 5, 5)]

    def test_the_sku_counts_the_items_of_the_same_brand_category_and_unit(self) -> None:
        given(created(), received()).when(receive(CASE, item_id=OTHER_ITEM_ID)).then(
            received(CASE, item_id=OTHER_ITEM_ID, sku="APPHUN2")
        )

    def test_a_field_shorter_than_two_letters_is_padded_not_a_crash(self) -> None:
        short = PHONE.model_copy(update={"brand": "A", "unit": "u"})
        given(created()).when(receive(short)).then(received(short, sku="AXPHUX1"))

    @pytest.mark.parametrize(
        "brand",
        [
            "Apricot",  # another brand with the same first two letters
            "apple",  # the same brand written in another case
            "AP",  # a brand the two letters are all of
        ],
    )
    def test_items_of_kinds_that_share_letters_get_skus_of_their_own(self, brand: str) -> None:
        # The original counted the items of the very same brand, category and unit only, so
        # Apple's and Apricot's first phones were both APPHUN1: a SKU named two items.
        other = PHONE.model_copy(update={"brand": brand, "name": "Other"})
        given(created(), received()).when(receive(other, item_id=OTHER_ITEM_ID)).then(
            received(other, item_id=OTHER_ITEM_ID, sku="APPHUN2")
        )

    def test_a_sku_number_follows_the_highest_of_its_letters_even_after_a_shared_one(
        self,
    ) -> None:
        # Stored under the original's rule: Apricot's first phone shares APPHUN1 with Apple's,
        # and Apple's case is APPHUN2. Apricot's next item was APPHUN2 again; now it gets a
        # number no item has.
        apricot = PHONE.model_copy(update={"brand": "Apricot", "name": "Other"})
        third = apricot.model_copy(update={"name": "Third"})
        case_id, third_id = (UUID(f"0a4e0000-0000-4000-8000-0000000000a{n}") for n in (3, 4))
        given(
            created(),
            received(),
            received(apricot, item_id=OTHER_ITEM_ID, sku="APPHUN1"),
            received(CASE, item_id=case_id, sku="APPHUN2"),
        ).when(receive(third, item_id=third_id)).then(
            received(third, item_id=third_id, sku="APPHUN3")
        )

    def test_a_letter_whose_capital_is_two_letters_keeps_the_prefix_six_long(self) -> None:
        # Python's "ß".upper() is "SS": the prefix grew to seven characters, and a series'
        # number could then run into another prefix's letters.
        german = PHONE.model_copy(update={"brand": "ßa"})
        given(created()).when(receive(german)).then(received(german, sku="ßAPHUN1"))

    def test_the_same_product_at_the_same_cost_increases_the_item(self) -> None:
        inventory = (
            given(created(), received(quantity=5))
            .when(receive(cost="100.00", quantity=2, item_id=OTHER_ITEM_ID))
            .then(
                InventoryItemIncreased(
                    inventory_id=INVENTORY_ID, item_id=ITEM_ID, quantity=2, new_quantity=7
                )
            )
        )
        assert [i.quantity for i in inventory.items] == [7]

    def test_a_new_item_cannot_take_the_id_of_another(self) -> None:
        given(created(), received()).when(receive(CASE)).then_rejected(InventoryItemIdTaken)

    @pytest.mark.parametrize("field", ["cost", "quantity"])
    def test_a_cost_or_quantity_of_zero_is_refused_as_input(self, field: str) -> None:
        values = {"cost": "100", "quantity": 5} | {field: 0}
        with pytest.raises(ValidationError, match=field):
            receive(cost=str(values["cost"]), quantity=int(values["quantity"]))

    @pytest.mark.parametrize(
        ("cost", "said"),
        [
            ("1_000", "is not a decimal number"),  # Decimal read 1000
            ("\u0663", "is not a decimal number"),  # an Arabic-Indic 3: Decimal read 3
            ("1.005", "at most 2 decimal places"),  # finer than the cents it is shown in
            ("1E-3", "at most 2 decimal places"),
            ("1." + "0" * 30, "at most 28 digits"),  # as money a client sends
        ],
    )
    def test_a_cost_is_held_to_the_rules_of_money_a_client_sends(
        self, cost: str, said: str
    ) -> None:
        # Was: each taken (1000, 3, 1.005), where a price or a payment is a 400.
        data = receive().model_dump(by_alias=True) | {"cost": cost}
        with pytest.raises(ValidationError, match=said) as refused:
            ReceiveInventoryItem.model_validate(data)
        assert [error["loc"] for error in refused.value.errors()] == [("cost",)]

    @pytest.mark.parametrize("cost", ["100.50", "100.5", "5E+0", " 7 ", "1.0000"])
    def test_a_cost_in_cents_written_plainly_is_taken(self, cost: str) -> None:
        data = receive().model_dump(by_alias=True) | {"cost": cost}
        assert ReceiveInventoryItem.model_validate(data).cost == Decimal(cost)

    @pytest.mark.parametrize("cost", ["1.005", "1000", "0.0001"])
    def test_an_item_received_before_costs_were_held_to_cents_still_loads(self, cost: str) -> None:
        # The rule is the command's, never the event's: a stored cost reads as it was stored.
        stored = InventoryItemReceived.model_validate_json(received(cost=cost).model_dump_json())
        assert stored.cost == Decimal(cost)
        inventory = given(created(), stored).when(adjust(IncreaseInventoryAdjust, 1)).then(
            InventoryAdjustmentIncreased(
                inventory_id=INVENTORY_ID, item_id=ITEM_ID, reason="count", quantity=1,
                new_quantity=6,
            )
        )  # fmt: skip
        assert [i.cost for i in inventory.items] == [Decimal(cost)]

    def test_receiving_into_an_unknown_inventory_is_not_found(self) -> None:
        with pytest.raises(AggregateNotFound):
            given().when(receive()).then()


class TestAdjustments:
    def test_an_increase_adjustment_raises_the_quantity(self) -> None:
        inventory = (
            given(created(), received(quantity=5))
            .when(adjust(IncreaseInventoryAdjust, 3))
            .then(
                InventoryAdjustmentIncreased(
                    inventory_id=INVENTORY_ID,
                    item_id=ITEM_ID,
                    reason="count",
                    quantity=3,
                    new_quantity=8,
                )
            )
        )
        assert [(i.quantity, i.adjustments) for i in inventory.items] == [(8, 3)]

    def test_a_decrease_adjustment_lowers_the_quantity(self) -> None:
        inventory = (
            given(created(), received(quantity=5))
            .when(adjust(DecreaseInventoryAdjust, 2))
            .then(
                InventoryAdjustmentDecreased(
                    inventory_id=INVENTORY_ID,
                    item_id=ITEM_ID,
                    reason="count",
                    quantity=2,
                    new_quantity=3,
                )
            )
        )
        assert [(i.quantity, i.adjustments) for i in inventory.items] == [(3, -2)]

    def test_a_decrease_beyond_what_is_available_is_recorded_and_changes_nothing(self) -> None:
        # Two of the five are reserved by a cart: only three may go.
        inventory = (
            given(created(), received(quantity=5), reserved(2))
            .when(adjust(DecreaseInventoryAdjust, 4))
            .then(
                InventoryAdjustmentNotDecreased(
                    inventory_id=INVENTORY_ID,
                    item_id=ITEM_ID,
                    reason="count",
                    quantity_desired=4,
                    quantity_available=3,
                )
            )
        )
        assert [(i.quantity, i.reserved) for i in inventory.items] == [(5, 2)]

    @pytest.mark.parametrize("kind", [IncreaseInventoryAdjust, DecreaseInventoryAdjust])
    def test_adjusting_an_unknown_item_is_rejected(
        self, kind: type[IncreaseInventoryAdjust] | type[DecreaseInventoryAdjust]
    ) -> None:
        given(created()).when(adjust(kind, 1)).then_rejected(
            InventoryItemNotFound, code="item-not-found"
        )

    def test_an_adjustment_without_a_reason_is_refused_as_input(self) -> None:
        with pytest.raises(ValidationError, match="reason"):
            IncreaseInventoryAdjust(
                inventory_id=INVENTORY_ID, item_id=ITEM_ID, quantity=1, reason=""
            )


class TestReservations:
    def test_what_is_available_is_reserved_for_the_cart(self) -> None:
        inventory = given(created(), received(quantity=5)).when(reserve(3)).then(reserved(3))
        assert [(i.reserved, i.available) for i in inventory.items] == [(3, 2)]

    def test_more_than_is_available_is_not_reserved(self) -> None:
        given(created(), received(quantity=5), reserved(4)).when(
            reserve(2, cart_id=OTHER_CART_ID)
        ).then(not_reserved(desired=2, available=1, cart_id=OTHER_CART_ID))

    def test_nothing_left_is_recorded_as_stock_depleted(self) -> None:
        inventory = (
            given(created(), received(quantity=5), reserved(5))
            .when(reserve(1, cart_id=OTHER_CART_ID))
            .then(
                StockDepleted(
                    inventory_id=INVENTORY_ID, item_id=ITEM_ID, cart_id=OTHER_CART_ID, product=PHONE
                )
            )
        )
        assert [(i.reserved, i.available) for i in inventory.items] == [(5, 0)]

    def test_a_product_the_inventory_does_not_hold_is_rejected(self) -> None:
        given(created(), received()).when(reserve(1, product=CASE)).then_rejected(
            ProductNotStocked, code="product-not-stocked"
        )

    def test_a_new_request_of_the_same_cart_replaces_what_it_holds(self) -> None:
        inventory = (
            given(created(), received(quantity=5), reserved(4, version=2))
            .when(reserve(5, version=3))
            .then(reserved(5, version=3))
        )
        assert [(r.cart_id, r.quantity) for r in inventory.items[0].reserves] == [(CART_ID, 5)]

    def test_what_other_carts_hold_is_not_available(self) -> None:
        given(created(), received(quantity=5), reserved(3, cart_id=OTHER_CART_ID, version=2)).when(
            reserve(2, version=2)
        ).then(reserved(2, version=2, in_all=5))

    def test_a_request_older_than_the_last_applied_changes_nothing(self) -> None:
        given(created(), received(quantity=5), reserved(4, version=3)).when(
            reserve(1, version=2)
        ).then()

    def test_a_release_gives_back_what_the_cart_holds(self) -> None:
        inventory = (
            given(created(), received(quantity=5), reserved(4, version=2))
            .when(release(version=3))
            .then(released(4, version=3))
        )
        assert [(i.reserved, i.available) for i in inventory.items] == [(0, 5)]

    def test_a_release_that_arrives_before_its_reservation_wins_over_it(self) -> None:
        early = given(created(), received(quantity=5)).when(release(version=3))
        inventory = early.then(released(0, version=3))
        late = Scenario(INVENTORY).given(created(), received(quantity=5), released(0, version=3))
        late.when(reserve(4, version=2)).then()
        assert inventory.items[0].available == 5


class TestReservationsAcrossItemsOfOneProduct:
    """Stock received at another cost is a second item of the same product (``_receive``); a
    cart's hold is on one item, so a reservation looks for an item with room for all of it."""

    def _two_costs(self, first: int, second: int) -> tuple[DomainEvent, ...]:
        return (
            created(),
            received(quantity=first),
            received(quantity=second, cost="120", item_id=OTHER_ITEM_ID, sku="APPHUN2"),
        )

    def test_stock_at_a_second_cost_is_reserved_once_the_first_is_gone(self) -> None:
        taken = reserved(2, cart_id=OTHER_CART_ID, version=1)
        inventory = (
            given(*self._two_costs(2, 3), taken)
            .when(reserve(1, version=1))
            .then(_on_other_item(reserved(1, version=1)))
        )
        assert [(i.reserved, i.available) for i in inventory.items] == [(2, 0), (1, 2)]

    def test_the_item_the_cart_holds_keeps_the_hold_while_it_has_room(self) -> None:
        given(*self._two_costs(5, 5), reserved(2, version=1)).when(reserve(4, version=2)).then(
            reserved(4, version=2)
        )

    def test_a_hold_that_outgrows_its_item_moves_whole_to_an_item_with_room(self) -> None:
        moved = _moved_to_the_other_item(4, version=2)
        inventory = (
            given(*self._two_costs(2, 5), reserved(2, version=1))
            .when(reserve(4, version=2))
            .then(moved)
        )
        assert [(i.reserved, i.available) for i in inventory.items] == [(0, 2), (4, 1)]

    def test_a_release_after_a_move_gives_back_the_new_hold(self) -> None:
        moved = _moved_to_the_other_item(4, version=2)
        inventory = (
            given(*self._two_costs(2, 5), reserved(2, version=1), moved)
            .when(release(version=3))
            .then(released(4, version=3).model_copy(update={"item_id": OTHER_ITEM_ID}))
        )
        assert [(i.reserved, i.available) for i in inventory.items] == [(0, 2), (0, 5)]

    def test_the_expiry_of_the_hold_before_a_move_changes_nothing(self) -> None:
        moved = _moved_to_the_other_item(4, version=2)
        expire = ExpireInventoryReservation(
            inventory_id=INVENTORY_ID,
            cart_id=CART_ID,
            product=PHONE,
            cart_version=1,
            expiration=EXPIRATION,
        )
        given(*self._two_costs(2, 5), reserved(2, version=1), moved).when(expire).then()

    def test_a_request_older_than_one_applied_on_another_item_changes_nothing(self) -> None:
        later = _on_other_item(reserved(1, version=3))
        given(*self._two_costs(0, 5), later).when(reserve(2, version=2)).then()

    def test_no_item_with_room_for_all_is_not_reserved_with_the_most_one_item_has(self) -> None:
        given(*self._two_costs(2, 3)).when(reserve(4, version=1)).then(
            not_reserved(desired=4, available=3, version=1, item_id=OTHER_ITEM_ID)
        )

    def test_a_refused_change_tells_the_hold_it_leaves(self) -> None:
        given(*self._two_costs(3, 0), reserved(2, version=1)).when(reserve(4, version=2)).then(
            not_reserved(desired=4, available=3, version=2, held=2)
        )

    def test_stock_is_depleted_only_when_no_item_of_the_product_has_any(self) -> None:
        given(*self._two_costs(0, 0)).when(reserve(1, version=1)).then(
            StockDepleted(
                inventory_id=INVENTORY_ID,
                item_id=ITEM_ID,
                cart_id=CART_ID,
                product=PHONE,
                cart_version=1,
            )
        )


def _on_other_item(event: InventoryReserved) -> InventoryReserved:
    return event.model_copy(update={"item_id": OTHER_ITEM_ID})


def _moved_to_the_other_item(quantity: int, version: int) -> InventoryReserved:
    """The cart's hold, moved whole from ITEM_ID (which then has nothing reserved)."""
    return _on_other_item(reserved(quantity, version=version)).model_copy(
        update={"moved_from": ITEM_ID, "moved_from_reserved": 0}
    )


def test_fields_added_to_an_event_stay_out_of_its_payload_while_they_say_nothing() -> None:
    # The previous release's events forbid fields they do not know: a payload that carried
    # "movedFrom": null on every reservation could not be read by it during a rolling upgrade.
    plain = json.loads(INVENTORY_EVENTS.encode(reserved(2)))
    moved = json.loads(
        INVENTORY_EVENTS.encode(
            reserved(2).model_copy(update={"moved_from": OTHER_ITEM_ID, "moved_from_reserved": 0})
        )
    )
    refused = not_reserved(desired=4, available=3)

    assert not {"movedFrom", "movedFromReserved"} & plain.keys()
    assert (moved["movedFrom"], moved["movedFromReserved"]) == (str(OTHER_ITEM_ID), 0)
    assert "quantityHeld" not in json.loads(INVENTORY_EVENTS.encode(refused))
    told = refused.model_copy(update={"quantity_held": 2})
    assert json.loads(INVENTORY_EVENTS.encode(told))["quantityHeld"] == 2

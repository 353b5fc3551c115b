"""Use cases of each cart item's availability: given what the carts did and what the Warehouse
answered, when the availability projector handles the answers, then what the item queries show.

The answers are the real Warehouse's (see ``availability.Shop``); the order-tolerance property at
the end delivers them shuffled and duplicated.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventualshop.kernel.messages import RecordedEvent
from eventualshop.kernel.paging import Paging
from eventualshop.kernel.readmodels import ReadModelStore
from eventualshop.kernel.readmodels_memory import InMemoryReadModelStore
from eventualshop.kernel.timer_sweep import fire_due
from eventualshop.processes.availability import ANSWERS, ProductUnknown
from eventualshop.processes.reservations import REACTS_TO
from eventualshop.shopping_cart import ChangeCartItemQuantity, DiscardCart, RemoveCartItem
from eventualshop.shopping_cart.queries import get_cart_item_details, list_cart_items
from eventualshop.shopping_cart.read_models import AVAILABILITY, HOLDS
from eventualshop.warehouse.events import (
    InventoryNotReserved,
    InventoryReservationReleased,
    InventoryReserved,
    StockDepleted,
)
from functions.registry import ITEM_AVAILABILITY, PROJECTORS

from .availability import Shop, availability_documents
from .examples import CART_ID, INVENTORY_ID, ITEM_ID, KEYBOARD, MOUSE, OTHER_ITEM_ID, add_item

OTHER_CART_ID = UUID("0c000000-0000-4000-8000-00000000ca02")
PAGE = Paging(limit=50)


def shown(store: ReadModelStore, cart: UUID = CART_ID) -> dict[str, str]:
    """Each listed item's availability, by product name; the details must agree."""
    listed = list_cart_items(store, cart, PAGE).to_json()["items"]
    for item in listed:
        details = get_cart_item_details(store, cart, UUID(item["itemId"]))
        assert details is not None
        assert details["availability"] == item["availability"]
    return {item["productName"]: item["availability"] for item in listed}


def in_cart(cart: UUID, command: object) -> object:
    return command.model_copy(update={"cart_id": cart})  # type: ignore[attr-defined]


def expire_every_hold(shop: Shop) -> None:
    """What the timer sweep does once every hold's expiration has passed."""
    warehouse = shop.warehouse
    fire_due(warehouse.store, warehouse, datetime.now(UTC) + timedelta(days=1))


class TestItemAvailability:
    def test_an_expired_hold_shows_released_in_either_order_of_delivery(self) -> None:
        # The expiry's release answers the same cart version as the reservation it ends.
        shop = Shop({KEYBOARD: 5})
        shop.cart(add_item(KEYBOARD, 2))
        expire_every_hold(shop)
        reserved, expired = shop.answers()
        assert isinstance(expired.event, InventoryReservationReleased)
        assert expired.event.cart_version == reserved.event.cart_version  # type: ignore[attr-defined]

        in_order = shop.read_models(InMemoryReadModelStore(), answers=[reserved, expired])
        reversed_ = shop.read_models(InMemoryReadModelStore(), answers=[expired, reserved])

        assert shown(in_order) == shown(reversed_) == {"Keyboard": "released"}

    def test_an_item_is_pending_until_the_warehouse_answers(self) -> None:
        shop = Shop({KEYBOARD: 5})
        shop.cart(add_item(KEYBOARD, 2))

        store = shop.read_models(InMemoryReadModelStore(), answers=[])

        assert shown(store) == {"Keyboard": "pending"}

    def test_an_item_the_inventory_holds_is_reserved(self) -> None:
        shop = Shop({KEYBOARD: 5})
        shop.cart(add_item(KEYBOARD, 2))

        store = shop.read_models(InMemoryReadModelStore())

        assert [type(a.event) for a in shop.answers()] == [InventoryReserved]
        assert shown(store) == {"Keyboard": "reserved"}

    def test_an_item_asking_more_than_is_available_is_not_reserved(self) -> None:
        shop = Shop({KEYBOARD: 1, MOUSE: 5})
        shop.cart(add_item(KEYBOARD, 3), add_item(MOUSE, 1, item_id=OTHER_ITEM_ID))

        store = shop.read_models(InMemoryReadModelStore())

        assert InventoryNotReserved in {type(a.event) for a in shop.answers()}
        assert shown(store) == {"Keyboard": "not-reserved", "Mouse": "reserved"}

    def test_an_item_shows_what_the_inventory_holds_for_it(self) -> None:
        # A change the inventory refuses leaves the earlier hold: the item says so, where it
        # showed "not-reserved" and nothing else (two units were held out of others' reach).
        shop = Shop({KEYBOARD: 5})
        shop.cart(add_item(KEYBOARD, 2))
        shop.cart(ChangeCartItemQuantity(cart_id=CART_ID, item_id=ITEM_ID, new_quantity=9))

        store = shop.read_models(InMemoryReadModelStore())

        (item,) = list_cart_items(store, CART_ID, PAGE).to_json()["items"]
        assert (item["availability"], item["reservedQuantity"]) == ("not-reserved", 2)
        details = get_cart_item_details(store, CART_ID, ITEM_ID)
        assert details is not None
        assert details["reservedQuantity"] == 2

    def test_an_item_another_cart_holds_all_of_is_out_of_stock(self) -> None:
        shop = Shop({KEYBOARD: 2}, carts=(OTHER_CART_ID, CART_ID))
        shop.cart(in_cart(OTHER_CART_ID, add_item(KEYBOARD, 2)))  # type: ignore[arg-type]
        shop.cart(add_item(KEYBOARD, 1))

        store = shop.read_models(InMemoryReadModelStore())

        assert type(shop.answers()[-1].event) is StockDepleted
        assert shown(store) == {"Keyboard": "out-of-stock"}
        assert shown(store, OTHER_CART_ID) == {"Keyboard": "reserved"}

    def test_stock_given_back_by_the_other_cart_is_reserved_by_the_next_request(self) -> None:
        shop = Shop({KEYBOARD: 2}, carts=(OTHER_CART_ID, CART_ID))
        shop.cart(in_cart(OTHER_CART_ID, add_item(KEYBOARD, 2)))  # type: ignore[arg-type]
        shop.cart(add_item(KEYBOARD, 1))
        shop.cart(DiscardCart(cart_id=OTHER_CART_ID))
        shop.cart(ChangeCartItemQuantity(cart_id=CART_ID, item_id=ITEM_ID, new_quantity=2))

        store = shop.read_models(InMemoryReadModelStore())

        assert shown(store) == {"Keyboard": "reserved"}
        assert shown(store, OTHER_CART_ID) == {}  # a discarded cart lists nothing

    def test_an_answer_older_than_the_items_last_change_shows_it_pending(self) -> None:
        shop = Shop({KEYBOARD: 5})
        shop.cart(add_item(KEYBOARD, 2))
        first = shop.answers()
        shop.cart(ChangeCartItemQuantity(cart_id=CART_ID, item_id=ITEM_ID, new_quantity=4))

        store = shop.read_models(InMemoryReadModelStore(), answers=first)

        assert shown(store) == {"Keyboard": "pending"}
        shop.projector(store).handle(shop.answers()[-1])
        assert shown(store) == {"Keyboard": "reserved"}

    def test_a_removed_item_is_released_and_an_item_added_again_waits_for_its_own_answer(
        self,
    ) -> None:
        shop = Shop({KEYBOARD: 5})
        shop.cart(add_item(KEYBOARD, 2), RemoveCartItem(cart_id=CART_ID, item_id=ITEM_ID))
        released = shop.answers()
        shop.cart(add_item(KEYBOARD, 1, item_id=OTHER_ITEM_ID))

        store = shop.read_models(InMemoryReadModelStore(), answers=released)

        (document,) = availability_documents(store).values()
        assert (document["availability"], document["releaseReason"]) == ("released", "item-removed")
        assert shown(store) == {"Keyboard": "pending"}
        (item,) = list_cart_items(store, CART_ID, PAGE).to_json()["items"]
        assert item["reservedQuantity"] == 0  # the earlier hold, released

    def test_a_discard_releases_every_holding_of_the_cart(self) -> None:
        shop = Shop({KEYBOARD: 5, MOUSE: 5})
        shop.cart(add_item(KEYBOARD, 2), add_item(MOUSE, 1, item_id=OTHER_ITEM_ID))
        shop.cart(DiscardCart(cart_id=CART_ID))

        store = shop.read_models(InMemoryReadModelStore())

        documents = availability_documents(store).values()
        assert sorted(d["availability"] for d in documents) == ["released", "released"]
        assert {d["inventoryId"] for d in documents} == {str(INVENTORY_ID)}

    def test_a_late_older_answer_and_a_duplicate_change_nothing(self) -> None:
        shop = Shop({KEYBOARD: 5})
        shop.cart(add_item(KEYBOARD, 2), RemoveCartItem(cart_id=CART_ID, item_id=ITEM_ID))
        reserved, released = shop.answers()
        store = shop.read_models(InMemoryReadModelStore(), answers=[released])
        before = availability_documents(store)
        projector = shop.projector(store)

        assert projector.handle(reserved) == "stale"
        assert projector.handle(released) == "stale"
        assert availability_documents(store) == before

    def test_an_answer_about_an_item_the_inventory_does_not_show_yet_is_retried(self) -> None:
        shop = Shop({KEYBOARD: 5})
        shop.cart(add_item(KEYBOARD, 2), RemoveCartItem(cart_id=CART_ID, item_id=ITEM_ID))
        (_, released) = shop.answers()
        store = InMemoryReadModelStore()
        projector = shop.projector(store)
        projector.product_of = lambda _inventory, _item: None

        with pytest.raises(ProductUnknown):
            projector.handle(released)
        assert availability_documents(store) == {}

    def test_the_product_of_an_inventory_item_is_looked_up_once(self) -> None:
        # A lookup loads the whole inventory; no event changes an item's product.
        shop = Shop({KEYBOARD: 5})
        shop.cart(
            add_item(KEYBOARD, 9),  # more than there is: not reserved
            ChangeCartItemQuantity(cart_id=CART_ID, item_id=ITEM_ID, new_quantity=8),
            RemoveCartItem(cart_id=CART_ID, item_id=ITEM_ID),
        )
        answers = shop.answers()
        asked: list[tuple[UUID, UUID]] = []
        projector = shop.projector(InMemoryReadModelStore())
        lookup = projector.product_of
        projector.product_of = lambda inventory, item: (
            asked.append((inventory, item)) or lookup(inventory, item)
        )

        for answer in answers:
            projector.handle(answer)

        assert len([a for a in answers if not isinstance(a.event, InventoryReserved)]) >= 2
        assert len(asked) == 1
        assert availability_documents(projector.store) == availability_documents(
            shop.read_models(InMemoryReadModelStore())
        )


def test_the_projector_subscribes_to_exactly_the_answers_it_handles() -> None:
    (spec,) = [s for s in PROJECTORS if s.name == ITEM_AVAILABILITY]
    subscribed = {s.filters["type"].rpartition(".")[2] for s in spec.subscriptions}
    assert subscribed == {t.__name__ for t in ANSWERS}
    assert set(ANSWERS) == {
        InventoryReserved,
        InventoryNotReserved,
        StockDepleted,
        InventoryReservationReleased,
    }


# ---- order tolerance ---------------------------------------------------------------------


def busy_shop(seed: int, *, ask: bool = True) -> Shop:
    """Two carts competing for scarce stock with adds, changes, removals and a discard; the
    Warehouse asked in order (``ask``), or not yet."""
    rng = random.Random(seed)
    shop = Shop({KEYBOARD: 3, MOUSE: 2}, carts=(CART_ID, OTHER_CART_ID))
    items = [ITEM_ID, OTHER_ITEM_ID]
    for _ in range(rng.randint(1, 8)):
        cart, item = rng.choice([CART_ID, OTHER_CART_ID]), rng.choice(items)
        product = KEYBOARD if item == ITEM_ID else MOUSE
        command = rng.choice(
            [
                add_item(product, rng.randint(1, 3), item_id=item),
                ChangeCartItemQuantity(
                    cart_id=CART_ID, item_id=item, new_quantity=rng.randint(1, 3)
                ),
                RemoveCartItem(cart_id=CART_ID, item_id=item),
            ]
        )
        shop.carts.attempt(in_cart(cart, command))  # type: ignore[arg-type]
    if rng.random() < 0.5:
        shop.carts.attempt(DiscardCart(cart_id=OTHER_CART_ID))
    if ask:  # the Warehouse is asked in order: its answers are the input
        for event in shop.carts.events:
            shop.reservations.handle(event)
    return shop


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), shuffle=st.randoms(use_true_random=False))
def test_shuffled_and_duplicated_answers_end_as_in_order_delivery(
    seed: int, shuffle: random.Random
) -> None:
    shop = busy_shop(seed)
    answers = shop.answers()
    in_order = shop.read_models(InMemoryReadModelStore())

    delivered = [a for a in answers for _ in range(shuffle.choice([1, 1, 2, 3]))]
    shuffle.shuffle(delivered)
    shuffled = shop.read_models(InMemoryReadModelStore(), answers=delivered)

    assert availability_documents(shuffled) == availability_documents(in_order)
    for cart in (CART_ID, OTHER_CART_ID):
        assert shown(shuffled, cart) == shown(in_order, cart)


# ---- what the cart shows is what the inventory holds ---------------------------------------


def held_by_inventory(shop: Shop, cart: UUID) -> dict[str, int]:
    """Units the inventory holds for ``cart``, by product name."""
    inventory = shop.warehouse.repository.load(INVENTORY_ID)
    assert inventory is not None
    held: dict[str, int] = {}
    for item in inventory.items:
        reserve = item.reserve_of(cart)
        if reserve is not None and reserve.quantity:
            held[item.product.name] = held.get(item.product.name, 0) + reserve.quantity
    return held


def reserved_shown(store: ReadModelStore, cart: UUID) -> dict[str, int]:
    """What the cart's items say the inventory holds (an older refusal tells nothing: 0)."""
    listed = list_cart_items(store, cart, PAGE).to_json()["items"]
    return {i["productName"]: i["reservedQuantity"] for i in listed if i["reservedQuantity"]}


def deliver(shop: Shop, events: list[RecordedEvent]) -> None:
    for event in events:
        if isinstance(event.event, REACTS_TO):
            shop.reservations.handle(event)


def test_a_hold_reserved_after_a_newer_refusal_is_shown_beside_that_refusal() -> None:
    # The Warehouse decides requests as they reach it: the older one, come late, still holds
    # what the refused change would have kept. Was: its answer, older than the refusal the item
    # shows, was dropped with everything it said, and the item showed no hold (null).
    shop = Shop({KEYBOARD: 3})
    added = shop.carts.run(add_item(KEYBOARD, 1))
    changed = shop.carts.run(
        ChangeCartItemQuantity(cart_id=CART_ID, item_id=ITEM_ID, new_quantity=4)
    )

    deliver(shop, [*changed, *added])

    refused, reserved = shop.answers()
    assert isinstance(refused.event, InventoryNotReserved)
    assert isinstance(reserved.event, InventoryReserved)
    assert held_by_inventory(shop, CART_ID) == {KEYBOARD.name: 1}
    for answers in ([refused, reserved], [reserved, refused]):
        store = shop.read_models(InMemoryReadModelStore(), answers=answers)
        assert shown(store) == {KEYBOARD.name: "not-reserved"}
        assert reserved_shown(store, CART_ID) == {KEYBOARD.name: 1}


def test_a_hold_a_refusal_kept_is_shown_gone_once_it_expired() -> None:
    # Was: the expiry's release answers the hold's cart version, older than the refusal the
    # item shows, and was dropped: 2 units shown as held that the inventory had released.
    shop = Shop({KEYBOARD: 5})
    shop.cart(add_item(KEYBOARD, 2))
    shop.cart(ChangeCartItemQuantity(cart_id=CART_ID, item_id=ITEM_ID, new_quantity=9))

    expire_every_hold(shop)

    reserved, refused, expired = shop.answers()
    assert isinstance(refused.event, InventoryNotReserved)
    assert refused.event.quantity_held == 2
    assert isinstance(expired.event, InventoryReservationReleased)
    assert held_by_inventory(shop, CART_ID) == {}
    for answers in ([reserved, refused, expired], [expired, refused, reserved]):
        store = shop.read_models(InMemoryReadModelStore(), answers=answers)
        assert shown(store) == {KEYBOARD.name: "not-reserved"}  # the change to 9 still is not
        (item,) = list_cart_items(store, CART_ID, PAGE).to_json()["items"]
        assert item["reservedQuantity"] == 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), shuffle=st.randoms(use_true_random=False))
def test_whatever_order_the_warehouse_is_asked_in_each_item_shows_what_it_holds(
    seed: int, shuffle: random.Random
) -> None:
    shop = busy_shop(seed, ask=False)
    asked = [e for e in shop.carts.events for _ in range(shuffle.choice([1, 1, 2]))]
    shuffle.shuffle(asked)
    deliver(shop, asked)
    if shuffle.random() < 0.5:
        expire_every_hold(shop)

    answers = shop.answers()
    shuffle.shuffle(answers)
    store = shop.read_models(InMemoryReadModelStore(), answers=answers)

    for cart in (CART_ID, OTHER_CART_ID):
        assert reserved_shown(store, cart) == held_by_inventory(shop, cart)


def test_a_hold_an_answer_of_the_previous_release_told_is_still_shown_after_a_refusal() -> None:
    # Was 0 (a review of the change): the previous release kept the hold in the answer's own
    # document, which the next answer replaces, and no hold document had been written for it.
    shop = Shop({KEYBOARD: 5})
    shop.cart(add_item(KEYBOARD, 2))
    shop.cart(ChangeCartItemQuantity(cart_id=CART_ID, item_id=ITEM_ID, new_quantity=9))
    reserved, refused = shop.answers()
    store = shop.read_models(InMemoryReadModelStore(), answers=[reserved])
    for hold in store.find(HOLDS):  # as the previous release left it: the hold in the answer
        store.delete(HOLDS, hold["id"])
    (answer,) = store.find(AVAILABILITY)
    store.upsert_if_newer(AVAILABILITY, answer | {"reservedQuantity": 2, "version": 5})
    assert reserved_shown(store, CART_ID) == {KEYBOARD.name: 2}

    shop.projector(store).handle(refused)

    assert shown(store) == {KEYBOARD.name: "not-reserved"}
    assert reserved_shown(store, CART_ID) == {KEYBOARD.name: 2}

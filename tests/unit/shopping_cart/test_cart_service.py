"""The cart's application service over the in-memory event store: snapshots, rejections, and the
summary published after a checkout."""

from __future__ import annotations

import pytest

from eventualshop.kernel import AggregateNotFound
from eventualshop.kernel.aggregate import replay
from eventualshop.kernel.memory import InMemoryEventStore
from eventualshop.kernel.service import ApplicationService, CommandContext
from eventualshop.shopping_cart import (
    CART,
    CART_EVENTS,
    CART_SUMMARY_EVENTS,
    Cart,
    CartStatus,
    CartSubmitted,
    CheckOutCart,
    CreateCart,
    RemoveCartItem,
    cart_service,
    summary,
)

from .examples import (
    CART_ID,
    CUSTOMER_ID,
    ITEM_ID,
    KEYBOARD,
    MOUSE,
    OTHER_ITEM_ID,
    add_credit_card,
    add_item,
    usd,
)


@pytest.fixture
def store() -> InMemoryEventStore:
    return InMemoryEventStore()


@pytest.fixture
def service(store: InMemoryEventStore) -> ApplicationService[Cart]:
    return cart_service(store)


def open_cart_with_two_items(service: ApplicationService[Cart]) -> None:
    for command in (
        CreateCart(cart_id=CART_ID, customer_id=CUSTOMER_ID, currency="USD"),
        add_item(KEYBOARD, 2, "10.00"),
        add_item(MOUSE, 1, "5.00", item_id=OTHER_ITEM_ID),
    ):
        assert service.handle(command).accepted


def full_replay(store: InMemoryEventStore) -> Cart | None:
    history = (
        (e.version, CART_EVENTS.decode(e.event_type, e.schema_version, e.payload))
        for e in store.load_events(CART_ID)
    )
    return replay(CART, None, history)


class TestSnapshots:
    def test_a_snapshot_is_taken_at_version_3(
        self, store: InMemoryEventStore, service: ApplicationService[Cart]
    ) -> None:
        open_cart_with_two_items(service)

        snapshot = store.load(CART_ID).snapshot
        assert snapshot is not None
        assert snapshot.version == 3
        assert Cart.model_validate_json(snapshot.state).version == 3

    def test_loading_from_the_snapshot_reproduces_the_state_of_a_full_replay(
        self, store: InMemoryEventStore, service: ApplicationService[Cart]
    ) -> None:
        open_cart_with_two_items(service)
        service.handle(add_item(KEYBOARD, 1, "10.00"))

        stream = store.load(CART_ID)
        loaded = service.repository.load(CART_ID)

        assert [e.version for e in stream.events] == [4]  # only what follows the snapshot
        assert loaded == full_replay(store)
        assert loaded is not None
        assert loaded.version == 4
        assert loaded.total == usd("35.00")

    def test_the_interval_can_be_changed(self, store: InMemoryEventStore) -> None:
        open_cart_with_two_items(cart_service(store, snapshot_interval=2))

        snapshot = store.load(CART_ID).snapshot
        assert snapshot is not None
        assert snapshot.version == 2


class TestHandlingCommands:
    def test_a_rejection_is_an_outcome_with_its_code_and_stores_nothing(
        self, store: InMemoryEventStore, service: ApplicationService[Cart]
    ) -> None:
        open_cart_with_two_items(service)

        outcome = service.handle(CheckOutCart(cart_id=CART_ID))

        assert not outcome.accepted
        assert outcome.rejection_code == "amount-due-not-settled"
        assert store.last_position() == 3

    def test_a_command_to_an_unknown_cart_is_not_found(
        self, service: ApplicationService[Cart]
    ) -> None:
        with pytest.raises(AggregateNotFound):
            service.handle(RemoveCartItem(cart_id=CART_ID, item_id=ITEM_ID))

    def test_a_repeated_command_is_answered_once(
        self, store: InMemoryEventStore, service: ApplicationService[Cart]
    ) -> None:
        open_cart_with_two_items(service)
        context = CommandContext(message_id="add-keyboard-once")

        first = service.handle(add_item(KEYBOARD, 1, "10.00"), context)
        again = service.handle(add_item(KEYBOARD, 1, "10.00"), context)

        assert again.duplicate
        assert again.event_ids == first.event_ids
        assert store.last_position() == 4

    def test_the_events_are_published_through_the_outbox(
        self, store: InMemoryEventStore, service: ApplicationService[Cart]
    ) -> None:
        open_cart_with_two_items(service)

        types = [entry.event_type for entry in store.pending_outbox()]
        assert types == ["CartCreated", "CartItemAdded", "CartItemAdded"]


class TestSummary:
    def test_a_checked_out_cart_is_summarised_for_the_order(
        self, store: InMemoryEventStore, service: ApplicationService[Cart]
    ) -> None:
        open_cart_with_two_items(service)
        service.handle(RemoveCartItem(cart_id=CART_ID, item_id=OTHER_ITEM_ID))
        service.handle(add_credit_card("20.00"))
        assert service.handle(CheckOutCart(cart_id=CART_ID)).accepted
        cart = service.repository.load(CART_ID)
        assert cart is not None

        snapshot = store.load(CART_ID).snapshot
        assert snapshot is not None
        assert Cart.model_validate_json(snapshot.state) == cart  # paid and checked out, at v6

        submitted = CartSubmitted(cart=summary(cart))

        assert submitted.cart.status is CartStatus.CHECKED_OUT
        assert submitted.cart.version == 6
        assert [i.id for i in submitted.cart.items] == [ITEM_ID]  # the removed item is gone
        assert submitted.cart.total == usd("20.00")
        assert submitted.cart.total_payment == usd("20.00")
        assert submitted.cart.amount_due.is_zero
        assert [m.option.type for m in submitted.cart.payment_methods] == ["CreditCard"]

    def test_a_summary_event_round_trips_through_its_registry(
        self, service: ApplicationService[Cart]
    ) -> None:
        open_cart_with_two_items(service)
        cart = service.repository.load(CART_ID)
        assert cart is not None
        event = CartSubmitted(cart=summary(cart))

        decoded = CART_SUMMARY_EVENTS.decode("CartSubmitted", 1, CART_SUMMARY_EVENTS.encode(event))

        assert decoded == event
        assert "CartSubmitted" not in CART_EVENTS

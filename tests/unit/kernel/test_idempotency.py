"""A message id (the HTTP ``Idempotency-Key``) is bound to the request it first came with.

The application service keeps the first outcome of every message id: a repeat with the same
fingerprint gets that outcome back, marked duplicate, and appends nothing; a repeat with another
fingerprint is refused with ``IdempotencyKeyReused``. A rejection is an outcome like any other.
The HTTP fingerprint itself (``_fingerprint``) is a hash of method, path and the command as the
request set it, its secrets masked.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import pytest

from eventualshop.kernel.errors import IdempotencyKeyReused
from eventualshop.kernel.memory import InMemoryEventStore
from eventualshop.kernel.messages import FINGERPRINT
from eventualshop.kernel.service import (
    ApplicationService,
    CommandContext,
    Outcome,
    same_request,
)
from eventualshop.runtime.http import _fingerprint
from eventualshop.shopping_cart.cart import CART, Cart
from eventualshop.shopping_cart.commands import (
    AddCreditCard,
    AddPayPal,
    ChangeCartItemQuantity,
    CheckOutCart,
    CreateCart,
    RemoveCartItem,
)
from eventualshop.shopping_cart.events import CartStatus
from tests.unit.shopping_cart.examples import (
    CART_ID,
    CUSTOMER_ID,
    ITEM_ID,
    KEYBOARD,
    MOUSE,
    OTHER_ITEM_ID,
    add_item,
    card,
)

OTHER_CART_ID = UUID("0c000000-0000-4000-8000-00000000ca02")
KEY = "key-1"


@pytest.fixture
def store() -> InMemoryEventStore:
    return InMemoryEventStore()


@pytest.fixture
def service(store: InMemoryEventStore) -> ApplicationService[Cart]:
    return ApplicationService(store, CART)


def create_cart(cart_id: UUID = CART_ID, currency: str = "USD") -> CreateCart:
    return CreateCart(cart_id=cart_id, customer_id=CUSTOMER_ID, currency=currency)


def context(fingerprint: str | None, message_id: str = KEY) -> CommandContext:
    # A fresh correlation id each time: a repeat is recognised by its message id alone.
    return CommandContext(message_id=message_id, fingerprint=fingerprint)


def written(store: InMemoryEventStore) -> tuple[int, int]:
    """How many events the store holds and how many outbox entries wait to be published."""
    return store.last_position(), len(store.pending_outbox(limit=10_000))


def cart(service: ApplicationService[Cart], cart_id: UUID = CART_ID) -> Cart | None:
    return service.repository.load(cart_id)


def same_answer(first: Outcome, again: Outcome) -> None:
    assert again.duplicate
    assert not first.duplicate
    assert (
        again.message_id,
        again.aggregate_id,
        again.version,
        again.event_ids,
        again.event_types,
        again.rejection_code,
        again.rejection_detail,
        again.outcome_id,
    ) == (
        first.message_id,
        first.aggregate_id,
        first.version,
        first.event_ids,
        first.event_types,
        first.rejection_code,
        first.rejection_detail,
        first.outcome_id,
    )


class TestSameKeySameRequest:
    def test_a_repeated_creation_gets_the_first_outcome_marked_duplicate_and_appends_nothing(
        self, store: InMemoryEventStore, service: ApplicationService[Cart]
    ) -> None:
        first = service.handle(create_cart(), context("fp-1"))
        before = written(store)

        again = service.handle(create_cart(), context("fp-1"))

        assert first.accepted
        assert first.event_types == ("CartCreated",)
        same_answer(first, again)
        assert again.accepted  # not "already exists": the cart exists because of this very key
        assert written(store) == before

    def test_a_repeat_the_cart_would_still_accept_appends_nothing_and_gets_the_first_outcome(
        self, store: InMemoryEventStore, service: ApplicationService[Cart]
    ) -> None:
        service.handle(create_cart())
        first = service.handle(add_item(KEYBOARD, 2, "10.00"), context("fp-1"))
        before = written(store)

        # A second AddCartItem of the same product would raise the quantity: it must not.
        again = service.handle(add_item(KEYBOARD, 2, "10.00"), context("fp-1"))

        same_answer(first, again)
        assert written(store) == before
        state = cart(service)
        assert state is not None
        assert [i.quantity for i in state.items] == [2]
        assert state.total.amount == 20

    def test_every_later_repeat_gets_the_same_first_outcome(
        self, store: InMemoryEventStore, service: ApplicationService[Cart]
    ) -> None:
        first = service.handle(create_cart(), context("fp-1"))
        before = written(store)

        repeats = [service.handle(create_cart(), context("fp-1")) for _ in range(3)]

        for again in repeats:
            same_answer(first, again)
        assert written(store) == before

    def test_another_key_is_another_command(
        self, store: InMemoryEventStore, service: ApplicationService[Cart]
    ) -> None:
        service.handle(create_cart())
        first = service.handle(add_item(KEYBOARD, 2, "10.00"), context("fp-1", "key-1"))
        second = service.handle(add_item(KEYBOARD, 2, "10.00"), context("fp-1", "key-2"))

        assert not second.duplicate
        assert second.event_ids != first.event_ids
        assert second.version == first.version + 1
        state = cart(service)
        assert state is not None
        assert [i.quantity for i in state.items] == [4]


class TestSameKeyOtherRequest:
    def test_another_fingerprint_on_a_command_that_would_succeed_is_refused_and_appends_nothing(
        self, store: InMemoryEventStore, service: ApplicationService[Cart]
    ) -> None:
        service.handle(create_cart(), context("fp-1"))
        before = written(store)

        with pytest.raises(IdempotencyKeyReused) as raised:
            service.handle(create_cart(OTHER_CART_ID, "EUR"), context("fp-2"))

        assert raised.value.message_id == KEY
        assert raised.value.consumer == service.consumer
        assert written(store) == before
        assert cart(service, OTHER_CART_ID) is None

    def test_another_fingerprint_on_a_command_the_cart_would_reject_is_refused(
        self, store: InMemoryEventStore, service: ApplicationService[Cart]
    ) -> None:
        service.handle(create_cart(), context("fp-1"))
        before = written(store)

        # The cart exists, so this creation is rejected: the key's reuse is still what counts.
        with pytest.raises(IdempotencyKeyReused):
            service.handle(create_cart(), context("fp-2"))
        assert written(store) == before

    def test_another_fingerprint_after_an_accepted_item_is_refused_and_the_item_is_unchanged(
        self, store: InMemoryEventStore, service: ApplicationService[Cart]
    ) -> None:
        service.handle(create_cart())
        service.handle(add_item(KEYBOARD, 2, "10.00"), context("fp-1"))
        before = written(store)

        with pytest.raises(IdempotencyKeyReused):
            service.handle(add_item(MOUSE, 1, "5.00", item_id=OTHER_ITEM_ID), context("fp-2"))

        assert written(store) == before
        state = cart(service)
        assert state is not None
        assert [(i.product, i.quantity) for i in state.items] == [(KEYBOARD, 2)]

    def test_another_fingerprint_after_a_rejection_is_refused(
        self, store: InMemoryEventStore, service: ApplicationService[Cart]
    ) -> None:
        service.handle(create_cart())
        rejected = service.handle(CheckOutCart(cart_id=CART_ID), context("fp-1"))
        assert rejected.rejection_code == "cart-empty"
        service.handle(add_item(KEYBOARD, 1, "10.00"))
        before = written(store)

        with pytest.raises(IdempotencyKeyReused):
            service.handle(add_item(MOUSE, 1, "5.00", item_id=OTHER_ITEM_ID), context("fp-2"))
        with pytest.raises(IdempotencyKeyReused):
            service.handle(CheckOutCart(cart_id=CART_ID), context("fp-2"))
        assert written(store) == before

    def test_the_refusal_leaves_the_first_outcome_in_place_for_true_repeats(
        self, store: InMemoryEventStore, service: ApplicationService[Cart]
    ) -> None:
        first = service.handle(create_cart(), context("fp-1"))
        with pytest.raises(IdempotencyKeyReused):
            service.handle(create_cart(OTHER_CART_ID), context("fp-2"))

        again = service.handle(create_cart(), context("fp-1"))

        same_answer(first, again)


class TestRepeatedRejection:
    def test_a_rejected_command_repeated_with_its_key_gets_the_same_rejection_marked_duplicate(
        self, store: InMemoryEventStore, service: ApplicationService[Cart]
    ) -> None:
        service.handle(create_cart())
        first = service.handle(CheckOutCart(cart_id=CART_ID), context("fp-1"))
        before = written(store)

        again = service.handle(CheckOutCart(cart_id=CART_ID), context("fp-1"))

        assert not first.accepted
        assert first.rejection_code == "cart-empty"
        assert first.event_ids == ()
        same_answer(first, again)
        assert not again.accepted
        assert written(store) == before

    def test_the_rejection_stands_even_when_the_cart_would_now_accept_the_command(
        self, store: InMemoryEventStore, service: ApplicationService[Cart]
    ) -> None:
        service.handle(create_cart())
        first = service.handle(RemoveCartItem(cart_id=CART_ID, item_id=ITEM_ID), context("fp-1"))
        assert first.rejection_code == "item-not-found"
        service.handle(add_item(KEYBOARD, 2, "10.00", item_id=ITEM_ID))  # now it exists
        before = written(store)

        again = service.handle(RemoveCartItem(cart_id=CART_ID, item_id=ITEM_ID), context("fp-1"))

        same_answer(first, again)
        assert again.rejection_code == "item-not-found"
        assert written(store) == before
        state = cart(service)
        assert state is not None
        assert [i.id for i in state.items] == [ITEM_ID]

    def test_a_rejected_command_writes_no_event_but_keeps_its_outcome(
        self, store: InMemoryEventStore, service: ApplicationService[Cart]
    ) -> None:
        service.handle(create_cart())
        before = written(store)

        rejected = service.handle(CheckOutCart(cart_id=CART_ID), context("fp-1"))

        assert written(store) == before
        stored = store.outcome(service.consumer, KEY)
        assert stored is not None
        assert Outcome.from_json(stored).rejection_code == rejected.rejection_code == "cart-empty"
        state = cart(service)
        assert state is not None
        assert state.status is CartStatus.ACTIVE


REQUEST: dict[str, Any] = {"cartId": str(CART_ID), "itemId": str(ITEM_ID), "newQuantity": 3}
#: Routes, as the functions fingerprint them: templates (the path's ids are in the command).
PATH = "/api/v1/shopping-carts/{cartId}/items/{itemId}"
CARD_PATH = "/api/v1/shopping-carts/{cartId}/payment-methods/credit-card"


def change(**changes: Any) -> ChangeCartItemQuantity:
    """The command as the HTTP layer reads it from a request's JSON (client names)."""
    return ChangeCartItemQuantity.model_validate(REQUEST | changes)


def card_command(**changes: Any) -> AddCreditCard:
    body = {"cartId": str(CART_ID), "amount": {"amount": "10.00", "currency": "USD"}}
    return AddCreditCard.model_validate(body | {"creditCard": card(**changes)})


class TestFingerprint:
    def test_the_same_method_path_and_command_give_the_same_fingerprint(self) -> None:
        assert _fingerprint("PUT", PATH, change()) == _fingerprint("PUT", PATH, change())

    def test_it_is_the_command_that_counts_not_how_the_json_spelled_it(self) -> None:
        reordered = ChangeCartItemQuantity.model_validate(dict(reversed(REQUEST.items())))
        assert _fingerprint("PUT", PATH, reordered) == _fingerprint("PUT", PATH, change())
        as_text = change(newQuantity="3")  # the same quantity, read from a string
        assert _fingerprint("PUT", PATH, as_text) == _fingerprint("PUT", PATH, change())

    def test_a_fingerprint_names_its_form_before_a_sha256_hex_digest(self) -> None:
        form, colon, digest = _fingerprint("PUT", PATH, change()).partition(":")
        assert (form, colon) == ("2", ":")
        assert len(digest) == 64
        assert set(digest) <= set("0123456789abcdef")

    @pytest.mark.parametrize("method", ["POST", "DELETE", "put"])
    def test_another_method_gives_another_fingerprint(self, method: str) -> None:
        assert _fingerprint(method, PATH, change()) != _fingerprint("PUT", PATH, change())

    @pytest.mark.parametrize(
        "path",
        [
            "/api/v2/shopping-carts/{cartId}/items/{itemId}",
            "/api/v1/shopping-carts/{cartId}/items/{itemId}/increase",
            "/api/v1/shopping-carts/{cartId}",
        ],
    )
    def test_another_route_gives_another_fingerprint(self, path: str) -> None:
        assert _fingerprint("PUT", path, change()) != _fingerprint("PUT", PATH, change())

    @pytest.mark.parametrize(
        "changes", [{"newQuantity": 4}, {"cartId": str(OTHER_CART_ID)}, {"itemId": str(CART_ID)}]
    )
    def test_another_value_gives_another_fingerprint(self, changes: dict[str, Any]) -> None:
        assert _fingerprint("PUT", PATH, change(**changes)) != _fingerprint("PUT", PATH, change())

    def test_a_card_holder_or_expiry_of_its_own_gives_another_fingerprint(self) -> None:
        first = _fingerprint("POST", CARD_PATH, card_command())
        assert _fingerprint("POST", CARD_PATH, card_command(holderName="Ada King")) != first
        assert _fingerprint("POST", CARD_PATH, card_command(expirationDate="01/01/2098")) != first

    @pytest.mark.parametrize(
        "changes",
        [{"securityCode": 999}, {"number": "4539-1488-0343-6467"}],
        ids=["code", "dashes"],
    )
    def test_a_security_code_is_not_part_of_it_nor_how_a_number_is_spelled(
        self, changes: dict[str, Any]
    ) -> None:
        """Stored with the outcome, a digest of the security code with the rest of the request
        would give the code away to whoever reads the store: a few thousand candidates."""
        first = _fingerprint("POST", CARD_PATH, card_command())
        assert _fingerprint("POST", CARD_PATH, card_command(**changes)) == first

    def test_another_card_gives_another_fingerprint_by_its_token_not_its_digits(self) -> None:
        """Two cards under one key are two requests (the second is refused, 422, not answered
        with the first's outcome); what tells them apart is the card's token, a keyed digest the
        event keeps anyway, never the digits."""
        first = card_command()
        other = card_command(number="4111 1111 1111 1111")
        assert _fingerprint("POST", CARD_PATH, other) != _fingerprint("POST", CARD_PATH, first)
        dumped = first.model_dump(mode="json", context={FINGERPRINT: True})
        assert dumped["credit_card"]["number"] == first.credit_card.token()
        assert "4539" not in json.dumps(dumped)
        # Anywhere else the number is masked, as before.
        assert first.model_dump(mode="json")["credit_card"]["number"] == "**********"

    def test_a_paypal_password_is_not_part_of_it(self) -> None:
        body = {"cartId": str(CART_ID), "amount": {"amount": "1.00", "currency": "USD"}}
        fingerprints = {
            _fingerprint(
                "POST",
                CARD_PATH,
                AddPayPal.model_validate(
                    body | {"payPal": {"email": "ada@example.com", "password": password}}
                ),
            )
            for password in ("correct horse battery", "Tr0ub4dor&3")
        }
        assert len(fingerprints) == 1

    def test_a_default_the_server_filled_in_is_not_part_of_it(self) -> None:
        # No methodId: each reading of the request draws a new one, and a retry is the same request.
        first, again = card_command(), card_command()
        assert first.method_id != again.method_id
        assert _fingerprint("POST", CARD_PATH, first) == _fingerprint("POST", CARD_PATH, again)

    def test_parts_do_not_run_into_each_other(self) -> None:
        # The method, the path and the command are kept apart, not concatenated.
        command = change()
        assert _fingerprint("PUT", "/a", command) != _fingerprint("PU", "T/a", command)


class TestSameRequest:
    """Which stored fingerprint a repeated message id is held to."""

    def test_equal_fingerprints_are_the_same_request_and_others_of_one_form_are_not(
        self,
    ) -> None:
        assert same_request("2:ab", "2:ab")
        assert not same_request("2:ab", "2:cd")
        assert not same_request("ab", "cd")

    @pytest.mark.parametrize(("first", "again"), [(None, "2:ab"), ("2:ab", None), ("", "2:ab")])
    def test_a_missing_fingerprint_says_nothing(self, first: str | None, again: str | None) -> None:
        assert same_request(first, again)

    @pytest.mark.parametrize(("first", "again"), [("ab", "2:cd"), ("2:ab", "ab"), ("3:ab", "2:ab")])
    def test_fingerprints_of_other_forms_are_not_compared(self, first: str, again: str) -> None:
        """An outcome stored before the form changed, or by the previous release's instance in a
        rolling upgrade, is answered: its fingerprint cannot be held to this one's."""
        assert same_request(first, again)


@pytest.mark.parametrize(
    ("consumer", "message_id"),
    [("shopping-cart.ShoppingCart", "m-1"), ("a.B", "3f2a…ünïcode"), ("c", "")],
)
def test_a_commands_first_event_id_is_the_uuid5_of_its_consumer_and_message(
    consumer: str, message_id: str
) -> None:
    """``command_event_id`` hashes a copy of the namespace's hash instead of calling ``uuid5``:
    the ids stored so far were ``uuid5``'s, and must stay what a repeat derives."""
    from uuid import uuid5

    from eventualshop.kernel.eventstore import _COMMAND_EVENTS, command_event_id

    expected = uuid5(_COMMAND_EVENTS, f"{consumer}\n{message_id}")
    assert command_event_id.__wrapped__(consumer, message_id) == expected
    assert command_event_id(consumer, message_id) == expected


def test_a_commands_first_event_has_the_id_its_message_derives_and_the_rest_their_own(
    store: InMemoryEventStore, service: ApplicationService[Cart]
) -> None:
    """Stores recognise a repeated command by its first event's id (no index of its own), so
    the service gives that event ``command_event_id(consumer, message id)``; in a batch of
    several events the others get fresh ids."""
    from eventualshop.kernel.aggregate import execute
    from eventualshop.kernel.eventstore import command_event_id

    created = service.handle(create_cart(), context(None, "m-create"))
    added = service.handle(add_item(KEYBOARD, 1), context(None, "m-add"))

    assert created.event_ids == (command_event_id(service.consumer, "m-create"),)
    assert added.event_ids == (command_event_id(service.consumer, "m-add"),)
    assert [e.event_id for e in store.load_events(CART_ID)] == [
        *created.event_ids,
        *added.event_ids,
    ]
    cart = service.repository.load(CART_ID)
    steps = execute(CART, cart, add_item(MOUSE, 2, item_id=OTHER_ITEM_ID))
    steps += execute(CART, steps[-1].state, RemoveCartItem(cart_id=CART_ID, item_id=ITEM_ID))
    first = command_event_id(service.consumer, "m-two")
    batch = service.repository.batch(CART_ID, steps, correlation_id="c", first_event_id=first)
    assert batch.events[0].event_id == first
    # The others are random (v4), not derived (v5) from the message: each id is unique.
    assert [e.event_id.version for e in batch.events] == [5, 4]

"""Use cases of the cart's five read models: given the events real commands raise, when the
projectors handle them in order, then the documents the queries read.

Every event is recorded the way a projector receives it (a version per cart, a timestamp, an event
id), by running commands through the aggregate; see ``history``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

import pytest

from eventualshop.kernel.lag import lag
from eventualshop.kernel.projection import cursor_collection
from eventualshop.kernel.readmodels import Document, ReadModelStore
from eventualshop.shopping_cart import (
    AddBillingAddress,
    AddShippingAddress,
    ChangeCartItemQuantity,
    CheckOutCart,
    CreateCart,
    DiscardCart,
    RemoveCartItem,
    RemovePaymentMethod,
)
from eventualshop.shopping_cart.read_models import (
    DETAILS,
    ITEM_DETAILS,
    ITEM_LIST,
    METHOD_DETAILS,
    METHOD_LIST,
    PROJECTIONS,
    holding,
    member_id,
)

from .examples import (
    CART_ID,
    CATALOG_ID,
    CREDIT_CARD_DIGITS,
    CREDIT_CARD_NUMBER,
    CUSTOMER_ID,
    DEBIT_CARD_DIGITS,
    HOME,
    INVENTORY_ID,
    ITEM_ID,
    KEYBOARD,
    METHOD_ID,
    MOUSE,
    OFFICE,
    OTHER_ITEM_ID,
    OTHER_METHOD_ID,
    PAYPAL_PASSWORD,
    SECURITY_CODE,
    add_credit_card,
    add_debit_card,
    add_item,
    add_pay_pal,
)
from .history import CartHistory, contents, project

OTHER_CART_ID = UUID("0c000000-0000-4000-8000-00000000ca02")
THIRD_METHOD_ID = UUID("0c000000-0000-4000-8000-00000000be03")
CREATE = CreateCart(cart_id=CART_ID, customer_id=CUSTOMER_ID, currency="USD")


def microseconds(moment: datetime) -> int:
    """A cursor's ``eventTime``: the event's time in microseconds since the epoch."""
    return int(moment.timestamp() * 1_000_000)


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


def address(value: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = value.model_dump(mode="json", by_alias=True)
    return dumped


@pytest.fixture
def history() -> CartHistory:
    return CartHistory()


def project_all(history: CartHistory) -> ReadModelStore:
    return project(history.events)


def document(store: ReadModelStore, collection: str, id: str) -> Document:
    found = store.get(collection, id)
    assert found is not None, f"no {collection} document {id}"
    return found


def details(history: CartHistory, cart_id: UUID = CART_ID) -> Document:
    return document(project_all(history), DETAILS, str(cart_id))


def item(
    store: ReadModelStore, collection: str, item_id: UUID, cart_id: UUID = CART_ID
) -> Document:
    return document(store, collection, member_id(cart_id, item_id))


def method(
    store: ReadModelStore, collection: str, method_id: UUID, cart_id: UUID = CART_ID
) -> Document:
    return document(store, collection, member_id(cart_id, method_id))


def at(history: CartHistory, version: int, cart_id: UUID = CART_ID) -> str:
    """The time of a cart's event, as documents show it."""
    event = next(e for e in history.events if e.aggregate_id == cart_id and e.version == version)
    return event.metadata.timestamp.isoformat()


# ---- cart details ----------------------------------------------------------------------------


class TestCartDetails:
    def test_a_new_cart_shows_its_customer_a_zero_total_nothing_paid_and_no_items(
        self, history: CartHistory
    ) -> None:
        history.run(CREATE)

        assert details(history) == {
            "id": str(CART_ID),
            "version": 1,
            "cartId": str(CART_ID),
            "customerId": str(CUSTOMER_ID),
            "status": "Active",
            "total": usd("0.00"),
            "totalPayment": usd("0.00"),
            "amountDue": usd("0.00"),
            "itemCount": 0,
            "billingAddress": None,
            "shippingAddress": None,
            "sameBillingShipping": True,
            "createdAt": at(history, 1),
            "isDeleted": False,
        }

    def test_adding_items_raises_the_total_the_amount_due_and_the_item_count(
        self, history: CartHistory
    ) -> None:
        history.run(
            CREATE,
            add_item(KEYBOARD, 2, "10.00"),
            add_item(MOUSE, 1, "5.25", item_id=OTHER_ITEM_ID),
        )

        shown = details(history)

        assert (shown["total"], shown["totalPayment"], shown["amountDue"]) == (
            usd("25.25"),
            usd("0.00"),
            usd("25.25"),
        )
        assert shown["itemCount"] == 2
        assert shown["version"] == 3

    def test_amounts_read_in_fixed_point_whatever_notation_the_client_used(
        self, history: CartHistory
    ) -> None:
        history.run(
            CREATE,
            add_item(KEYBOARD, 2, "1E+2"),
            add_item(MOUSE, 1, "5.250000", item_id=OTHER_ITEM_ID),
        )

        shown = details(history)

        assert (shown["total"], shown["amountDue"]) == (usd("205.25"), usd("205.25"))
        keyboard = item(project_all(history), ITEM_DETAILS, ITEM_ID)
        assert keyboard["unitPrice"] == usd("100.00")

    def test_the_same_product_again_raises_the_total_but_not_the_item_count(
        self, history: CartHistory
    ) -> None:
        history.run(
            CREATE,
            add_item(KEYBOARD, 2, "10.00"),
            add_item(KEYBOARD, 3, "99.00", item_id=OTHER_ITEM_ID),
        )

        shown = details(history)

        assert (shown["total"], shown["amountDue"], shown["itemCount"]) == (
            usd("50.00"),
            usd("50.00"),
            1,
        )

    def test_increasing_and_decreasing_an_item_change_the_total_but_not_the_item_count(
        self, history: CartHistory
    ) -> None:
        history.run(
            CREATE,
            add_item(KEYBOARD, 2, "10.00"),
            ChangeCartItemQuantity(cart_id=CART_ID, item_id=ITEM_ID, new_quantity=5),
        )
        assert (details(history)["total"], details(history)["itemCount"]) == (usd("50.00"), 1)

        history.run(ChangeCartItemQuantity(cart_id=CART_ID, item_id=ITEM_ID, new_quantity=1))
        assert (details(history)["total"], details(history)["itemCount"]) == (usd("10.00"), 1)

    def test_removing_an_item_lowers_the_total_and_the_item_count(
        self, history: CartHistory
    ) -> None:
        history.run(
            CREATE,
            add_item(KEYBOARD, 2, "10.00"),
            add_item(MOUSE, 1, "5.25", item_id=OTHER_ITEM_ID),
            RemoveCartItem(cart_id=CART_ID, item_id=ITEM_ID),
        )

        shown = details(history)

        assert (shown["total"], shown["amountDue"], shown["itemCount"]) == (
            usd("5.25"),
            usd("5.25"),
            1,
        )

    def test_payment_methods_raise_the_total_payment_and_lower_the_amount_due(
        self, history: CartHistory
    ) -> None:
        history.run(
            CREATE,
            add_item(KEYBOARD, 2, "10.00"),
            add_credit_card("5.00"),
            add_debit_card("7.50", OTHER_METHOD_ID),
            add_pay_pal("2.50", THIRD_METHOD_ID),
        )

        shown = details(history)

        assert (shown["total"], shown["totalPayment"], shown["amountDue"]) == (
            usd("20.00"),
            usd("15.00"),
            usd("5.00"),
        )

    def test_removing_a_payment_method_gives_its_amount_back_to_the_amount_due(
        self, history: CartHistory
    ) -> None:
        history.run(
            CREATE,
            add_item(KEYBOARD, 2, "10.00"),
            add_credit_card("5.00"),
            add_pay_pal("15.00", OTHER_METHOD_ID),
            RemovePaymentMethod(cart_id=CART_ID, method_id=OTHER_METHOD_ID),
        )

        shown = details(history)

        assert (shown["totalPayment"], shown["amountDue"]) == (usd("5.00"), usd("15.00"))

    def test_the_amount_due_follows_the_total_when_items_change_after_a_payment(
        self, history: CartHistory
    ) -> None:
        history.run(
            CREATE,
            add_item(KEYBOARD, 2, "10.00"),
            add_credit_card("15.00"),
            add_item(MOUSE, 1, "5.25", item_id=OTHER_ITEM_ID),
        )

        shown = details(history)

        assert (shown["total"], shown["totalPayment"], shown["amountDue"]) == (
            usd("25.25"),
            usd("15.00"),
            usd("10.25"),
        )

    def test_checking_out_shows_the_cart_checked_out_with_nothing_due(
        self, history: CartHistory
    ) -> None:
        history.run(
            CREATE,
            add_item(KEYBOARD, 2, "10.00"),
            add_credit_card("20.00"),
            CheckOutCart(cart_id=CART_ID),
        )

        shown = details(history)

        assert (shown["status"], shown["isDeleted"], shown["amountDue"]) == (
            "CheckedOut",
            False,
            usd("0.00"),
        )
        assert shown["version"] == 4

    def test_discarding_leaves_a_tombstone_marked_abandoned(self, history: CartHistory) -> None:
        history.run(CREATE, add_item(KEYBOARD, 2, "10.00"), DiscardCart(cart_id=CART_ID))

        shown = details(history)

        assert (shown["status"], shown["isDeleted"], shown["version"]) == ("Abandoned", True, 3)
        # The tombstone keeps what the cart held, for whoever looks at it later.
        assert (shown["total"], shown["itemCount"]) == (usd("20.00"), 1)

    def test_each_cart_has_its_own_document(self, history: CartHistory) -> None:
        history.run(
            CREATE,
            CreateCart(cart_id=OTHER_CART_ID, customer_id=CUSTOMER_ID, currency="EUR"),
            add_item(KEYBOARD, 2, "10.00"),
        )
        store = project_all(history)

        assert document(store, DETAILS, str(CART_ID))["total"] == usd("20.00")
        assert document(store, DETAILS, str(OTHER_CART_ID))["total"] == {
            "amount": "0.00",
            "currency": "EUR",
        }


class TestAddresses:
    def test_the_shipping_address_follows_the_billing_address_until_one_is_chosen_apart(
        self, history: CartHistory
    ) -> None:
        history.run(CREATE, AddBillingAddress(cart_id=CART_ID, address=HOME))

        shown = details(history)

        assert shown["billingAddress"] == address(HOME)
        assert shown["shippingAddress"] == address(HOME)
        assert shown["sameBillingShipping"] is True

    def test_a_new_billing_address_moves_a_shipping_address_that_follows_it(
        self, history: CartHistory
    ) -> None:
        history.run(
            CREATE,
            AddBillingAddress(cart_id=CART_ID, address=HOME),
            AddBillingAddress(cart_id=CART_ID, address=OFFICE),
        )

        shown = details(history)

        assert (shown["billingAddress"], shown["shippingAddress"]) == (
            address(OFFICE),
            address(OFFICE),
        )

    def test_a_shipping_address_chosen_apart_stays_when_the_billing_address_changes(
        self, history: CartHistory
    ) -> None:
        history.run(
            CREATE,
            AddShippingAddress(cart_id=CART_ID, address=OFFICE),
            AddBillingAddress(cart_id=CART_ID, address=HOME),
        )

        shown = details(history)

        assert (shown["billingAddress"], shown["shippingAddress"]) == (
            address(HOME),
            address(OFFICE),
        )
        assert shown["sameBillingShipping"] is False

    def test_choosing_the_billing_address_for_shipping_makes_shipping_follow_billing_again(
        self, history: CartHistory
    ) -> None:
        history.run(
            CREATE,
            AddShippingAddress(cart_id=CART_ID, address=OFFICE),
            AddBillingAddress(cart_id=CART_ID, address=HOME),
            AddShippingAddress(cart_id=CART_ID, address=HOME),
            AddBillingAddress(cart_id=CART_ID, address=OFFICE),
        )

        shown = details(history)

        assert (shown["billingAddress"], shown["shippingAddress"]) == (
            address(OFFICE),
            address(OFFICE),
        )

    def test_the_addresses_shown_are_those_of_the_cart(self, history: CartHistory) -> None:
        history.run(
            CREATE,
            AddBillingAddress(cart_id=CART_ID, address=HOME),
            AddShippingAddress(cart_id=CART_ID, address=OFFICE),
            AddBillingAddress(cart_id=CART_ID, address=OFFICE),
            AddBillingAddress(cart_id=CART_ID, address=HOME),
        )
        cart = history.states[CART_ID]

        shown = details(history)

        assert shown["billingAddress"] == address(cart.billing_address)
        assert shown["shippingAddress"] == address(cart.shipping_address)
        assert shown["sameBillingShipping"] is cart.same_billing_shipping


# ---- items -----------------------------------------------------------------------------------


@pytest.mark.parametrize("collection", [ITEM_LIST, ITEM_DETAILS])
class TestItems:
    def test_an_added_item_shows_its_product_quantity_and_unit_price(
        self, history: CartHistory, collection: str
    ) -> None:
        history.run(CREATE, add_item(KEYBOARD, 2, "10.00"))

        shown = item(project_all(history), collection, ITEM_ID)

        expected = {
            "id": member_id(CART_ID, ITEM_ID),
            "version": 2,
            "itemId": str(ITEM_ID),
            "cartId": str(CART_ID),
            "productName": "Keyboard",
            "quantity": 2,
            "unitPrice": usd("10.00"),
            "addedAt": at(history, 2),
            "isDeleted": False,
            "holding": holding(INVENTORY_ID, KEYBOARD),
        }
        if collection == ITEM_DETAILS:
            expected |= {
                "catalogId": str(CATALOG_ID),
                "inventoryId": str(INVENTORY_ID),
                "product": KEYBOARD.model_dump(mode="json", by_alias=True),
            }
        assert shown == expected

    def test_the_same_product_again_increases_the_quantity_of_its_item(
        self, history: CartHistory, collection: str
    ) -> None:
        history.run(
            CREATE,
            add_item(KEYBOARD, 2, "10.00"),
            add_item(KEYBOARD, 3, "99.00", item_id=OTHER_ITEM_ID),
        )
        store = project_all(history)

        shown = item(store, collection, ITEM_ID)

        assert (shown["quantity"], shown["unitPrice"], shown["version"]) == (5, usd("10.00"), 3)
        assert store.get(collection, member_id(CART_ID, OTHER_ITEM_ID)) is None

    @pytest.mark.parametrize("new_quantity", [1, 7])
    def test_changing_the_quantity_shows_the_new_quantity(
        self, history: CartHistory, collection: str, new_quantity: int
    ) -> None:
        history.run(
            CREATE,
            add_item(KEYBOARD, 2, "10.00"),
            ChangeCartItemQuantity(cart_id=CART_ID, item_id=ITEM_ID, new_quantity=new_quantity),
        )

        shown = item(project_all(history), collection, ITEM_ID)

        assert (shown["quantity"], shown["version"], shown["addedAt"]) == (
            new_quantity,
            3,
            at(history, 2),
        )

    def test_a_removed_item_becomes_a_tombstone_and_the_others_stay(
        self, history: CartHistory, collection: str
    ) -> None:
        history.run(
            CREATE,
            add_item(KEYBOARD, 2, "10.00"),
            add_item(MOUSE, 1, "5.25", item_id=OTHER_ITEM_ID),
            RemoveCartItem(cart_id=CART_ID, item_id=ITEM_ID),
        )
        store = project_all(history)

        removed = item(store, collection, ITEM_ID)
        assert (removed["isDeleted"], removed["version"], removed["quantity"]) == (True, 4, 2)
        kept = item(store, collection, OTHER_ITEM_ID)
        assert (kept["isDeleted"], kept["version"]) == (False, 3)

    def test_an_item_added_again_after_its_removal_comes_back(
        self, history: CartHistory, collection: str
    ) -> None:
        history.run(
            CREATE,
            add_item(KEYBOARD, 2, "10.00"),
            RemoveCartItem(cart_id=CART_ID, item_id=ITEM_ID),
            add_item(MOUSE, 4, "5.25"),  # the same item id, another product
        )

        shown = item(project_all(history), collection, ITEM_ID)

        assert (shown["isDeleted"], shown["productName"], shown["quantity"]) == (False, "Mouse", 4)
        assert shown["addedAt"] == at(history, 4)

    def test_discarding_the_cart_makes_every_item_a_tombstone(
        self, history: CartHistory, collection: str
    ) -> None:
        history.run(
            CREATE,
            add_item(KEYBOARD, 2, "10.00"),
            add_item(MOUSE, 1, "5.25", item_id=OTHER_ITEM_ID),
            RemoveCartItem(cart_id=CART_ID, item_id=OTHER_ITEM_ID),
            DiscardCart(cart_id=CART_ID),
        )
        store = project_all(history)

        live_one = item(store, collection, ITEM_ID)
        assert (live_one["isDeleted"], live_one["version"]) == (True, 5)
        # Already a tombstone: the discard leaves it as the removal wrote it.
        removed = item(store, collection, OTHER_ITEM_ID)
        assert (removed["isDeleted"], removed["version"]) == (True, 4)

    def test_two_carts_may_hold_items_with_the_same_id(
        self, history: CartHistory, collection: str
    ) -> None:
        # Clients may choose item ids; another cart's choice must not touch this cart's item.
        history.run(
            CREATE,
            CreateCart(cart_id=OTHER_CART_ID, customer_id=CUSTOMER_ID, currency="USD"),
            add_item(KEYBOARD, 2, "10.00"),
            add_item(MOUSE, 9, "5.25").model_copy(update={"cart_id": OTHER_CART_ID}),
            DiscardCart(cart_id=OTHER_CART_ID),
        )
        store = project_all(history)

        mine = item(store, collection, ITEM_ID)
        assert (mine["productName"], mine["quantity"], mine["isDeleted"]) == ("Keyboard", 2, False)
        theirs = item(store, collection, ITEM_ID, OTHER_CART_ID)
        assert (theirs["productName"], theirs["quantity"], theirs["isDeleted"]) == (
            "Mouse",
            9,
            True,
        )


# ---- payment methods -------------------------------------------------------------------------

CREDIT_CARD = {
    "type": "CreditCard",
    "holderName": "Ada Lovelace",
    "expiration": "12/99",
    "lastFour": "6467",
}
DEBIT_CARD = {
    "type": "DebitCard",
    "holderName": "Charles Babbage",
    "expiration": "12/99",
    "lastFour": "9424",
}
PAYPAL = {"type": "PayPal", "email": "ada@example.com"}


def leaves(data: Any) -> list[Any]:
    if isinstance(data, dict):
        return [leaf for value in data.values() for leaf in leaves(value)]
    if isinstance(data, list):
        return [leaf for value in data for leaf in leaves(value)]
    return [data]


def paid_three_ways(history: CartHistory) -> None:
    history.run(
        CREATE,
        add_item(KEYBOARD, 2, "10.00"),
        add_credit_card("5.00"),
        add_debit_card("7.50", OTHER_METHOD_ID),
        add_pay_pal("2.50", THIRD_METHOD_ID),
    )


class TestPaymentMethods:
    @pytest.mark.parametrize(
        ("method_id", "amount", "option", "version"),
        [
            (METHOD_ID, "5.00", CREDIT_CARD, 3),
            (OTHER_METHOD_ID, "7.50", DEBIT_CARD, 4),
            (THIRD_METHOD_ID, "2.50", PAYPAL, 5),
        ],
        ids=["credit card", "debit card", "PayPal"],
    )
    def test_the_list_shows_the_option_type_and_the_details_the_option_without_secrets(
        self,
        history: CartHistory,
        method_id: UUID,
        amount: str,
        option: dict[str, str],
        version: int,
    ) -> None:
        paid_three_ways(history)
        store = project_all(history)
        expected = {
            "id": member_id(CART_ID, method_id),
            "version": version,
            "methodId": str(method_id),
            "cartId": str(CART_ID),
            "amount": usd(amount),
            "addedAt": at(history, version),
            "isDeleted": False,
        }

        assert method(store, METHOD_LIST, method_id) == expected | {"option": option["type"]}
        assert method(store, METHOD_DETAILS, method_id) == expected | {"option": option}

    def test_no_document_holds_a_card_number_security_code_token_or_password(
        self, history: CartHistory
    ) -> None:
        paid_three_ways(history)
        tokens = [
            option.token
            for m in history.states[CART_ID].payment_methods
            if (option := m.option).type != "PayPal"
        ]
        assert len(tokens) == 2

        text = json.dumps(contents(project_all(history)))

        for secret in (
            CREDIT_CARD_DIGITS,
            CREDIT_CARD_NUMBER,
            DEBIT_CARD_DIGITS,
            PAYPAL_PASSWORD,
            *tokens,
        ):
            assert secret not in text
        for key in ("number", "securityCode", "security_code", "token", "password"):
            assert f'"{key}"' not in text
        # The security code is a small number: look for it as a value, not as a substring.
        assert SECURITY_CODE not in leaves(json.loads(text))
        assert str(SECURITY_CODE) not in leaves(json.loads(text))

    @pytest.mark.parametrize("collection", [METHOD_LIST, METHOD_DETAILS])
    def test_a_removed_payment_method_becomes_a_tombstone_and_the_others_stay(
        self, history: CartHistory, collection: str
    ) -> None:
        paid_three_ways(history)
        history.run(RemovePaymentMethod(cart_id=CART_ID, method_id=OTHER_METHOD_ID))
        store = project_all(history)

        removed = method(store, collection, OTHER_METHOD_ID)
        assert (removed["isDeleted"], removed["version"]) == (True, 6)
        for kept_id, version in ((METHOD_ID, 3), (THIRD_METHOD_ID, 5)):
            kept = method(store, collection, kept_id)
            assert (kept["isDeleted"], kept["version"]) == (False, version)

    @pytest.mark.parametrize("collection", [METHOD_LIST, METHOD_DETAILS])
    def test_discarding_the_cart_makes_every_payment_method_a_tombstone(
        self, history: CartHistory, collection: str
    ) -> None:
        paid_three_ways(history)
        history.run(
            RemovePaymentMethod(cart_id=CART_ID, method_id=METHOD_ID), DiscardCart(cart_id=CART_ID)
        )
        store = project_all(history)

        versions = {
            m: (method(store, collection, m)["isDeleted"], method(store, collection, m)["version"])
            for m in (METHOD_ID, OTHER_METHOD_ID, THIRD_METHOD_ID)
        }
        assert versions == {
            METHOD_ID: (True, 6),
            OTHER_METHOD_ID: (True, 7),
            THIRD_METHOD_ID: (True, 7),
        }


# ---- what every read model shares ------------------------------------------------------------


class TestVersions:
    def test_every_projection_moves_its_cursor_with_every_event_even_those_it_does_not_show(
        self, history: CartHistory
    ) -> None:
        history.run(
            CREATE,
            AddBillingAddress(cart_id=CART_ID, address=HOME),
            AddShippingAddress(cart_id=CART_ID, address=OFFICE),
        )
        last = history.events[-1]

        everything = contents(project_all(history))

        cursors = {name: docs for name, docs in everything.items() if name.endswith("_cursors")}
        assert len(cursors) == 5
        for documents in cursors.values():
            assert documents == {
                str(CART_ID): {
                    "id": str(CART_ID),
                    "version": 3,
                    "eventId": str(last.metadata.event_id),
                    "eventTime": microseconds(last.metadata.timestamp),
                    "position": last.position,
                }
            }
        assert everything[ITEM_LIST] == everything[METHOD_LIST] == {}

    def test_the_lag_is_read_from_the_cursors_and_the_stream_heads(
        self, history: CartHistory
    ) -> None:
        history.run(CREATE, add_item(KEYBOARD, 2, "10.00"))
        other = history.run(
            CreateCart(cart_id=OTHER_CART_ID, customer_id=CUSTOMER_ID, currency="USD")
        )
        history.run(ChangeCartItemQuantity(cart_id=CART_ID, item_id=ITEM_ID, new_quantity=3))
        last = history.events[-1]
        # The other cart's only event is older than the first cart's last one.
        store = project_all(history)

        assert {c: len(d) for c, d in contents(store).items() if c.endswith("_cursors")} == (
            dict.fromkeys((cursor_collection(p) for p in PROJECTIONS), 2)
        )
        for projection in PROJECTIONS:
            found = lag(store, projection, history.store)
            assert (found.last_applied_position, found.behind) == (last.position, 0)
            assert found.aggregates_behind == 0
        assert other[0].metadata.timestamp < last.metadata.timestamp
        # No document is written per event besides the read models and the cursors.
        assert store.find("projection_status") == []

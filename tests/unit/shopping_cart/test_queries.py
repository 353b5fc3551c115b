"""Use cases of the cart's queries: given the read models that real commands produce, when a
client asks, then what it gets back (tombstones are not found), and how lists are paged.

Every query runs against the in-memory store and against the SQL store on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

from eventualshop.kernel.paging import DEFAULT_LIMIT, MAX_LIMIT, Page, Paging, PagingError
from eventualshop.kernel.readmodels import ReadModelStore
from eventualshop.kernel.readmodels_memory import InMemoryReadModelStore
from eventualshop.shopping_cart import (
    AddBillingAddress,
    ChangeCartItemQuantity,
    CheckOutCart,
    CreateCart,
    DiscardCart,
    RemoveCartItem,
    RemovePaymentMethod,
)
from eventualshop.shopping_cart.queries import (
    get_cart_details,
    get_cart_item_details,
    get_customer_cart_details,
    get_payment_method_details,
    list_cart_items,
    list_payment_methods,
)
from eventualshop.shopping_cart.read_models import PROJECTIONS

from .examples import (
    CART_ID,
    CATALOG_ID,
    CUSTOMER_ID,
    HOME,
    INVENTORY_ID,
    ITEM_ID,
    KEYBOARD,
    METHOD_ID,
    MOUSE,
    OTHER_ITEM_ID,
    OTHER_METHOD_ID,
    add_credit_card,
    add_item,
    add_pay_pal,
)
from .history import CartHistory, collections, project, sqlite_read_models

OTHER_CART_ID = UUID("0c000000-0000-4000-8000-00000000ca02")
THIRD_CART_ID = UUID("0c000000-0000-4000-8000-00000000ca03")
OTHER_CUSTOMER_ID = UUID("0c000000-0000-4000-8000-00000000c002")
UNKNOWN = UUID("0c000000-0000-4000-8000-0000000dead0")


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


def create(cart_id: UUID = CART_ID, customer_id: UUID = CUSTOMER_ID) -> CreateCart:
    return CreateCart(cart_id=cart_id, customer_id=customer_id, currency="USD")


def in_cart(cart_id: UUID, command: Any) -> Any:
    return command.model_copy(update={"cart_id": cart_id})


def product(n: int) -> Any:
    return KEYBOARD.model_copy(update={"sku": f"SKU-{n:03d}", "name": f"Product {n:03d}"})


def item_id(n: int) -> UUID:
    return UUID(int=0x1E_0000 + n)


@pytest.fixture(params=["memory", "sqlite"])
def read_models(request: pytest.FixtureRequest) -> Iterator[ReadModelStore]:
    if request.param == "memory":
        yield InMemoryReadModelStore()
        return
    with sqlite_read_models() as store:
        yield store


@pytest.fixture
def history() -> CartHistory:
    return CartHistory()


class Shop:
    """Commands in, read models out: every recorded event projected once, in order.

    The projectors write to an in-memory store; an SQL store then gets those documents in one
    batch per collection (projecting into SQL is covered by the delivery property), with the
    read models' indexes, so that the queries run on SQL without paying a commit per write.
    """

    def __init__(self, history: CartHistory, read_models: ReadModelStore) -> None:
        self.history = history
        self.read_models = read_models
        self._memory = (
            read_models
            if isinstance(read_models, InMemoryReadModelStore)
            else InMemoryReadModelStore()
        )
        self._projected = 0
        for projection in PROJECTIONS:
            for collection, indexes in projection.collections.items():
                read_models.ensure_indexes(collection, indexes)

    def run(self, *commands: Any) -> ReadModelStore:
        self.history.run(*commands)
        project(self.history.events[self._projected :], self._memory)
        self._projected = len(self.history.events)
        if self._memory is not self.read_models:
            for name in collections():
                self.read_models.bulk_upsert(name, self._memory.find(name))
        return self.read_models


@pytest.fixture
def shop(history: CartHistory, read_models: ReadModelStore) -> Shop:
    return Shop(history, read_models)


# ---- cart details ------------------------------------------------------------------------------


class TestCartDetails:
    def test_a_cart_shows_its_totals_items_and_addresses(self, shop: Shop) -> None:
        store = shop.run(
            create(),
            add_item(KEYBOARD, 2, "10.00"),
            add_credit_card("5.00"),
            AddBillingAddress(cart_id=CART_ID, address=HOME),
        )

        assert get_cart_details(store, CART_ID) == {
            "cartId": str(CART_ID),
            "version": 4,
            "customerId": str(CUSTOMER_ID),
            "status": "Active",
            "total": usd("20.00"),
            "totalPayment": usd("5.00"),
            "amountDue": usd("15.00"),
            "itemCount": 1,
            "billingAddress": HOME.model_dump(mode="json", by_alias=True),
            "shippingAddress": HOME.model_dump(mode="json", by_alias=True),
        }

    def test_a_checked_out_cart_is_found(self, shop: Shop) -> None:
        store = shop.run(
            create(),
            add_item(KEYBOARD, 2, "10.00"),
            add_credit_card("20.00"),
            CheckOutCart(cart_id=CART_ID),
        )

        found = get_cart_details(store, CART_ID)

        assert found is not None
        assert found["status"] == "CheckedOut"

    def test_a_discarded_cart_is_not_found(self, shop: Shop) -> None:
        store = shop.run(create(), DiscardCart(cart_id=CART_ID))

        assert get_cart_details(store, CART_ID) is None

    def test_an_unknown_cart_is_not_found(self, shop: Shop) -> None:
        store = shop.run(create())

        assert get_cart_details(store, UNKNOWN) is None


class TestCustomerCart:
    def test_the_active_cart_is_preferred_to_a_more_recent_checked_out_one(
        self, shop: Shop
    ) -> None:
        store = shop.run(
            create(CART_ID),
            create(OTHER_CART_ID),
            in_cart(OTHER_CART_ID, add_item(KEYBOARD, 1, "10.00")),
            in_cart(OTHER_CART_ID, add_credit_card("10.00")),
            CheckOutCart(cart_id=OTHER_CART_ID),
        )

        found = get_customer_cart_details(store, CUSTOMER_ID)

        assert found is not None
        assert (found["cartId"], found["status"]) == (str(CART_ID), "Active")

    def test_without_an_active_cart_the_most_recent_one_is_shown(self, shop: Shop) -> None:
        commands: list[Any] = []
        for cart_id in (CART_ID, OTHER_CART_ID):
            commands += [
                create(cart_id),
                in_cart(cart_id, add_item(KEYBOARD, 1, "10.00")),
                in_cart(cart_id, add_credit_card("10.00")),
            ]
        # Checked out in the opposite order: created most recently is what counts.
        commands += [CheckOutCart(cart_id=OTHER_CART_ID), CheckOutCart(cart_id=CART_ID)]
        store = shop.run(*commands)

        found = get_customer_cart_details(store, CUSTOMER_ID)

        assert found is not None
        assert (found["cartId"], found["status"]) == (str(OTHER_CART_ID), "CheckedOut")

    def test_the_active_cart_is_found_behind_any_number_of_newer_checked_out_ones(
        self, shop: Shop
    ) -> None:
        commands: list[Any] = [create(CART_ID)]
        for n in range(60):
            cart_id = UUID(int=0xCA_0000 + n)
            commands += [
                create(cart_id),
                in_cart(cart_id, add_item(KEYBOARD, 1, "10.00")),
                in_cart(cart_id, add_credit_card("10.00")),
                CheckOutCart(cart_id=cart_id),
            ]
        store = shop.run(*commands)

        found = get_customer_cart_details(store, CUSTOMER_ID)

        assert found is not None
        assert (found["cartId"], found["status"]) == (str(CART_ID), "Active")

    def test_discarded_carts_are_passed_over(self, shop: Shop) -> None:
        store = shop.run(
            create(CART_ID),
            in_cart(CART_ID, add_item(KEYBOARD, 1, "10.00")),
            in_cart(CART_ID, add_credit_card("10.00")),
            CheckOutCart(cart_id=CART_ID),
            create(OTHER_CART_ID),
            DiscardCart(cart_id=OTHER_CART_ID),
        )

        found = get_customer_cart_details(store, CUSTOMER_ID)

        assert found is not None
        assert found["cartId"] == str(CART_ID)

    def test_a_customer_whose_only_cart_was_discarded_has_none(self, shop: Shop) -> None:
        store = shop.run(create(), DiscardCart(cart_id=CART_ID))

        assert get_customer_cart_details(store, CUSTOMER_ID) is None

    def test_another_customers_cart_is_never_shown(self, shop: Shop) -> None:
        store = shop.run(create(OTHER_CART_ID, OTHER_CUSTOMER_ID))

        assert get_customer_cart_details(store, CUSTOMER_ID) is None
        found = get_customer_cart_details(store, OTHER_CUSTOMER_ID)
        assert found is not None
        assert found["cartId"] == str(OTHER_CART_ID)


# ---- items -------------------------------------------------------------------------------------


class TestItems:
    def test_the_details_of_an_item_show_its_product_and_where_it_comes_from(
        self, shop: Shop
    ) -> None:
        store = shop.run(
            create(),
            add_item(KEYBOARD, 2, "10.00"),
            ChangeCartItemQuantity(cart_id=CART_ID, item_id=ITEM_ID, new_quantity=3),
        )

        assert get_cart_item_details(store, CART_ID, ITEM_ID) == {
            "itemId": str(ITEM_ID),
            "version": 3,
            "cartId": str(CART_ID),
            "productName": "Keyboard",
            "quantity": 3,
            "unitPrice": usd("10.00"),
            "catalogId": str(CATALOG_ID),
            "inventoryId": str(INVENTORY_ID),
            "product": KEYBOARD.model_dump(mode="json", by_alias=True),
            # No Warehouse answer projected: see test_item_availability.py.
            "availability": "pending",
            "reservedQuantity": None,
        }

    def test_the_list_shows_the_items_still_in_the_cart_in_the_order_they_were_added(
        self, shop: Shop
    ) -> None:
        store = shop.run(
            create(),
            add_item(MOUSE, 1, "5.25", item_id=OTHER_ITEM_ID),
            add_item(KEYBOARD, 2, "10.00", item_id=item_id(1)),
            add_item(product(3), 4, "1.00", item_id=ITEM_ID),
            RemoveCartItem(cart_id=CART_ID, item_id=item_id(1)),
        )

        page = list_cart_items(store, CART_ID, Paging())

        assert page.items == [
            {
                "itemId": str(OTHER_ITEM_ID),
                "version": 2,
                "cartId": str(CART_ID),
                "productName": "Mouse",
                "quantity": 1,
                "unitPrice": usd("5.25"),
                "availability": "pending",
                "reservedQuantity": None,
            },
            {
                "itemId": str(ITEM_ID),
                "version": 4,
                "cartId": str(CART_ID),
                "productName": "Product 003",
                "quantity": 4,
                "unitPrice": usd("1.00"),
                "availability": "pending",
                "reservedQuantity": None,
            },
        ]
        assert page.has_next is False

    def test_a_removed_item_is_not_found(self, shop: Shop) -> None:
        store = shop.run(create(), add_item(), RemoveCartItem(cart_id=CART_ID, item_id=ITEM_ID))

        assert get_cart_item_details(store, CART_ID, ITEM_ID) is None

    def test_the_items_of_a_discarded_cart_are_not_found(self, shop: Shop) -> None:
        store = shop.run(create(), add_item(), DiscardCart(cart_id=CART_ID))

        assert get_cart_item_details(store, CART_ID, ITEM_ID) is None
        assert list_cart_items(store, CART_ID, Paging()).items == []

    def test_an_item_is_not_found_through_another_cart(self, shop: Shop) -> None:
        store = shop.run(create(), create(OTHER_CART_ID), add_item())

        assert get_cart_item_details(store, OTHER_CART_ID, ITEM_ID) is None
        assert list_cart_items(store, OTHER_CART_ID, Paging()).items == []

    def test_two_carts_holding_items_with_the_same_id_each_see_their_own(self, shop: Shop) -> None:
        store = shop.run(
            create(),
            create(OTHER_CART_ID),
            add_item(KEYBOARD, 2, "10.00"),
            in_cart(OTHER_CART_ID, add_item(MOUSE, 7, "5.25")),
        )

        mine, theirs = (
            get_cart_item_details(store, CART_ID, ITEM_ID),
            get_cart_item_details(store, OTHER_CART_ID, ITEM_ID),
        )

        assert mine is not None
        assert theirs is not None
        assert (mine["productName"], mine["quantity"]) == ("Keyboard", 2)
        assert (theirs["productName"], theirs["quantity"]) == ("Mouse", 7)
        assert [i["quantity"] for i in list_cart_items(store, CART_ID, Paging()).items] == [2]

    def test_an_unknown_item_is_not_found(self, shop: Shop) -> None:
        store = shop.run(create(), add_item())

        assert get_cart_item_details(store, CART_ID, UNKNOWN) is None


# ---- payment methods ---------------------------------------------------------------------------


def paid_two_ways(shop: Shop) -> ReadModelStore:
    return shop.run(
        create(),
        add_item(KEYBOARD, 2, "10.00"),
        add_pay_pal("5.00"),
        add_credit_card("7.50", OTHER_METHOD_ID),
    )


class TestPaymentMethods:
    def test_the_list_shows_each_method_with_its_option_type_in_the_order_added(
        self, shop: Shop
    ) -> None:
        store = paid_two_ways(shop)

        page = list_payment_methods(store, CART_ID, Paging())

        assert page.items == [
            {
                "methodId": str(METHOD_ID),
                "version": 3,
                "cartId": str(CART_ID),
                "amount": usd("5.00"),
                "option": "PayPal",
            },
            {
                "methodId": str(OTHER_METHOD_ID),
                "version": 4,
                "cartId": str(CART_ID),
                "amount": usd("7.50"),
                "option": "CreditCard",
            },
        ]
        assert page.has_next is False

    def test_the_details_of_a_method_show_its_option_without_secrets(self, shop: Shop) -> None:
        store = paid_two_ways(shop)

        assert get_payment_method_details(store, CART_ID, OTHER_METHOD_ID) == {
            "methodId": str(OTHER_METHOD_ID),
            "version": 4,
            "cartId": str(CART_ID),
            "amount": usd("7.50"),
            "option": {
                "type": "CreditCard",
                "holderName": "Ada Lovelace",
                "expiration": "12/99",
                "lastFour": "6467",
            },
        }

    def test_a_removed_method_is_not_found_nor_listed(self, shop: Shop) -> None:
        store = paid_two_ways(shop)
        shop.run(RemovePaymentMethod(cart_id=CART_ID, method_id=METHOD_ID))

        assert get_payment_method_details(store, CART_ID, METHOD_ID) is None
        listed = list_payment_methods(store, CART_ID, Paging()).items
        assert [m["methodId"] for m in listed] == [str(OTHER_METHOD_ID)]

    def test_the_methods_of_a_discarded_cart_are_not_found(self, shop: Shop) -> None:
        store = paid_two_ways(shop)
        shop.run(DiscardCart(cart_id=CART_ID))

        assert get_payment_method_details(store, CART_ID, OTHER_METHOD_ID) is None
        assert list_payment_methods(store, CART_ID, Paging()).items == []

    def test_a_method_is_not_found_through_another_cart(self, shop: Shop) -> None:
        store = paid_two_ways(shop)
        shop.run(create(OTHER_CART_ID))

        assert get_payment_method_details(store, OTHER_CART_ID, METHOD_ID) is None
        assert get_payment_method_details(store, CART_ID, UNKNOWN) is None


# ---- paging ------------------------------------------------------------------------------------


def cart_with_items(shop: Shop, count: int) -> ReadModelStore:
    """A cart with ``count`` items, added in the order of their numbers."""
    return shop.run(
        create(), *(add_item(product(n), 1, "1.00", item_id=item_id(n)) for n in range(count))
    )


def numbers(page: Page) -> list[int]:
    return [int(item["productName"].removeprefix("Product ")) for item in page.items]


class TestPaging:
    def test_a_page_holds_ten_items_by_default(self, shop: Shop) -> None:
        store = cart_with_items(shop, 11)

        page = list_cart_items(store, CART_ID, Paging.parse(None, None))

        assert numbers(page) == list(range(10))
        assert page.has_next is True

    @pytest.mark.parametrize(
        ("count", "has_next"), [(9, False), (10, False), (11, True), (20, False)]
    )
    def test_there_is_a_next_page_only_when_an_item_is_left_beyond_this_one(
        self, shop: Shop, count: int, has_next: bool
    ) -> None:
        store = cart_with_items(shop, count)

        page = list_cart_items(store, CART_ID, Paging(limit=10, offset=10 if count == 20 else 0))

        assert page.has_next is has_next

    def test_the_offset_counts_items_not_pages(self, shop: Shop) -> None:
        store = cart_with_items(shop, 12)

        page = list_cart_items(store, CART_ID, Paging.parse("4", "3"))

        assert numbers(page) == [3, 4, 5, 6]
        assert page.has_next is True
        assert page.to_json()["page"] == {
            "current": 1,
            "size": 4,
            "hasPrevious": True,
            "hasNext": True,
        }

    def test_the_last_partial_page_has_the_rest_and_no_next(self, shop: Shop) -> None:
        store = cart_with_items(shop, 12)

        page = list_cart_items(store, CART_ID, Paging(limit=5, offset=10))

        assert numbers(page) == [10, 11]
        assert page.to_json()["page"] == {
            "current": 3,
            "size": 2,
            "hasPrevious": True,
            "hasNext": False,
        }

    def test_a_page_beyond_the_end_is_a_page_with_no_items(self, shop: Shop) -> None:
        store = cart_with_items(shop, 3)

        page = list_cart_items(store, CART_ID, Paging(limit=10, offset=30))

        assert page.to_json() == {
            "items": [],
            "page": {"current": 4, "size": 0, "hasPrevious": True, "hasNext": False},
        }

    def test_an_empty_cart_is_one_page_with_no_items(self, shop: Shop) -> None:
        store = shop.run(create())

        assert list_cart_items(store, CART_ID, Paging()).to_json() == {
            "items": [],
            "page": {"current": 1, "size": 0, "hasPrevious": False, "hasNext": False},
        }

    def test_a_page_holds_at_most_a_hundred_items(self, shop: Shop) -> None:
        store = cart_with_items(shop, MAX_LIMIT + 1)

        page = list_cart_items(store, CART_ID, Paging.parse(str(MAX_LIMIT), None))

        assert numbers(page) == list(range(MAX_LIMIT))
        assert page.has_next is True
        assert numbers(list_cart_items(store, CART_ID, Paging.parse("100", "100"))) == [MAX_LIMIT]

    def test_payment_methods_are_paged_alike(self, shop: Shop) -> None:
        store = shop.run(
            create(),
            add_item(KEYBOARD, 1, "30.00"),
            *(add_credit_card("1.00", UUID(int=0xBE_0000 + n)) for n in range(3)),
        )

        first = list_payment_methods(store, CART_ID, Paging(limit=2))
        second = list_payment_methods(store, CART_ID, Paging(limit=2, offset=2))

        assert [m["methodId"] for m in [*first.items, *second.items]] == [
            str(UUID(int=0xBE_0000 + n)) for n in range(3)
        ]
        assert (first.has_next, second.has_next) == (True, False)


class TestPagingParameters:
    def test_missing_parameters_take_the_defaults(self) -> None:
        assert Paging.parse(None, None) == Paging(DEFAULT_LIMIT, 0)
        assert DEFAULT_LIMIT == 10

    @pytest.mark.parametrize(
        "text",
        [
            "",  # sent, and no integer where the API document says integer: it was the default
            " 1",  # int() strips whitespace: limit=%201 was 1
            "1 ",
            "5\n",
            "+5",
            "1_0",  # int() reads underscores between digits
            "\uff11",  # fullwidth 1
            "\u0663",  # Arabic-Indic 3
            "0x10",
            "\x00",
        ],
    )
    @pytest.mark.parametrize("field", ["limit", "offset"])
    def test_anything_but_ascii_digits_is_refused_naming_the_field(
        self, field: str, text: str
    ) -> None:
        with pytest.raises(PagingError) as refused:
            Paging.parse(**{"limit": None, "offset": None, field: text})
        assert (refused.value.field, refused.value.message) == (
            field,
            "must be a whole number in the digits 0-9",
        )

    @pytest.mark.parametrize(("field", "text"), [("limit", "9" * 5000), ("offset", "1" * 5000)])
    def test_a_number_past_pythons_digit_limit_is_out_of_range(self, field: str, text: str) -> None:
        """int() raises ValueError itself past 4300 digits: still the range, no Python text."""
        with pytest.raises(PagingError, match="must be between") as refused:
            Paging.parse(**{"limit": None, "offset": None, field: text})
        assert refused.value.field == field

    @pytest.mark.parametrize(
        ("limit", "offset"), [("1", "0"), ("100", "0"), ("7", "10000000"), ("007", "00")]
    )
    def test_limits_from_one_to_a_hundred_and_any_offset_from_zero_are_accepted(
        self, limit: str, offset: str
    ) -> None:
        assert Paging.parse(limit, offset) == Paging(int(limit), int(offset))

    @pytest.mark.parametrize(
        ("limit", "offset", "field", "message"),
        [
            ("0", None, "limit", "between 1 and 100"),
            ("101", None, "limit", "between 1 and 100"),
            ("-5", None, "limit", "between 1 and 100"),
            ("ten", None, "limit", "whole number"),
            ("2.5", None, "limit", "whole number"),
            (None, "-1", "offset", "between 0 and"),
            (None, "x", "offset", "whole number"),
            ("10", "10000001", "offset", "between 0 and"),
        ],
    )
    def test_invalid_paging_is_refused_naming_the_field(
        self, limit: str | None, offset: str | None, field: str, message: str
    ) -> None:
        with pytest.raises(PagingError) as refused:
            Paging.parse(limit, offset)

        assert refused.value.field == field
        assert message in refused.value.message
        assert str(refused.value).startswith(f"{field}: ")

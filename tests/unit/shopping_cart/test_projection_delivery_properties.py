"""Property: however the broker delivers the cart's events (duplicated, shuffled, and every event
that arrives before its predecessor refused and redelivered later), the five cart read models end
up exactly as they are after delivering every event once, in order; and those documents agree with
the carts themselves.

Several carts take a random mix of commands; rejected commands simply raise no events. Every
collection is compared in full, cursors and projection status included: no field is left out,
since documents take their times from the event metadata, never from the clock.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventualshop.kernel.messages import Command, RecordedEvent
from eventualshop.kernel.projection import OutOfOrder, Projector
from eventualshop.kernel.readmodels import Document
from eventualshop.kernel.readmodels_memory import InMemoryReadModelStore
from eventualshop.kernel.values import Address, Product
from eventualshop.shopping_cart import (
    MAX_QUANTITY,
    AddBillingAddress,
    AddCartItem,
    AddCreditCard,
    AddDebitCard,
    AddPayPal,
    AddShippingAddress,
    Cart,
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
)

from .examples import CATALOG_ID, DEBIT_CARD_DIGITS, HOME, INVENTORY_ID, KEYBOARD, MOUSE, OFFICE
from .examples import card as card_json
from .history import CartHistory, contents, live, project, projectors, sqlite_read_models

CARTS = [UUID(f"0c000000-0000-4000-8000-0000000ca{n:03d}") for n in range(3)]
CUSTOMERS = [UUID(f"0c000000-0000-4000-8000-0000000c0{n:03d}") for n in range(2)]
PRODUCTS = [KEYBOARD, MOUSE, KEYBOARD.model_copy(update={"sku": "KB-102", "name": "Keyboard 2"})]
ADDRESSES = [HOME, OFFICE, OFFICE.model_copy(update={"complement": None})]
# Ids come from small pools, so an id is reused after a removal, and by other carts: clients may
# choose item and method ids, and nothing keeps two carts from choosing the same one.
POOL = 3


def item_id(n: int) -> UUID:
    return UUID(int=0x1E_0000 + n + 1)


def method_id(n: int) -> UUID:
    return UUID(int=0xBE_0000 + n + 1)


# ---- commands --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One thing a customer does to a cart; amounts are chosen against the cart when it runs."""

    kind: str
    cart: int
    arguments: tuple[Any, ...] = ()


carts = st.integers(0, len(CARTS) - 1)
pools = st.integers(0, POOL - 1)
# How often each command comes up: mostly items and payments, so that carts get far enough to be
# checked out; a discard now and then.
KINDS = (
    ["add"] * 12
    + ["change"] * 6
    + ["remove"] * 3
    + ["credit card", "debit card", "PayPal"] * 3
    + ["remove method"] * 3
    + ["billing", "shipping"] * 3
    + ["check out"] * 3
    + ["discard", "create"]
)
ARGUMENTS: dict[str, st.SearchStrategy[tuple[Any, ...]]] = {
    "create": st.tuples(st.sampled_from(["USD", "EUR"])),
    "add": st.tuples(
        st.integers(0, len(PRODUCTS) - 1),
        pools,
        st.sampled_from([1, 2, 3, 4] * 5 + [MAX_QUANTITY]),
        st.sampled_from(["0.99", "10.00", "12.34", "1"]),
        st.sampled_from(["cart"] * 5 + ["other"]),  # "other": a currency not the cart's
    ),
    "change": st.tuples(pools, st.integers(1, 4)),
    "remove": st.tuples(pools),
    "credit card": st.tuples(pools, st.sampled_from(["all", "all", "half", "one", "too much"])),
    "remove method": st.tuples(pools),
    "billing": st.tuples(st.integers(0, len(ADDRESSES) - 1)),
    "check out": st.just(()),
}
ARGUMENTS["debit card"] = ARGUMENTS["PayPal"] = ARGUMENTS["credit card"]
ARGUMENTS["shipping"] = ARGUMENTS["billing"]
ARGUMENTS["discard"] = ARGUMENTS["check out"]


@st.composite
def cart_ops(draw: st.DrawFn, opened: list[int]) -> Op:
    """One command, nearly always to a cart that was opened."""
    kind = draw(st.sampled_from(KINDS))
    cart = draw(st.sampled_from(opened) if kind != "create" and draw(st.integers(0, 9)) else carts)
    return Op(kind, cart, draw(ARGUMENTS[kind]))


@st.composite
def cart_sessions(draw: st.DrawFn, max_ops: int = 60) -> list[Op]:
    """Some carts created up front (maybe another later), then a random mix of commands."""
    opened = draw(st.permutations(range(len(CARTS))))[: draw(st.integers(1, len(CARTS)))]
    currencies = st.sampled_from(["USD", "USD", "EUR"])
    created = [Op("create", cart, (draw(currencies),)) for cart in opened]
    length = draw(st.integers(0, max_ops))
    return created + draw(st.lists(cart_ops(opened), min_size=length, max_size=length))


def _amount(state: Cart | None, portion: str) -> str:
    due = state.amount_due.amount if state is not None else Decimal(0)
    wanted = {
        "all": due,
        "half": (due / 2).quantize(Decimal("0.01")),
        "one": Decimal("1.00"),
        "too much": due + 1,
    }[portion]
    return str(wanted) if wanted > 0 else "1.00"


def _an_item(state: Cart | None, n: int) -> UUID:
    """One of the cart's items if it has some (else an id it does not know)."""
    items = [i.id for i in state.items] if state is not None else []
    return items[n % len(items)] if items else item_id(n)


def command(op: Op, history: CartHistory) -> Command:
    cart_id = CARTS[op.cart]
    state = history.states.get(cart_id)
    currency = state.currency.value if state is not None else "USD"
    match op.kind, op.arguments:
        case "create", (currency,):
            return CreateCart(
                cart_id=cart_id, customer_id=CUSTOMERS[op.cart % 2], currency=currency
            )
        case "add", (product, item, quantity, price, price_currency):
            if price_currency == "other":
                price_currency = "EUR" if currency == "USD" else "USD"
            else:
                price_currency = currency
            return AddCartItem(
                cart_id=cart_id,
                item_id=item_id(item),
                catalog_id=CATALOG_ID,
                inventory_id=INVENTORY_ID,
                product=PRODUCTS[product],
                quantity=quantity,
                unit_price={"amount": price, "currency": price_currency},
            )
        case "change", (item, quantity):
            return ChangeCartItemQuantity(
                cart_id=cart_id, item_id=_an_item(state, item), new_quantity=quantity
            )
        case "remove", (item,):
            return RemoveCartItem(cart_id=cart_id, item_id=_an_item(state, item))
        case "credit card" | "debit card" | "PayPal", (method, portion):
            payment: dict[str, Any] = {
                "cart_id": cart_id,
                "method_id": method_id(method),
                "amount": {"amount": _amount(state, portion), "currency": currency},
            }
            if op.kind == "credit card":
                return AddCreditCard(**payment, credit_card=card_json())
            if op.kind == "debit card":
                return AddDebitCard(**payment, debit_card=card_json(DEBIT_CARD_DIGITS))
            pay_pal = {"email": "ada@example.com", "password": "hunter2"}
            return AddPayPal(**payment, pay_pal=pay_pal)
        case "remove method", (method,):
            methods = [m.id for m in state.payment_methods] if state is not None else []
            chosen = methods[method % len(methods)] if methods else method_id(method)
            return RemovePaymentMethod(cart_id=cart_id, method_id=chosen)
        case "billing", (address,):
            return AddBillingAddress(cart_id=cart_id, address=ADDRESSES[address])
        case "shipping", (address,):
            return AddShippingAddress(cart_id=cart_id, address=ADDRESSES[address])
        case "check out", ():
            return CheckOutCart(cart_id=cart_id)
        case "discard", ():
            return DiscardCart(cart_id=cart_id)
    raise AssertionError(f"unknown op {op!r}")


def run(session: list[Op]) -> CartHistory:
    history = CartHistory()
    for op in session:
        history.attempt(command(op, history))
    return history


# ---- delivery --------------------------------------------------------------------------------


def deliver_like_a_broker(
    events: list[RecordedEvent], every: list[Projector], rng: random.Random
) -> int:
    """Each projector gets every event one to three times, all shuffled together; an event
    refused as out of order goes back to a random later place in the queue. Returns how many
    deliveries it took."""
    queue = [
        (projector, event)
        for projector in every
        for event in events
        for _ in range(rng.randint(1, 3))
    ]
    rng.shuffle(queue)
    deliveries = 0
    while queue:
        deliveries += 1
        assert deliveries < 1_000_000, "redelivery never ends: a predecessor was lost"
        projector, event = queue.pop(0)
        try:
            projector.handle(event)
        except OutOfOrder:
            assert queue, f"{event.event_type} v{event.version} waits for an event never sent"
            queue.insert(rng.randint(1, len(queue)), (projector, event))
    return deliveries


# ---- the oracle: documents agree with the carts ----------------------------------------------


def _money(document: Mapping[str, Any], field: str) -> tuple[Decimal, str]:
    return Decimal(document[field]["amount"]), document[field]["currency"]


def _address(address: Address | None) -> dict[str, Any] | None:
    return None if address is None else address.model_dump(mode="json", by_alias=True)


def _product(product: Product) -> dict[str, Any]:
    return product.model_dump(mode="json", by_alias=True)


def assert_documents_agree_with_the_carts(
    documents: Mapping[str, Mapping[str, Document]], states: Mapping[UUID, Cart]
) -> None:
    assert set(documents[DETAILS]) == {str(cart_id) for cart_id in states}
    for cart_id, cart in states.items():
        key = str(cart_id)
        details = documents[DETAILS][key]
        currency = cart.currency.value
        assert details["version"] == cart.version
        assert details["customerId"] == str(cart.customer_id)
        assert details["status"] == cart.status.value
        assert details["isDeleted"] == cart.is_deleted
        assert _money(details, "total") == (cart.total.amount, currency)
        assert _money(details, "totalPayment") == (cart.total_payment.amount, currency)
        assert _money(details, "amountDue") == (cart.amount_due.amount, currency)
        assert details["itemCount"] == len(cart.items)
        assert details["billingAddress"] == _address(cart.billing_address)
        assert details["shippingAddress"] == _address(cart.shipping_address)

        for collection in (ITEM_LIST, ITEM_DETAILS):
            shown = _live_in_cart(documents[collection], key, "itemId")
            if cart.is_deleted:
                assert shown == {}
                continue
            assert {i: (d["quantity"], d["productName"]) for i, d in shown.items()} == {
                str(i.id): (i.quantity, i.product.name) for i in cart.items
            }
            for item in cart.items:
                document = shown[str(item.id)]
                assert _money(document, "unitPrice") == (item.unit_price.amount, currency)
                if collection == ITEM_DETAILS:
                    assert document["product"] == _product(item.product)

        for collection in (METHOD_LIST, METHOD_DETAILS):
            shown = _live_in_cart(documents[collection], key, "methodId")
            if cart.is_deleted:
                assert shown == {}
                continue
            expected = {}
            for method in cart.payment_methods:
                option = method.option.model_dump(mode="json", by_alias=True, exclude={"token"})
                shown_option = option if collection == METHOD_DETAILS else option["type"]
                expected[str(method.id)] = ((method.amount.amount, currency), shown_option)
            assert {i: (_money(d, "amount"), d["option"]) for i, d in shown.items()} == expected


def _live_in_cart(
    documents: Mapping[str, Document], cart: str, key: str
) -> dict[str, Mapping[str, Any]]:
    """The cart's documents that are not tombstones, by item or method id."""
    in_cart = {d[key]: d for d in documents.values() if d["cartId"] == cart}
    return live(in_cart)


# ---- the properties --------------------------------------------------------------------------

# The delivery order comes from a seeded generator: drawing each of its thousands of choices from
# Hypothesis would overrun an example's data. The seed is printed with a failing example.
seeds = st.integers(0, 2**32 - 1)


@settings(max_examples=200, deadline=None)
@given(session=cart_sessions(), seed=seeds)
def test_any_delivery_order_with_duplicates_and_redelivery_gives_the_in_order_documents(
    session: list[Op], seed: int
) -> None:
    history = run(session)
    in_order = contents(project(history.events))
    assert_documents_agree_with_the_carts(in_order, history.states)

    store = InMemoryReadModelStore()
    deliver_like_a_broker(history.events, projectors(store), random.Random(seed))

    assert contents(store) == in_order


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(session=cart_sessions(max_ops=30), seed=seeds)
def test_the_sql_read_model_store_on_sqlite_ends_with_the_in_order_documents_too(
    session: list[Op], seed: int
) -> None:
    history = run(session)
    in_order = contents(project(history.events))

    with sqlite_read_models() as store:
        every = projectors(store)
        for projector in every:
            projector.ensure_indexes()
        deliver_like_a_broker(history.events, every, random.Random(seed))
        delivered = contents(store)

    assert delivered == in_order

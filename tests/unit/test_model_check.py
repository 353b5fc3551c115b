"""The model check holds the declarations against the domain: each drift fails here, naming
what is at fault, long before an end-to-end test would time out waiting for a read model."""

from __future__ import annotations

import dataclasses
import importlib
from types import ModuleType
from typing import Any

import pytest

from eventualshop.kernel.declaration import BoundedContext, CommandRoute, QueryRoute
from eventualshop.kernel.registry import EventRegistry
from eventualshop.runtime.check import check
from eventualshop.runtime.registry import FunctionKind, FunctionSpec, Subscription
from eventualshop.shopping_cart.cart import CART
from eventualshop.shopping_cart.declaration import SHOPPING_CART
from eventualshop.shopping_cart.events import CartEvent, PaymentMethodRemoved
from functions.registry import CONTEXTS, FUNCTIONS, PROJECTORS

EVENTS = "eventualshop.shopping_cart.events"
#: The functions of the one context these tests alter (other contexts' reactions would name
#: events that the cart alone does not publish).
#: The cart's and the platform's functions, less the cart's projectors of other contexts' events
#: (test_the_registry_agrees_with_the_domain checks them with every context).
CART_FUNCTIONS = tuple(
    f for f in FUNCTIONS if f.context in (SHOPPING_CART.name, "platform") and f not in PROJECTORS
)


def altered(name: str, **changes: Any) -> ModuleType:
    """A stand-in for module ``name`` with some of its names changed."""
    original = importlib.import_module(name)
    module = ModuleType(name)
    vars(module).update(vars(original))
    vars(module).update(changes)
    return module


def problems_with(
    *,
    events: EventRegistry | None = None,
    context: BoundedContext = SHOPPING_CART,
    functions: tuple[FunctionSpec, ...] | None = None,
    extra_event: type | None = None,
) -> list[str]:
    # Only the cart is checked here: the other contexts' projectors would listen to streams
    # this one-context check does not know.
    functions = functions if functions is not None else CART_FUNCTIONS
    kind = CART if events is None else dataclasses.replace(CART, events=events)

    def resolve(reference: str) -> Any:
        assert reference == context.aggregate
        return kind

    def module(name: str) -> ModuleType:
        if name == EVENTS and events is not None:
            extra = {extra_event.__name__: extra_event} if extra_event else {}
            return altered(EVENTS, CART_EVENTS=events, **extra)
        return importlib.import_module(name)

    return check([context], functions, resolve=resolve, module=module)


def test_the_registry_agrees_with_the_domain() -> None:
    assert check(CONTEXTS, FUNCTIONS) == []


def test_an_event_dropped_from_the_cart_registry_is_named() -> None:
    without = EventRegistry(t for t in CART.events if t is not PaymentMethodRemoved)

    problems = problems_with(events=without)

    assert any(
        "event PaymentMethodRemoved" in line and "in no event registry" in line for line in problems
    ), problems
    assert all("PaymentMethodRemoved" in line for line in problems), problems


class CartGiftWrapped(CartEvent):
    """An event added to the cart without any read model deciding what it means to it."""


CartGiftWrapped.__module__ = EVENTS


def test_an_event_added_to_the_cart_without_a_projector_deciding_on_it_is_named() -> None:
    wider = EventRegistry([*CART.events, CartGiftWrapped])

    problems = problems_with(events=wider, extra_event=CartGiftWrapped)

    assert problems == [
        f"shopping-cart: projection {name} neither handles nor ignores CartGiftWrapped: "
        "say which in its handles or ignores"
        for name in SHOPPING_CART.projections
    ]


def test_a_command_route_naming_no_command_is_named() -> None:
    typo = (CommandRoute("AddCartItems", "POST", "/{cartId}/items"),)
    context = dataclasses.replace(
        SHOPPING_CART,
        commands=typo + tuple(c for c in SHOPPING_CART.commands if c.command != "AddCartItem"),
    )

    problems = problems_with(context=context)

    assert (
        "shopping-cart: command AddCartItems (POST /{cartId}/items): no such command"
        in (problems[0])
    )
    assert any("handles AddCartItem, but no route declares it" in line for line in problems)


def test_a_route_parameter_that_no_command_field_takes_is_named() -> None:
    context = dataclasses.replace(
        SHOPPING_CART,
        commands=tuple(
            dataclasses.replace(c, path="/{basketId}/check-out")
            if c.command == "CheckOutCart"
            else c
            for c in SHOPPING_CART.commands
        ),
    )

    assert problems_with(context=context) == [
        "shopping-cart: command CheckOutCart (PUT /{basketId}/check-out): "
        "'basketId' is not a field of CheckOutCart"
    ]


def test_a_query_route_whose_handler_takes_other_parameters_is_named() -> None:
    context = dataclasses.replace(
        SHOPPING_CART,
        queries=(
            *SHOPPING_CART.queries[1:],
            QueryRoute("get_cart_details", "/carts/{basketId}/details"),
        ),
    )

    problems = problems_with(context=context)

    assert "the handler takes no 'basket_id' for {basketId}" in problems[0]
    assert "the route gives no value for 'cart_id'" in problems[1]


def test_a_declared_read_model_that_does_not_exist_is_named() -> None:
    context = dataclasses.replace(
        SHOPPING_CART, projections=(*SHOPPING_CART.projections[1:], "shopping-cart-detail")
    )

    assert problems_with(context=context) == [
        "shopping-cart: projection shopping-cart-detail: not in "
        "eventualshop.shopping_cart.read_models.PROJECTIONS",
        "shopping-cart: read model shopping-cart-details is not declared: no projector feeds it",
    ]


@pytest.mark.parametrize(
    ("filters", "complaint"),
    [
        ({"type": "eventualshop.shopping-cart.CartGiftWrapped"}, "which no context publishes"),
        ({"type": "eventualshop.shopping-cart.CartCreated.v1"}, "which no context publishes"),
        ({"source": "/eventualshop/catalog", "aggregatetype": "Catalog"}, "no context publishes"),
        ({"source": "/eventualshop/shopping-cart"}, "neither type nor aggregatetype"),
    ],
)
def test_a_subscription_to_events_nobody_publishes_is_named(
    filters: dict[str, str], complaint: str
) -> None:
    saga = FunctionSpec(
        "reserve-stock",
        FunctionKind.SAGA,
        "warehouse",
        "functions.sagas.reservations",
        "reserve",
        subscriptions=(Subscription("reserve-on-item", filters),),
    )

    problems = problems_with(functions=(*CART_FUNCTIONS, saga))

    assert len(problems) == 1
    assert problems[0].startswith("reserve-stock: trigger reserve-on-item")
    assert complaint in problems[0]


def test_a_subscription_to_a_published_event_type_passes() -> None:
    saga = FunctionSpec(
        "react",
        FunctionKind.SAGA,
        "x",
        "m",
        "t",
        subscriptions=(
            Subscription("on-created", {"type": "eventualshop.shopping-cart.CartCreated"}),
        ),
    )
    assert problems_with(functions=(*CART_FUNCTIONS, saga)) == []

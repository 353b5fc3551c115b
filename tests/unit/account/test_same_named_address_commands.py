"""The original's name collisions between Account and the cart (reference §3.7, §5.1 and §5.7 ⚠,
§7.4 rows 4, 5, 32 and 33): ``AddBillingAddress`` and ``AddShippingAddress`` shared one queue per
name in both contexts, so each context's consumers competed for the other's commands, and the
cart's ``BillingAddressAdded`` / ``ShippingAddressAdded`` landed on Account's query side, which
skipped them. Here each context has its own command functions, and an event goes to the
functions of its own context's stream only: the routing the broker, the emulator and the
Triggers all take from the registry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from eventualshop.account.declaration import ACCOUNT
from eventualshop.kernel.cloudevents import attributes
from eventualshop.kernel.eventstore import StoredEvent
from eventualshop.runtime.registry import kebab
from eventualshop.shopping_cart.declaration import SHOPPING_CART
from functions.registry import FUNCTIONS

SAME_NAMES = ("BillingAddressAdded", "ShippingAddressAdded")


def receivers(context: str, aggregate_type: str, event_type: str) -> set[str]:
    """The functions an event of ``context``'s stream is delivered to, as published."""
    stored = StoredEvent(
        event_id=uuid.uuid4(),
        aggregate_id=uuid.uuid4(),
        aggregate_type=aggregate_type,
        version=2,
        event_type=event_type,
        schema_version=1,
        payload="{}",
        timestamp=datetime(2024, 5, 17, 9, 30, tzinfo=UTC),
        correlation_id="same-names",
        position=7,
    )
    published = {key: str(value) for key, value in attributes(context, stored).items()}
    return {
        spec.name
        for spec in FUNCTIONS
        if any(subscription.matches(published) for subscription in spec.subscriptions)
    }


@pytest.mark.parametrize("event_type", SAME_NAMES)
def test_a_carts_address_event_reaches_the_carts_read_models_only(event_type: str) -> None:
    reached = receivers(SHOPPING_CART.name, SHOPPING_CART.aggregate_type, event_type)

    assert reached, "the cart's details show its addresses"
    assert all(name.startswith(f"{SHOPPING_CART.name}-") for name in reached), reached


@pytest.mark.parametrize(
    ("event_type", "book"),
    [
        ("BillingAddressAdded", "account-billing-address-list"),
        ("ShippingAddressAdded", "account-shipping-address-list"),
    ],
)
def test_an_accounts_address_event_reaches_the_accounts_read_models_only(
    event_type: str, book: str
) -> None:
    reached = receivers(ACCOUNT.name, ACCOUNT.aggregate_type, event_type)

    assert book in reached
    assert all(name.startswith(f"{ACCOUNT.name}-") for name in reached), reached


@pytest.mark.parametrize("command", ["AddBillingAddress", "AddShippingAddress"])
def test_each_context_has_its_own_function_and_route_for_a_command_of_the_same_name(
    command: str,
) -> None:
    handlers = {
        spec.context: spec
        for spec in FUNCTIONS
        if spec.route is not None and spec.name.endswith("-" + kebab(command))
    }

    assert set(handlers) == {ACCOUNT.name, SHOPPING_CART.name}
    account, cart = handlers[ACCOUNT.name], handlers[SHOPPING_CART.name]
    assert account.name != cart.name
    assert account.route is not None
    assert cart.route is not None
    assert account.route.path.startswith(ACCOUNT.routes + "/")
    assert cart.route.path.startswith(SHOPPING_CART.routes + "/")

"""A CloudEvent function's answer to an event it cannot read: a dead letter and one log line
that say what is wrong, in words that repeat nothing the event carried.

The log goes wherever the platform ships it; the letter keeps the event itself for an operator.
pydantic's own message quotes every field's input (``input_value=…``), so a payload that arrived
malformed, from a producer that is not ours, went into the log line whole.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from cloudevents.http import CloudEvent

from eventualshop.kernel.messages import RecordedEvent
from eventualshop.runtime.broker.deadletters import InMemoryDeadLetterStore
from eventualshop.runtime.consumer import consumer
from eventualshop.runtime.registry import FunctionKind
from eventualshop.shopping_cart.events import CART_EVENTS
from functions.registry import FUNCTIONS

#: What no log line may repeat: a value only the event's data holds.
SECRET = "4111111111111111-do-not-log"
#: A projector of the cart, as registered.
SPEC = next(
    s for s in FUNCTIONS if s.kind is FunctionKind.PROJECTOR and s.context == "shopping-cart"
)


CART_ID = str(uuid.uuid4())


def _created() -> dict[str, Any]:
    """A readable ``CartCreated`` payload."""
    return {
        "cartId": CART_ID,
        "customerId": str(uuid.uuid4()),
        "total": {"amount": "0", "currency": "USD"},
    }


def _attributes(**overrides: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/eventualshop/shopping-cart",
        "type": "eventualshop.shoppingcart.CartCreated",
        "subject": CART_ID,
        "aggregatetype": "ShoppingCart",
        "aggregateversion": "1",
        "time": datetime.now(UTC).isoformat(),
    }
    attributes.update(overrides)
    return {k: v for k, v in attributes.items() if v is not None}


def _deliver(attributes: dict[str, Any], data: Any) -> tuple[list[RecordedEvent], str]:
    letters = InMemoryDeadLetterStore()
    handled: list[RecordedEvent] = []
    target = consumer(SPEC, CART_EVENTS, handled.append, lambda: letters)
    target(CloudEvent(attributes, data))
    reasons = [letter.reason for letter in letters.list()]
    assert len(reasons) == (0 if handled else 1)
    return handled, reasons[0] if reasons else ""


def test_a_readable_event_is_handled() -> None:
    handled, reason = _deliver(_attributes(), _created())
    assert [type(e.event).__name__ for e in handled] == ["CartCreated"], reason


@pytest.mark.parametrize(
    "data",
    [
        {**_created(), "customerId": SECRET},
        {"cartId": CART_ID, "total": {"amount": SECRET, "currency": "USD"}},
        {"cartId": CART_ID, "nested": {"cardNumber": SECRET}},
        json.dumps({**_created(), "customerId": SECRET})[:-1],  # not JSON at all
    ],
    ids=["bad-field", "missing-field", "unknown-field", "not-json"],
)
def test_a_malformed_payload_is_dead_lettered_without_repeating_it(
    data: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="eventualshop.consumer"):
        handled, reason = _deliver(_attributes(), data)
    assert not handled
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "CartCreated" in logged
    assert reason in logged
    assert SECRET not in logged
    assert SECRET not in reason
    assert "input_value" not in reason
    assert "errors.pydantic.dev" not in reason


def test_the_reason_names_the_fields_that_are_wrong() -> None:
    _, reason = _deliver(_attributes(), {"cartId": CART_ID, "customerId": "not-an-id"})
    assert reason.startswith("malformed, not retried: CartCreated: "), reason
    assert "customerId: Input should be a valid UUID" in reason, reason
    assert "total: Field required" in reason, reason
    assert "\n" not in reason, "one line per dead letter"


@pytest.mark.parametrize("missing", ["subject", "aggregatetype", "aggregateversion"])
def test_a_missing_attribute_is_named_as_one(missing: str) -> None:
    _, reason = _deliver(_attributes(**{missing: None}), _created())
    assert reason == f"malformed, not retried: the CloudEvent has no {missing!r} attribute"

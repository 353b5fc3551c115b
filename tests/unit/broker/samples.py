"""Sample events for the binding and broker tests, as ``(context, StoredEvent)`` pairs.

``SAMPLES`` is what round-trip tests are parametrized with; more pairs (say, one per shopping-cart
event type) can be appended without touching the tests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from eventualshop.kernel import cloudevents
from eventualshop.kernel.eventstore import OutboxEntry, StoredEvent

CART_ID = UUID("6f1c1d4e-7d3b-4a53-9c0e-2b6a4f0f8a11")
WHEN = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)


def stored_event(
    event_type: str = "CartCreated",
    payload: str = '{"cartId":"6f1c1d4e-7d3b-4a53-9c0e-2b6a4f0f8a11"}',
    *,
    aggregate_type: str = "ShoppingCart",
    aggregate_id: UUID = CART_ID,
    version: int = 1,
    schema_version: int = 1,
    correlation_id: str = "corr-1",
    causation_id: str | None = None,
    traceparent: str | None = None,
) -> StoredEvent:
    return StoredEvent(
        event_id=uuid4(),
        aggregate_id=aggregate_id,
        aggregate_type=aggregate_type,
        version=version,
        event_type=event_type,
        schema_version=schema_version,
        payload=payload,
        timestamp=WHEN,
        correlation_id=correlation_id,
        causation_id=causation_id,
        traceparent=traceparent,
    )


def outbox_entry(context: str, event: StoredEvent) -> OutboxEntry:
    return OutboxEntry(event.event_id, event.event_type, cloudevents.structured(context, event))


SAMPLES = [
    pytest.param(
        "shopping-cart",
        stored_event(
            "CartItemAdded",
            '{"cartId":"6f1c1d4e-7d3b-4a53-9c0e-2b6a4f0f8a11","item":{"productName":"Café ☕",'
            '"unitPrice":{"amount":"12.50","currency":"EUR"},"quantity":2},"tags":["a","b"]}',
            version=2,
            causation_id="cmd-7",
            traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ),
        id="all-extensions-unicode-data",
    ),
    pytest.param(
        "shopping-cart",
        stored_event("CartDiscarded", "{}", version=9, schema_version=2),
        id="no-optional-extensions-v2",
    ),
    pytest.param(
        "catalog",
        stored_event(
            "CatalogItemPriceChanged",
            '{"price":"1e3","list":[1,2.5,null,true],"text":"line\\nbreak \\"quoted\\""}',
            aggregate_type="Catalog",
            correlation_id="order 42 %done é",  # needs percent-encoding in HTTP headers
            causation_id="cause-1",
        ),
        id="header-needs-percent-encoding",
    ),
]

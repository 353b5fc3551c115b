"""A rebuild over an event store that other contexts share reads only the cart's events."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from eventualshop.kernel.eventstore import AppendBatch, StoredEvent
from eventualshop.kernel.readmodels_memory import InMemoryReadModelStore
from eventualshop.shopping_cart.read_models import DETAILS
from eventualshop.shopping_cart.service import rebuild_read_models

from .history import CartHistory, every_kind_of_event


def test_events_of_another_aggregate_type_are_skipped_not_decoded() -> None:
    history = CartHistory()
    every_kind_of_event(history)
    foreign = StoredEvent(
        event_id=uuid4(),
        aggregate_id=uuid4(),
        aggregate_type="Account",
        version=1,
        event_type="AccountCreated",  # no cart registry can decode this
        schema_version=1,
        payload='{"accountId": "x"}',
        timestamp=datetime.now(UTC),
        correlation_id="other-context",
    )
    history.store.append(AppendBatch(events=[foreign]))
    live = InMemoryReadModelStore()

    reports = rebuild_read_models(history.store, live)

    carts = {e.aggregate_id for e in history.events}
    assert {d["id"] for d in live.find(DETAILS)} == {str(c) for c in carts}
    assert all(r.events == len(history.events) for r in reports)

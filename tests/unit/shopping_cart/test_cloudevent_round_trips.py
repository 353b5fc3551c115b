"""Every cart event survives the wire: domain event -> outbox CloudEvent -> HTTP binary,
HTTP structured, AMQP and the SDK object a functions-framework target gets -> the same event."""

from __future__ import annotations

import json

import pytest

from eventualshop.kernel import cloudevents
from eventualshop.kernel.eventstore import StoredEvent
from eventualshop.kernel.messages import RecordedEvent
from eventualshop.runtime.broker import binding
from eventualshop.shopping_cart import CART_EVENTS

from .history import CartHistory, every_kind_of_event


def _every_event_type_once() -> list[RecordedEvent]:
    seen: dict[str, RecordedEvent] = {}
    for recorded in every_kind_of_event(CartHistory()):
        seen.setdefault(recorded.event_type, recorded)
    return list(seen.values())


EVENTS = _every_event_type_once()


def test_the_sample_history_raises_every_cart_event_type() -> None:
    assert {e.event_type for e in EVENTS} == {t.event_type() for t in CART_EVENTS}


def _outbox_message(recorded: RecordedEvent) -> binding.CloudEventMessage:
    row = StoredEvent(
        event_id=recorded.metadata.event_id,
        aggregate_id=recorded.aggregate_id,
        aggregate_type=recorded.aggregate_type,
        version=recorded.version,
        event_type=recorded.event_type,
        schema_version=recorded.schema_version,
        payload=CART_EVENTS.encode(recorded.event),
        timestamp=recorded.metadata.timestamp,
        correlation_id=recorded.metadata.correlation_id,
        causation_id="cause-1",
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )
    return binding.parse_structured(cloudevents.structured("shopping-cart", row))


def _same(decoded: RecordedEvent, original: RecordedEvent) -> None:
    assert decoded.event == original.event
    assert decoded.aggregate_id == original.aggregate_id
    assert decoded.aggregate_type == original.aggregate_type
    assert decoded.version == original.version
    assert decoded.metadata.event_id == original.metadata.event_id
    assert decoded.metadata.timestamp == original.metadata.timestamp
    assert decoded.metadata.correlation_id == original.metadata.correlation_id
    assert decoded.metadata.causation_id == "cause-1"


@pytest.mark.parametrize("original", EVENTS, ids=lambda e: e.event_type)
class TestEveryCartEventRoundTrips:
    def test_through_http_binary_mode(self, original: RecordedEvent) -> None:
        headers, body = binding.to_binary(_outbox_message(original))
        back = binding.from_http(headers, body)
        _same(cloudevents.recorded(back.attributes, back.data, CART_EVENTS), original)

    def test_through_http_structured_mode(self, original: RecordedEvent) -> None:
        headers, body = binding.to_structured(_outbox_message(original))
        back = binding.from_http(headers, body)
        _same(cloudevents.recorded(back.attributes, back.data, CART_EVENTS), original)

    def test_through_amqp_headers(self, original: RecordedEvent) -> None:
        amqp = binding.to_amqp(_outbox_message(original))
        back = binding.from_amqp(amqp.headers, amqp.body, content_type=amqp.content_type)
        _same(cloudevents.recorded(back.attributes, back.data, CART_EVENTS), original)

    def test_as_the_sdk_event_a_function_target_receives(self, original: RecordedEvent) -> None:
        sdk = binding.to_sdk(_outbox_message(original))
        decoded = cloudevents.recorded(sdk.get_attributes(), sdk.data, CART_EVENTS)
        _same(decoded, original)

    def test_with_the_design_attributes(self, original: RecordedEvent) -> None:
        attributes = _outbox_message(original).attributes
        # The type is stable across schema versions: the version travels beside it.
        assert attributes["type"] == f"eventualshop.shopping-cart.{original.event_type}"
        assert attributes["schemaversion"] == "1"
        assert attributes["source"] == "/eventualshop/shopping-cart"
        assert attributes["subject"] == str(original.aggregate_id)
        assert attributes["aggregateversion"] == str(original.version)
        assert attributes["traceparent"].startswith("00-4bf92f35")
        assert json.loads(_outbox_message(original).data) == json.loads(
            CART_EVENTS.encode(original.event)
        )


@pytest.mark.parametrize(
    "version", ["0", "-1", "+3", "2147483648", "99999999999999999999999", "٣", "1.5", ""]
)
def test_an_aggregate_version_no_stream_can_have_is_not_ours(version: str) -> None:
    """Versions count from 1 and fit the store's 32-bit column. A version out of that range was
    read as an int and broke later: a projector's 500 (OverflowError) for a huge one, a saga's
    503 "delivered early", retried for good, for one below 1. Now it is not an event of ours,
    which a consumer keeps as a dead letter at once."""
    message = _outbox_message(EVENTS[0])
    attributes = message.attributes | {"aggregateversion": version}
    with pytest.raises(ValueError, match="aggregateversion"):
        cloudevents.recorded(attributes, message.data, CART_EVENTS)


def test_the_highest_version_a_stream_can_have_is_read() -> None:
    message = _outbox_message(EVENTS[0])
    attributes = message.attributes | {"aggregateversion": "2147483647"}
    assert cloudevents.recorded(attributes, message.data, CART_EVENTS).version == 2**31 - 1

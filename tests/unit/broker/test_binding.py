"""CloudEvents at the edges: every mode carries every attribute, the data and the extensions."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cloudevents.conversion import to_binary as sdk_to_binary
from cloudevents.http import CloudEvent
from cloudevents.http import from_http as sdk_from_http

from eventualshop.kernel import cloudevents
from eventualshop.kernel.eventstore import StoredEvent
from eventualshop.runtime.broker.binding import (
    REQUIRED_ATTRIBUTES,
    BindingError,
    CloudEventMessage,
    from_amqp,
    from_http,
    from_outbox,
    from_sdk,
    parse_structured,
    structured_json,
    to_amqp,
    to_binary,
    to_sdk,
    to_structured,
)

from .samples import SAMPLES, outbox_entry, stored_event

EXTENSIONS = {
    "aggregatetype",
    "aggregateversion",
    "correlationid",
    "causationid",
    "traceparent",
    "schemaversion",
}


def message_of(context: str, event: StoredEvent) -> CloudEventMessage:
    return parse_structured(cloudevents.structured(context, event))


def minimal(**attributes: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": "e-1",
        "source": "/test",
        "type": "test.Event",
        **attributes,
    }


class TestAnOutboxPayloadParses:
    @pytest.mark.parametrize(("context", "event"), SAMPLES)
    def test_into_the_attributes_the_kernel_wrote_and_the_stored_payload(
        self, context: str, event: StoredEvent
    ) -> None:
        message = message_of(context, event)

        assert dict(message.attributes) == cloudevents.attributes(context, event)
        assert message.data == event.payload.encode()
        assert message.id == str(event.event_id)
        assert message.type == f"eventualshop.{context}.{event.event_type}"
        assert message.attributes["schemaversion"] == str(event.schema_version)
        assert set(message.extensions) == {
            name for name in EXTENSIONS if name in cloudevents.attributes(context, event)
        }

    def test_an_outbox_entry_names_itself_when_its_payload_is_broken(self) -> None:
        event = stored_event()
        entry = outbox_entry("shopping-cart", event)
        broken = type(entry)(entry.event_id, entry.event_type, '{"id": 1', id=17)

        assert from_outbox(entry) == message_of("shopping-cart", event)
        with pytest.raises(BindingError, match="outbox row 17"):
            from_outbox(broken)


class TestRoundTrips:
    @pytest.mark.parametrize(("context", "event"), SAMPLES)
    def test_http_binary_mode_preserves_everything(self, context: str, event: StoredEvent) -> None:
        message = message_of(context, event)
        headers, body = to_binary(message)

        assert headers["Content-Type"] == "application/json"
        assert "ce-datacontenttype" not in headers
        assert all(value.isascii() and " " not in value for value in headers.values())
        assert body == message.data
        assert from_http(headers, body) == message

    @pytest.mark.parametrize(("context", "event"), SAMPLES)
    def test_http_structured_mode_preserves_everything(
        self, context: str, event: StoredEvent
    ) -> None:
        message = message_of(context, event)
        headers, body = to_structured(message)

        assert headers["Content-Type"].startswith("application/cloudevents+json")
        assert json.loads(body) == json.loads(cloudevents.structured(context, event))
        assert from_http(headers, body) == message

    @pytest.mark.parametrize(("context", "event"), SAMPLES)
    def test_amqp_preserves_everything_as_ce_headers(
        self, context: str, event: StoredEvent
    ) -> None:
        message = message_of(context, event)
        amqp = to_amqp(message)

        assert amqp.headers == {f"ce-{k}": v for k, v in message.attributes.items()}
        assert amqp.message_id == message.id
        assert amqp.content_type == "application/json"
        assert amqp.delivery_mode == 2
        assert amqp.body == message.data
        back = from_amqp(
            amqp.headers, amqp.body, content_type=amqp.content_type, message_id=amqp.message_id
        )
        assert back == message

    @pytest.mark.parametrize(("context", "event"), SAMPLES)
    def test_the_sdk_event_preserves_everything(self, context: str, event: StoredEvent) -> None:
        message = message_of(context, event)
        sdk_event = to_sdk(message)

        assert {name: sdk_event[name] for name in sdk_event} == dict(message.attributes)
        assert sdk_event.get_data() == json.loads(event.payload)
        assert from_sdk(sdk_event) == message

    @pytest.mark.parametrize(("context", "event"), SAMPLES)
    def test_structured_to_binary_to_amqp_to_sdk_and_back_is_lossless(
        self, context: str, event: StoredEvent
    ) -> None:
        original = message_of(context, event)

        via_binary = from_http(*to_binary(original))
        amqp = to_amqp(via_binary)
        via_amqp = from_amqp(amqp.headers, amqp.body)
        via_sdk = from_sdk(to_sdk(via_amqp))
        via_structured = parse_structured(structured_json(via_sdk))

        assert via_structured == original

    @pytest.mark.parametrize(("context", "event"), SAMPLES)
    def test_the_sdk_reads_what_we_write_and_we_read_what_it_writes(
        self, context: str, event: StoredEvent
    ) -> None:
        message = message_of(context, event)

        theirs = sdk_from_http(*to_structured(message))
        assert from_sdk(theirs) == message
        # The SDK serialises JSON data with its own spacing: compare the values, not the bytes.
        ours = from_http(*sdk_to_binary(to_sdk(message)))
        assert dict(ours.attributes) == dict(message.attributes)
        assert ours.json() == message.json()


class TestDataOfOtherContentTypes:
    def test_binary_data_travels_as_base64_in_structured_mode(self) -> None:
        payload = bytes(range(256))
        message = CloudEventMessage(minimal(datacontenttype="application/octet-stream"), payload)

        document = json.loads(structured_json(message))

        assert document["data_base64"] == base64.b64encode(payload).decode()
        assert "data" not in document
        assert parse_structured(structured_json(message)) == message
        assert from_http(*to_binary(message)) == message

    def test_text_data_travels_as_a_string(self) -> None:
        message = CloudEventMessage(
            minimal(datacontenttype="text/plain; charset=utf-8"), "hé".encode()
        )

        assert json.loads(structured_json(message))["data"] == "hé"
        assert parse_structured(structured_json(message)) == message
        assert to_sdk(message).get_data() == "hé"

    def test_an_event_without_data_has_none(self) -> None:
        message = CloudEventMessage(minimal())

        assert "data" not in json.loads(structured_json(message))
        assert from_http(*to_binary(message)) == message
        assert to_sdk(message).get_data() is None
        assert message.json() is None

    def test_json_data_that_is_not_json_is_kept_as_base64_rather_than_lost(self) -> None:
        message = CloudEventMessage(minimal(datacontenttype="application/json"), b"{not json")

        assert parse_structured(structured_json(message)) == message

    def test_integer_and_boolean_attributes_become_their_string_form(self) -> None:
        message = parse_structured(json.dumps(minimal(attempt=3, urgent=True, gone=None)))

        assert message.attributes["attempt"] == "3"
        assert message.attributes["urgent"] == "true"
        assert "gone" not in message.attributes


class TestHttpHeaders:
    def test_values_outside_printable_ascii_are_percent_encoded_and_decoded(self) -> None:
        message = CloudEventMessage(minimal(correlationid='a b"c%d é'))

        headers, _ = to_binary(message)

        assert headers["ce-correlationid"] == "a%20b%22c%25d%20%C3%A9"
        assert from_http(headers, b"").attributes["correlationid"] == 'a b"c%d é'

    def test_header_names_are_case_insensitive_and_quoted_strings_unescaped(self) -> None:
        headers = {
            "CE-SpecVersion": "1.0",
            "Ce-Id": "e-1",
            "ce-source": '"/quoted\\"source"',
            "ce-type": "t",
            "content-type": "application/json",
        }

        message = from_http(headers, b'{"a":1}')

        assert message.source == '/quoted"source'
        assert message.datacontenttype == "application/json"


class TestMalformedInputIsRejected:
    @pytest.mark.parametrize("missing", REQUIRED_ATTRIBUTES)
    def test_without_a_required_attribute(self, missing: str) -> None:
        document = minimal()
        del document[missing]

        with pytest.raises(BindingError, match=missing):
            parse_structured(json.dumps(document))

    @pytest.mark.parametrize(
        ("document", "reason"),
        [
            (minimal(specversion="0.3"), "specversion"),
            (minimal(id=""), "'id'"),
            ({**minimal(), "Upper": "x"}, "attribute name"),
            ({**minimal(), "snake_case": "x"}, "attribute name"),
            (minimal(nested={"a": 1}), "string, integer or boolean"),
            (minimal(ratio=0.5), "string, integer or boolean"),
            (minimal(time="yesterday"), "RFC 3339"),
            ({**minimal(), "data": {}, "data_base64": "AA=="}, "both"),
            ({**minimal(), "data_base64": "***"}, "base64"),
        ],
    )
    def test_with_invalid_attributes_or_data(self, document: dict[str, Any], reason: str) -> None:
        with pytest.raises(BindingError, match=reason):
            parse_structured(json.dumps(document))

    @pytest.mark.parametrize("text", ["", "{", "[1, 2]", '"event"', b"\xff\xfe"])
    def test_that_is_not_a_json_object(self, text: str | bytes) -> None:
        with pytest.raises(BindingError):
            parse_structured(text)

    @pytest.mark.parametrize(
        ("headers", "reason"),
        [
            ({"content-type": "application/json"}, "not a CloudEvent"),
            ({}, "not a CloudEvent"),
            ({"content-type": "application/cloudevents-batch+json"}, "batched"),
            ({"content-type": "application/cloudevents+xml"}, "unsupported event format"),
            ({"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s"}, "'type'"),
            ({**{f"ce-{k}": v for k, v in minimal().items()}, "ce-x": "%FF"}, "UTF-8"),
        ],
    )
    def test_from_http(self, headers: dict[str, str], reason: str) -> None:
        with pytest.raises(BindingError, match=reason):
            from_http(headers, b"{}")

    def test_from_amqp_without_a_specversion(self) -> None:
        with pytest.raises(BindingError, match="not a CloudEvent"):
            from_amqp({"ce-type": "t", "ce-id": "1"}, b"{}")

    def test_nested_deeper_than_the_parser_can_go_is_malformed_not_a_recursion_error(
        self,
    ) -> None:
        with pytest.raises(BindingError, match="not valid JSON"):
            parse_structured("[" * 100_000)

    def test_deeply_nested_data_of_a_binary_event_is_bytes_not_a_recursion_error(self) -> None:
        headers = {f"ce-{k}": v for k, v in minimal().items()}
        message = from_http({**headers, "content-type": "application/json"}, "[" * 100_000)

        with pytest.raises(BindingError, match="not valid JSON"):
            message.json()
        assert to_sdk(message).data == b"[" * 100_000
        assert parse_structured(structured_json(message)).data == message.data

    def test_the_reason_is_short_and_carries_no_input_dump(self) -> None:
        with pytest.raises(BindingError) as caught:
            parse_structured(json.dumps({**minimal(), "X" * 10_000: "y"}))

        assert len(str(caught.value)) < 100


class TestAmqpFromOtherPublishers:
    def test_bare_attribute_headers_as_eventing_rabbitmq_writes_them_are_read(self) -> None:
        headers = {
            "specversion": "1.0",
            "id": "e-1",
            "source": "/s",
            "type": "t",
            "content-type": "application/json",
            "aggregatetype": b"Cart",
            "x-death": [{"count": 1}],
            "x-eventualshop-attempts": 2,
            "foreign_header": "ignored",
        }

        message = from_amqp(headers, b"{}")

        assert dict(message.attributes) == {
            "specversion": "1.0",
            "id": "e-1",
            "source": "/s",
            "type": "t",
            "datacontenttype": "application/json",
            "aggregatetype": "Cart",
        }

    def test_the_basic_properties_fill_in_content_type_and_id(self) -> None:
        headers = {"ce-specversion": "1.0", "ce-source": "/s", "ce-type": "t"}

        message = from_amqp(headers, b"x", content_type="text/plain", message_id="m-1")

        assert message.id == "m-1"
        assert message.datacontenttype == "text/plain"

    def test_a_prefixed_header_wins_over_a_bare_one(self) -> None:
        headers = {**{f"ce-{k}": v for k, v in minimal().items()}, "type": "other"}

        assert from_amqp(headers, b"").type == "test.Event"


def test_the_sdk_event_a_functions_framework_target_gets_converts_back() -> None:
    sdk_event = CloudEvent(minimal(time="2024-05-01T12:00:00Z", flag=True), {"a": [1, 2]})

    message = from_sdk(sdk_event)

    assert message.attributes["flag"] == "true"
    assert message.json() == {"a": [1, 2]}
    assert message.data == b'{"a":[1,2]}'

"""Subscribers the local server plugs in, and dead letters coming from a Knative dispatcher."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from eventualshop.kernel import cloudevents
from eventualshop.kernel.eventstore import StoredEvent
from eventualshop.runtime.broker.binding import CloudEventMessage, parse_structured
from eventualshop.runtime.broker.deadletters import InMemoryDeadLetterStore, from_error_event
from eventualshop.runtime.broker.delivery import WsgiSubscriber
from eventualshop.runtime.broker.in_process import InProcessBroker
from eventualshop.runtime.registry import Delivery, Subscription

from .samples import SAMPLES, stored_event

FUNCTION_SOURCE = """
import json
from pathlib import Path

import flask
import functions_framework


@functions_framework.cloud_event
def project(event):
    if event.get("aggregatetype") == "Broken":
        flask.abort(422)
    if event.get("aggregatetype") == "Crashing":
        raise RuntimeError("boom")
    attributes = {name: event[name] for name in event}
    with Path(RECEIVED).open("a") as out:
        out.write(json.dumps({"attributes": attributes, "data": event.get_data()}) + "\\n")
"""


@pytest.fixture
def function_app(tmp_path: Path) -> tuple[WsgiSubscriber, Path]:
    import functions_framework

    received = tmp_path / "received.jsonl"
    source = tmp_path / "main.py"
    source.write_text(FUNCTION_SOURCE.replace("RECEIVED", repr(str(received))))
    app = functions_framework.create_app("project", str(source), "cloudevent")  # type: ignore[no-untyped-call]
    return WsgiSubscriber(app), received


class TestAFunctionsFrameworkTarget:
    @pytest.mark.parametrize(("context", "event"), SAMPLES)
    def test_receives_every_attribute_and_the_data(
        self, function_app: tuple[WsgiSubscriber, Path], context: str, event: StoredEvent
    ) -> None:
        subscriber, received = function_app
        message = parse_structured(cloudevents.structured(context, event))

        outcome = subscriber(message)

        assert outcome.status == 200
        [line] = received.read_text().splitlines()
        seen = json.loads(line)
        assert seen["data"] == message.json()
        # functions-framework's SDK does not percent-decode headers (the HTTP binding says it
        # should), so a value that needed encoding arrives encoded; everything else is equal.
        for name, value in message.attributes.items():
            if value.isascii() and " " not in value and "%" not in value:
                assert seen["attributes"][name] == value

    def test_a_rejection_is_dead_lettered_and_a_crash_retried(
        self, function_app: tuple[WsgiSubscriber, Path]
    ) -> None:
        subscriber, _ = function_app
        store = InMemoryDeadLetterStore()
        delivery = Delivery(retry=1, backoff_policy="linear", backoff_delay="PT0S")
        broker = InProcessBroker(
            [(Subscription("projector", {}, delivery), subscriber)], store, sleep=lambda _: None
        )

        broker.publish(message_with(aggregatetype="Broken"))
        broker.publish(message_with(aggregatetype="Crashing", id="e-2"))

        broken, crashing = store.list()
        assert (broken.attempts, crashing.attempts) == (1, 2)
        assert broken.reason.startswith("rejected, not retried: status 422")
        assert crashing.reason.startswith("status 500")


def message_with(**attributes: str) -> CloudEventMessage:
    base = {"specversion": "1.0", "id": "e-1", "source": "/s", "type": "t"}
    return CloudEventMessage({**base, **attributes}, b"{}")


class TestKnativeDeadLetterSinkInput:
    def test_the_error_extensions_become_the_reason_and_are_removed(self) -> None:
        original = parse_structured(cloudevents.structured("shopping-cart", stored_event()))
        answer = base64.b64encode(b'{"detail":"version gap"}').decode()
        delivered = CloudEventMessage(
            {
                **original.attributes,
                "knativeerrorcode": "503",
                "knativeerrordata": answer,
                "knativeerrordest": "http://cart-projector.default.svc/",
            },
            original.data,
        )
        when = datetime(2024, 1, 1, tzinfo=UTC)

        letter = from_error_event(delivered, trigger="cart-projector", attempts=4, dead_at=when)

        assert letter.message() == original
        assert letter.reason == 'status 503: {"detail":"version gap"}'
        assert (letter.trigger, letter.attempts, letter.dead_at) == ("cart-projector", 4, when)

    def test_without_a_trigger_the_failed_destination_names_it(self) -> None:
        delivered = message_with(knativeerrordest="http://x/")

        letter = from_error_event(delivered)

        assert letter.trigger == "http://x/"
        assert letter.reason == "no response"

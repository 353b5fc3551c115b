"""The RabbitMQ dispatcher's decision on one delivery, without RabbitMQ: the in-process rules."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from eventualshop.runtime.broker import amqp
from eventualshop.runtime.broker.binding import CloudEventMessage, to_amqp
from eventualshop.runtime.broker.delivery import Trigger
from eventualshop.runtime.broker.httpclient import HttpPoster
from eventualshop.runtime.broker.rabbitmq import Action, decide
from eventualshop.runtime.registry import Delivery, Subscription

NOW = datetime(2024, 5, 1, tzinfo=UTC)
DELIVERY = Delivery(retry=2, backoff_policy="exponential", backoff_delay="PT0.05S")
SUBSCRIPTION = Subscription("cart-projector", {"type": "t"}, DELIVERY)
RETRY_QUEUES = amqp.retry_queues("ex.cart-projector", SUBSCRIPTION)
MESSAGE = CloudEventMessage(
    {"specversion": "1.0", "id": "e-1", "source": "/s", "type": "t", "aggregatetype": "Cart"},
    b"{}",
)


def deliver(
    status: int, *, attempts_made: int = 0, sink: str | None = "dead-letters", **overrides: Any
) -> tuple[Any, list[CloudEventMessage]]:
    received: list[CloudEventMessage] = []

    def subscriber(message: CloudEventMessage) -> int:
        received.append(message)
        return status

    delivery = Delivery(DELIVERY.retry, DELIVERY.backoff_policy, DELIVERY.backoff_delay, sink)
    trigger = Trigger(Subscription(SUBSCRIPTION.name, SUBSCRIPTION.filters, delivery), subscriber)
    message = to_amqp(MESSAGE)
    headers: dict[str, Any] = {**message.headers, amqp.ATTEMPTS_HEADER: attempts_made}
    arguments: dict[str, Any] = {
        "headers": headers,
        "body": message.body,
        "content_type": message.content_type,
        "message_id": message.message_id,
        **overrides,
    }
    decision = decide(
        trigger,
        RETRY_QUEUES,
        arguments["headers"],
        arguments["body"],
        content_type=arguments["content_type"],
        message_id=arguments["message_id"],
        poster=HttpPoster(),
        clock=lambda: NOW,
    )
    return decision, received


def test_retry_queues_are_one_per_delay_with_the_backoff_in_their_name() -> None:
    assert RETRY_QUEUES == ["ex.cart-projector.retry.50ms", "ex.cart-projector.retry.100ms"]


def test_binding_arguments_match_all_filters_as_ce_headers() -> None:
    subscription = Subscription("p", {"type": "t", "aggregatetype": "Cart"})

    assert amqp.binding_arguments(subscription) == {
        "x-match": "all",
        "x-knative-trigger": "p",
        "ce-type": "t",
        "ce-aggregatetype": "Cart",
    }


def test_a_delivered_event_is_acked() -> None:
    decision, received = deliver(202)

    assert decision.action is Action.ACK
    assert decision.attempts == 1
    assert received == [MESSAGE]


@pytest.mark.parametrize(("made", "queue"), [(0, 0), (1, 1)])
def test_a_failed_attempt_goes_to_the_retry_queue_of_its_delay(made: int, queue: int) -> None:
    decision, _ = deliver(503, attempts_made=made)

    assert decision.action is Action.RETRY
    assert decision.attempts == made + 1
    assert decision.retry_queue == RETRY_QUEUES[queue]


def test_after_the_retries_the_event_is_dead_lettered_with_the_attempts_made() -> None:
    decision, _ = deliver(503, attempts_made=2)

    assert decision.action is Action.DEAD
    assert decision.letter is not None
    assert decision.letter.attempts == 3
    assert decision.letter.reason == "status 503"
    assert decision.letter.trigger == "cart-projector"
    assert decision.letter.message() == MESSAGE


def test_a_rejected_event_is_dead_lettered_at_once() -> None:
    decision, _ = deliver(422)

    assert decision.action is Action.DEAD
    assert decision.letter is not None
    assert decision.letter.attempts == 1
    assert decision.letter.reason == "rejected, not retried: status 422"


def test_a_malformed_message_is_dead_lettered_without_calling_the_subscriber() -> None:
    decision, received = deliver(
        200, headers={"ce-type": "t", "ce-id": "e-9", "note": b"\xff"}, body=b"\x00"
    )

    assert received == []
    assert decision.action is Action.DEAD
    letter = decision.letter
    assert letter is not None
    assert letter.attempts == 0
    assert letter.reason == "malformed, not retried: not a CloudEvent: no specversion header"
    assert (letter.event_id, letter.event_type, letter.data) == ("e-9", "t", b"\x00")


def test_without_a_dead_letter_sink_the_failed_event_is_acked_and_dropped() -> None:
    decision, _ = deliver(500, attempts_made=2, sink=None)

    assert decision.action is Action.ACK


def test_a_retried_copy_counts_its_attempts_and_drops_the_broker_history() -> None:
    import pika

    original = pika.BasicProperties(
        content_type="application/json",
        message_id="e-1",
        headers={"ce-id": "e-1", "x-death": [{}], "x-first-death-queue": "q"},
    )

    copy = amqp.retried_properties(original, 2)

    assert copy.headers == {"ce-id": "e-1", amqp.ATTEMPTS_HEADER: 2}
    assert (copy.content_type, copy.message_id, copy.delivery_mode) == (
        "application/json",
        "e-1",
        2,
    )
    assert amqp.attempts_made(copy.headers) == 2
    assert amqp.attempts_made({amqp.ATTEMPTS_HEADER: "junk"}) == 0


def test_a_failed_attempt_is_one_log_line_saying_when_the_next_comes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Was: nothing; a subscriber that failed every attempt was silent until an operator listed
    # the dead letters.
    with caplog.at_level(logging.INFO, logger="eventualshop.runtime.broker"):
        deliver(503, attempts_made=1)

    (record,) = caplog.records
    assert record.levelno == logging.INFO
    line = record.getMessage()
    assert MESSAGE.id in line, line
    assert "cart-projector" in line, line
    assert "attempt 2 of 3 failed (status 503)" in line, line


def test_a_dispatcher_that_cannot_start_names_the_broker_without_its_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Was: "dispatcher not consuming from amqp://shop:<the password>@… after 15 s", which
    # gunicorn logged with the traceback of the worker that failed to boot.
    import socket

    from eventualshop.runtime.broker.deadletters import InMemoryDeadLetterStore
    from eventualshop.runtime.broker.rabbitmq import RabbitMqDispatcher

    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        url = f"amqp://shop:Rabb1t-S3cret-pw@127.0.0.1:{port}/%2F"
        triggers = [(Subscription("t", {"type": "x"}, Delivery()), lambda message: 200)]
        dispatcher = RabbitMqDispatcher(url, "x", triggers, InMemoryDeadLetterStore())
        with pytest.raises(TimeoutError) as raised:
            dispatcher.start(timeout=0.3)

    assert f"127.0.0.1:{port}" in str(raised.value)
    assert "Rabb1t-S3cret-pw" not in str(raised.value)
    assert "Rabb1t-S3cret-pw" not in caplog.text

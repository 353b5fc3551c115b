"""The started in-process broker (the local shop's): an event counts as published only once every
Trigger had its first attempt at it, and a retry waits in a schedule instead of holding up the
deliveries behind it."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import UTC, datetime

import pytest

from eventualshop.kernel.outbox import OutboxRelay
from eventualshop.runtime.broker.binding import CloudEventMessage
from eventualshop.runtime.broker.deadletters import InMemoryDeadLetterStore
from eventualshop.runtime.broker.in_process import InProcessBroker
from eventualshop.runtime.broker.publishers import InProcessPublisher
from eventualshop.runtime.registry import Delivery, Subscription
from eventualshop.shopping_cart.commands import CreateCart
from tests.unit.shopping_cart.history import CartHistory

SOON = Delivery(retry=2, backoff_policy="linear", backoff_delay="PT0.3S")


def message(n: int) -> CloudEventMessage:
    return CloudEventMessage(
        {
            "specversion": "1.0",
            "id": f"event-{n}",
            "source": "/eventualshop/shopping-cart",
            "type": "eventualshop.shopping-cart.CartCreated",
            "time": datetime.now(UTC).isoformat(),
        },
        b"{}",
    )


def test_the_relay_marks_an_event_published_only_after_its_first_delivery() -> None:
    history = CartHistory()
    history.run(CreateCart(cart_id=uuid.uuid4(), customer_id=uuid.uuid4(), currency="USD"))
    entered, release = threading.Event(), threading.Event()

    def slow_projector(_: CloudEventMessage) -> int:
        entered.set()
        release.wait(10)
        return 200

    broker = InProcessBroker([(Subscription("p", {}), slow_projector)], InMemoryDeadLetterStore())
    broker.start()
    relay = OutboxRelay(history.store, InProcessPublisher(broker))
    passing = threading.Thread(target=relay.drain)
    try:
        passing.start()
        assert entered.wait(10)
        # In the broker's hands but not delivered: a crash now must leave it to the relay.
        assert len(history.store.pending_outbox()) == 1
        release.set()
        passing.join(10)
        assert history.store.pending_outbox() == []
    finally:
        release.set()
        broker.stop()


def test_a_retry_waits_in_the_schedule_while_later_events_are_delivered() -> None:
    calls: list[tuple[str, float]] = []
    failed_once: set[str] = set()

    def flaky(received: CloudEventMessage) -> int:
        calls.append((received.id, time.monotonic()))
        if received.id == "event-1" and received.id not in failed_once:
            failed_once.add(received.id)
            return 503
        return 200

    store = InMemoryDeadLetterStore()
    broker = InProcessBroker([(Subscription("p", {}, SOON), flaky)], store)
    broker.start()
    try:
        broker.hand_over([message(1), message(2), message(3)])
        broker.join()
    finally:
        broker.stop()

    assert [event for event, _ in calls] == ["event-1", "event-2", "event-3", "event-1"]
    first, retried = calls[0][1], calls[-1][1]
    assert retried - first >= 0.25  # the backoff was kept, just not in line
    assert store.list() == []


def test_a_retry_that_keeps_failing_ends_as_a_dead_letter_without_blocking_others() -> None:
    seen: list[str] = []

    def broken_for_one(received: CloudEventMessage) -> int:
        seen.append(received.id)
        return 500 if received.id == "event-1" else 200

    store = InMemoryDeadLetterStore()
    broker = InProcessBroker([(Subscription("p", {}, SOON), broken_for_one)], store)
    broker.start()
    try:
        broker.hand_over([message(1), message(2)])
        assert seen[:2] == ["event-1", "event-2"]
        broker.join()
    finally:
        broker.stop()

    assert seen.count("event-1") == 3  # the first attempt and two retries
    (letter,) = store.list()
    assert (letter.event_id, letter.attempts) == ("event-1", 3)


def test_each_failed_attempt_and_the_dead_letter_are_logged_with_the_replay_command(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Was: nothing at all; the event ended as a dead letter in silence.
    store = InMemoryDeadLetterStore()
    broker = InProcessBroker([(Subscription("p", {}, SOON), lambda _: 503)], store)
    broker.start()
    try:
        with caplog.at_level(logging.INFO, logger="eventualshop.runtime.broker"):
            broker.hand_over([message(1)])
            broker.join()
    finally:
        broker.stop()

    (letter,) = store.list()
    lines = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in lines] == [logging.INFO, logging.INFO, logging.WARNING], lines
    assert "attempt 1 of 3 failed (status 503)" in lines[0][1]
    assert "attempt 2 of 3 failed (status 503)" in lines[1][1]
    dead = lines[2][1]
    assert f"dead letter {letter.id} after 3 attempts" in dead, dead
    assert f"eventualshop dead-letters replay {letter.id}" in dead, dead

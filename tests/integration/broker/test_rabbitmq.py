"""Against a real RabbitMQ: publishing with confirms, Trigger routing, retries, dead letters,
replay, and an outbox that outlives a stopped broker."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from uuid import uuid4

import pika
import pytest

from eventualshop.kernel.eventstore import AppendBatch, OutboxEntry
from eventualshop.kernel.memory import InMemoryEventStore
from eventualshop.kernel.outbox import OutboxRelay, PublishError
from eventualshop.runtime.broker.binding import CloudEventMessage, from_amqp, from_outbox
from eventualshop.runtime.broker.deadletters import (
    DeadLetter,
    InMemoryDeadLetterStore,
    list_dead_letters,
    replay,
)
from eventualshop.runtime.broker.delivery import Subscriber
from eventualshop.runtime.broker.publishers import RabbitMqPublisher
from eventualshop.runtime.broker.rabbitmq import RabbitMqDispatcher
from eventualshop.runtime.registry import Delivery, Subscription
from tests.unit.broker.samples import outbox_entry, stored_event

from .conftest import HttpSubscriber, Rabbit, TcpProxy, url_via, wait_until
from .test_http import closed_port

pytestmark = pytest.mark.rabbitmq

FAST = Delivery(retry=2, backoff_policy="linear", backoff_delay="PT0.05S")
CREATED = "eventualshop.shopping-cart.CartCreated"
ADDED = "eventualshop.shopping-cart.CartItemAdded"


def entries(
    count: int, event_type: str = "CartCreated", aggregate_type: str = "ShoppingCart"
) -> list[OutboxEntry]:
    """Outbox rows as the repository writes them, one event each, versions 1..count."""
    return [
        outbox_entry(
            "shopping-cart",
            stored_event(event_type, f'{{"n":{n}}}', version=n, aggregate_type=aggregate_type),
        )
        for n in range(1, count + 1)
    ]


def append(store: InMemoryEventStore, outbox: list[OutboxEntry]) -> InMemoryEventStore:
    """Commit each row with an event, as a command would (the event's content is irrelevant)."""
    for entry in outbox:
        event = replace(
            stored_event(entry.event_type), event_id=entry.event_id, aggregate_id=uuid4()
        )
        store.append(AppendBatch(events=[event], outbox=[entry]))
    return store


class Recorder:
    """A callable subscriber: scripted statuses (the last repeats), thread-safe records."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses) or [200]
        self.received: list[CloudEventMessage] = []
        self._lock = threading.Lock()

    def __call__(self, message: CloudEventMessage) -> int:
        with self._lock:
            self.received.append(message)
            return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]

    def ids(self) -> set[str]:
        with self._lock:
            return {m.id for m in self.received}

    def count(self) -> int:
        with self._lock:
            return len(self.received)


@pytest.fixture
def dispatchers(rabbit: Rabbit) -> Iterator[list[RabbitMqDispatcher]]:
    started: list[RabbitMqDispatcher] = []
    yield started
    for dispatcher in started:
        dispatcher.stop()
        dispatcher.delete()


def run_dispatcher(
    rabbit: Rabbit,
    started: list[RabbitMqDispatcher],
    triggers: list[tuple[Subscription, Subscriber]],
    dead: InMemoryDeadLetterStore | None = None,
    prefetch: int = 4,
    url: str | None = None,
) -> RabbitMqDispatcher:
    dispatcher = RabbitMqDispatcher(
        url or rabbit.url,
        rabbit.exchange,
        triggers,
        dead if dead is not None else InMemoryDeadLetterStore(),
        prefetch=prefetch,
        store_retry_delay=0.05,
        reconnect_delay=0.1,
    )
    started.append(dispatcher)
    dispatcher.start()
    return dispatcher


class TestRabbitMqPublisher:
    def test_messages_are_confirmed_persistent_and_carry_every_attribute(
        self, rabbit: Rabbit
    ) -> None:
        queue = rabbit.bound_queue(type=CREATED)
        outbox = entries(3)
        publisher = RabbitMqPublisher(rabbit.url, rabbit.exchange)

        publisher.publish(outbox)
        publisher.close()

        got = rabbit.drain(queue, 3)
        assert len(got) == 3
        for entry, (_, properties, body) in zip(outbox, got, strict=True):
            expected = from_outbox(entry)
            assert properties.delivery_mode == 2
            assert properties.message_id == expected.id
            assert properties.content_type == "application/json"
            assert properties.headers == {f"ce-{k}": v for k, v in expected.attributes.items()}
            assert from_amqp(properties.headers, body) == expected

    def test_the_exchange_is_one_durable_headers_exchange(self, rabbit: Rabbit) -> None:
        RabbitMqPublisher(rabbit.url, rabbit.exchange).publish(entries(1))

        chan = rabbit.channel()
        chan.exchange_declare(rabbit.exchange, exchange_type="headers", durable=True, passive=True)
        with pytest.raises(pika.exceptions.ChannelClosedByBroker, match="PRECONDITION_FAILED"):
            rabbit.channel().exchange_declare(rabbit.exchange, exchange_type="topic", durable=True)

    def test_a_message_the_broker_refuses_is_a_publish_error(self, rabbit: Rabbit) -> None:
        # A full queue that rejects new messages makes RabbitMQ nack them (publisher confirms).
        rabbit.bound_queue({"x-max-length": 1, "x-overflow": "reject-publish"}, type=CREATED)
        publisher = RabbitMqPublisher(rabbit.url, rabbit.exchange)

        with pytest.raises(PublishError, match="nack"):
            publisher.publish(entries(2))
        publisher.close()


class TestTriggerRouting:
    def test_each_trigger_queue_gets_only_the_events_its_filters_match(
        self, rabbit: Rabbit, dispatchers: list[RabbitMqDispatcher]
    ) -> None:
        subscriptions = [
            Subscription("created", {"type": CREATED}),
            Subscription("order-created", {"type": CREATED, "aggregatetype": "Order"}),
            Subscription("carts", {"aggregatetype": "ShoppingCart"}),
            Subscription("everything", {}),
        ]
        recorders = {s.name: Recorder() for s in subscriptions}
        run_dispatcher(rabbit, dispatchers, [(s, recorders[s.name]) for s in subscriptions])
        outbox = [
            *entries(2, "CartCreated"),
            *entries(2, "CartItemAdded"),
            *entries(1, "CartCreated", aggregate_type="Order"),
        ]
        messages = [from_outbox(entry) for entry in outbox]

        RabbitMqPublisher(rabbit.url, rabbit.exchange).publish(outbox)

        expected = {
            s.name: {m.id for m in messages if s.matches(dict(m.attributes))} for s in subscriptions
        }
        total = sum(len(ids) for ids in expected.values())
        assert wait_until(lambda: sum(r.count() for r in recorders.values()) >= total)
        time.sleep(0.3)  # anything routed wrongly would have arrived by now
        assert {name: r.ids() for name, r in recorders.items()} == expected
        assert {name: r.count() for name, r in recorders.items()} == {
            name: len(ids) for name, ids in expected.items()
        }
        assert expected["order-created"]
        assert expected["created"] != expected["everything"]


class TestRetriesAndDeadLetters:
    def test_a_subscriber_failing_twice_then_succeeding_gets_it_on_attempt_three_and_it_is_acked(
        self, rabbit: Rabbit, dispatchers: list[RabbitMqDispatcher]
    ) -> None:
        subscriber = Recorder(503, 500, 200)
        dead = InMemoryDeadLetterStore()
        dispatcher = run_dispatcher(
            rabbit, dispatchers, [(Subscription("flaky", {}, FAST), subscriber)], dead
        )

        RabbitMqPublisher(rabbit.url, rabbit.exchange).publish(entries(1))

        assert wait_until(lambda: subscriber.count() >= 3)
        dispatcher.stop()
        assert subscriber.count() == 3
        assert len(subscriber.ids()) == 1
        assert dead.list() == []
        queue = dispatcher.queues["flaky"]
        assert rabbit.depth(queue) == 0  # acked: nothing came back after the connection closed
        assert all(rabbit.depth(q) == 0 for q in dispatcher.retry_queues["flaky"])

    def test_a_failing_subscriber_is_dead_lettered_listed_and_replayed_once_when_healthy(
        self,
        rabbit: Rabbit,
        dispatchers: list[RabbitMqDispatcher],
        http_subscriber: HttpSubscriber,
    ) -> None:
        http_subscriber.statuses = [503]
        dead = InMemoryDeadLetterStore()
        dispatcher = run_dispatcher(
            rabbit,
            dispatchers,
            [(Subscription("projector", {"type": CREATED}, FAST), http_subscriber.url)],
            dead,
        )
        [entry] = entries(1)

        RabbitMqPublisher(rabbit.url, rabbit.exchange).publish([entry])

        assert wait_until(lambda: len(dead.list()) == 1)
        [letter] = list_dead_letters(dead, trigger="projector")
        assert letter.attempts == FAST.retry + 1
        assert letter.reason == "status 503: answered 503"
        assert letter.message() == from_outbox(entry)
        assert len(http_subscriber.received) == 3

        http_subscriber.statuses = [200]
        report = replay(dead, dispatcher, trigger="projector")

        assert report.replayed == [letter.id]
        assert wait_until(lambda: len(http_subscriber.received) == 4)
        time.sleep(0.3)
        assert len(http_subscriber.received) == 4
        assert http_subscriber.received[-1] == from_outbox(entry)
        assert list_dead_letters(dead) == []
        assert list_dead_letters(dead, include_replayed=True)[0].replayed_at is not None

    def test_a_rejecting_url_dead_letters_at_once(
        self,
        rabbit: Rabbit,
        dispatchers: list[RabbitMqDispatcher],
        http_subscriber: HttpSubscriber,
    ) -> None:
        http_subscriber.statuses = [422]
        dead = InMemoryDeadLetterStore()
        run_dispatcher(
            rabbit, dispatchers, [(Subscription("p", {}, FAST), http_subscriber.url)], dead
        )

        RabbitMqPublisher(rabbit.url, rabbit.exchange).publish(entries(1))

        assert wait_until(lambda: len(dead.list()) == 1)
        assert dead.list()[0].attempts == 1
        assert dead.list()[0].reason == "rejected, not retried: status 422: answered 422"
        assert len(http_subscriber.received) == 1

    def test_a_dead_letter_is_one_warning_naming_it_and_the_command_that_replays_it(
        self,
        rabbit: Rabbit,
        dispatchers: list[RabbitMqDispatcher],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        # Was: `eventualshop dispatch` dead-lettered in silence; only a listing showed it.
        dead = InMemoryDeadLetterStore()
        run_dispatcher(rabbit, dispatchers, [(Subscription("p", {}, FAST), Recorder(503))], dead)

        with caplog.at_level(logging.INFO, logger="eventualshop.runtime.broker"):
            RabbitMqPublisher(rabbit.url, rabbit.exchange).publish(entries(1))
            assert wait_until(lambda: len(dead.list()) == 1)
            assert wait_until(lambda: any(r.levelno == logging.WARNING for r in caplog.records))

        [letter] = dead.list()
        lines = [r.getMessage() for r in caplog.records]
        retries = [line for line in lines if "failed (status 503)" in line]
        assert len(retries) == FAST.retry, lines
        [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert (
            f"{letter.event_id} ({letter.event_type}) for p is dead letter {letter.id}" in warning
        )
        assert f"eventualshop dead-letters replay {letter.id}" in warning

    def test_a_message_that_is_not_a_cloudevent_goes_straight_to_dead_letters(
        self, rabbit: Rabbit, dispatchers: list[RabbitMqDispatcher]
    ) -> None:
        subscriber, dead = Recorder(), InMemoryDeadLetterStore()
        dispatcher = run_dispatcher(
            rabbit, dispatchers, [(Subscription("p", {"type": CREATED}, FAST), subscriber)], dead
        )
        chan = rabbit.channel()

        chan.basic_publish(
            rabbit.exchange,
            "",
            b"\x00garbage",
            pika.BasicProperties(headers={"ce-type": CREATED, "ce-id": "bad-1"}, delivery_mode=2),
        )

        assert wait_until(lambda: len(dead.list()) == 1)
        [letter] = dead.list()
        assert letter.reason.startswith("malformed, not retried")
        assert (letter.event_id, letter.attempts, letter.data) == ("bad-1", 0, b"\x00garbage")
        assert subscriber.count() == 0
        assert rabbit.depth(dispatcher.queues["p"]) == 0

    def test_a_failing_dead_letter_store_puts_the_message_back_instead_of_losing_it(
        self, rabbit: Rabbit, dispatchers: list[RabbitMqDispatcher]
    ) -> None:
        class FlakyStore(InMemoryDeadLetterStore):
            failures = 2

            def add(self, letter: DeadLetter) -> int:
                if self.failures:
                    self.failures -= 1
                    raise OSError("database is locked")
                return super().add(letter)

        dead = FlakyStore()
        run_dispatcher(rabbit, dispatchers, [(Subscription("p", {}, FAST), Recorder(400))], dead)

        RabbitMqPublisher(rabbit.url, rabbit.exchange).publish(entries(1))

        assert wait_until(lambda: len(dead.list()) == 1)
        assert dead.failures == 0


class TestTheDispatcherOutlivesABrokerOutage:
    def test_it_reconnects_and_delivers_what_was_published_meanwhile(
        self, rabbit: Rabbit, rabbitmq_proxy: TcpProxy, dispatchers: list[RabbitMqDispatcher]
    ) -> None:
        subscriber = Recorder()
        via_proxy = url_via(rabbit.url, rabbitmq_proxy.port)
        run_dispatcher(rabbit, dispatchers, [(Subscription("p", {}), subscriber)], url=via_proxy)
        outbox = entries(3)

        rabbitmq_proxy.stop()
        RabbitMqPublisher(rabbit.url, rabbit.exchange).publish(outbox)
        time.sleep(0.3)
        assert subscriber.count() == 0
        rabbitmq_proxy.start()

        assert wait_until(lambda: subscriber.count() >= 3)
        assert subscriber.ids() == {from_outbox(e).id for e in outbox}


class TestOutboxOutlivesAStoppedBroker:
    def test_nothing_is_published_to_a_closed_port_and_everything_once_in_order_later(
        self, rabbit: Rabbit
    ) -> None:
        queue = rabbit.bound_queue()
        outbox = entries(5)
        store = append(InMemoryEventStore(), outbox)
        down = RabbitMqPublisher(url_via(rabbit.url, closed_port()), rabbit.exchange)

        assert OutboxRelay(store, down).drain() == 0
        assert [e.event_id for e in store.pending_outbox()] == [e.event_id for e in outbox]

        assert OutboxRelay(store, RabbitMqPublisher(rabbit.url, rabbit.exchange)).drain() == 5

        got = rabbit.drain(queue, 6, timeout=1.0)
        assert [properties.message_id for _, properties, _ in got] == [
            str(e.event_id) for e in outbox
        ]
        assert store.pending_outbox() == []

    def test_a_dropped_connection_is_reopened_and_the_sweep_delivers_each_event_once(
        self, rabbit: Rabbit, rabbitmq_proxy: TcpProxy
    ) -> None:
        queue = rabbit.bound_queue()
        first, later = entries(2), entries(4)
        store = append(InMemoryEventStore(), first)
        publisher = RabbitMqPublisher(url_via(rabbit.url, rabbitmq_proxy.port), rabbit.exchange)
        relay = OutboxRelay(store, publisher)
        assert relay.drain() == 2

        rabbitmq_proxy.stop()  # the broker goes away under an open connection
        append(store, later)
        assert relay.drain() == 0
        assert len(store.pending_outbox()) == 4

        rabbitmq_proxy.start()
        assert relay.drain() == 4

        got = rabbit.drain(queue, 7, timeout=1.0)
        assert [p.message_id for _, p, _ in got] == [str(e.event_id) for e in first + later]
        assert all(json.loads(body) for _, _, body in got)
        publisher.close()

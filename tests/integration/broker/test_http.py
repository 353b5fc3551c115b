"""Events over real HTTP: the Knative sink publisher, URL subscribers of the in-process broker."""

from __future__ import annotations

import pytest

from eventualshop.kernel.eventstore import AppendBatch
from eventualshop.kernel.memory import InMemoryEventStore
from eventualshop.kernel.outbox import OutboxRelay, PublishError
from eventualshop.runtime.broker.binding import from_outbox
from eventualshop.runtime.broker.deadletters import InMemoryDeadLetterStore
from eventualshop.runtime.broker.in_process import InProcessBroker
from eventualshop.runtime.broker.publishers import KnativeSinkPublisher
from eventualshop.runtime.registry import Delivery, Subscription
from tests.ports import closed_port
from tests.unit.broker.samples import outbox_entry, stored_event

from .conftest import HttpSubscriber


def store_with_events(count: int) -> InMemoryEventStore:
    store = InMemoryEventStore()
    for version in range(1, count + 1):
        event = stored_event("CartItemAdded", f'{{"n":{version}}}', version=version)
        store.append(AppendBatch(events=[event], outbox=[outbox_entry("shopping-cart", event)]))
    return store


class TestKnativeSinkPublisher:
    def test_posts_every_event_in_binary_mode_in_outbox_order(
        self, http_subscriber: HttpSubscriber
    ) -> None:
        store = store_with_events(3)
        expected = [from_outbox(entry) for entry in store.pending_outbox()]

        published = OutboxRelay(store, KnativeSinkPublisher(http_subscriber.url)).drain()

        assert published == 3
        assert http_subscriber.received == expected
        headers, body = http_subscriber.raw[0]
        assert headers["Content-Type"] == "application/json"
        assert headers["Ce-Specversion"] == "1.0"
        assert body == expected[0].data
        assert store.pending_outbox() == []

    def test_a_refusing_ingress_leaves_the_rows_pending_until_it_accepts(
        self, http_subscriber: HttpSubscriber
    ) -> None:
        store = store_with_events(2)
        relay = OutboxRelay(store, KnativeSinkPublisher(http_subscriber.url))
        http_subscriber.statuses = [503]

        assert relay.drain() == 0
        assert len(store.pending_outbox()) == 2
        # A failed pass is told of by the relay (one line when it starts failing), not raised
        # to the commit that ran it, which logged it once per commit.
        assert relay.run_once() == 0
        assert relay.outage.failing
        assert len(store.pending_outbox()) == 2

        http_subscriber.statuses = [202]
        assert relay.drain() == 2
        assert store.pending_outbox() == []

    def test_an_unreachable_ingress_is_a_publish_error(self) -> None:
        store = store_with_events(1)
        publisher = KnativeSinkPublisher(f"http://127.0.0.1:{closed_port()}/", timeout=2)

        with pytest.raises(PublishError, match="unreachable"):
            publisher.publish(store.pending_outbox())
        assert OutboxRelay(store, publisher).drain() == 0


class TestUrlSubscribers:
    def test_a_failing_url_is_retried_then_delivered(self, http_subscriber: HttpSubscriber) -> None:
        http_subscriber.statuses = [503, 500, 200]
        delivery = Delivery(retry=3, backoff_policy="linear", backoff_delay="PT0.05S")
        broker = InProcessBroker(
            [(Subscription("t", {}, delivery), http_subscriber.url)], InMemoryDeadLetterStore()
        )
        message = from_outbox(store_with_events(1).pending_outbox()[0])

        broker.publish(message)

        assert broker.reports[-1].delivered
        assert broker.reports[-1].attempts == 3
        assert http_subscriber.received == [message] * 3

    def test_a_url_rejecting_the_event_dead_letters_it_with_its_answer(
        self, http_subscriber: HttpSubscriber
    ) -> None:
        http_subscriber.statuses = [400]
        dead = InMemoryDeadLetterStore()
        delivery = Delivery(retry=3, backoff_delay="PT0.05S")
        broker = InProcessBroker([(Subscription("t", {}, delivery), http_subscriber.url)], dead)

        broker.publish(from_outbox(store_with_events(1).pending_outbox()[0]))

        [letter] = dead.list()
        assert letter.reason == "rejected, not retried: status 400: answered 400"
        assert letter.attempts == 1

    def test_an_unreachable_url_is_retried_and_its_error_kept(self) -> None:
        dead = InMemoryDeadLetterStore()
        delivery = Delivery(retry=1, backoff_policy="linear", backoff_delay="PT0.01S")
        url = f"http://127.0.0.1:{closed_port()}/"
        broker = InProcessBroker([(Subscription("t", {}, delivery), url)], dead)

        broker.publish(from_outbox(store_with_events(1).pending_outbox()[0]))

        [letter] = dead.list()
        assert letter.attempts == 2
        assert letter.reason.startswith("no response: ConnectionRefusedError")

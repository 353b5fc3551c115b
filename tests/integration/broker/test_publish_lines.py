"""What the RabbitMQ publisher says when it cannot publish: one plain line naming the broker
without its password, not pika's nested reprs."""

from __future__ import annotations

import logging
import urllib.parse

import pytest

from eventualshop.kernel.outbox import PublishError
from eventualshop.runtime.broker.publishers import RabbitMqPublisher
from tests.ports import closed_port
from tests.unit.broker.samples import outbox_entry, stored_event


def _entries() -> list:  # type: ignore[type-arg]
    return [outbox_entry("shopping-cart", stored_event("CartItemAdded", '{"n":1}', version=1))]


def test_an_unreachable_broker_is_one_plain_line_naming_it_without_its_password() -> None:
    port = closed_port()
    publisher = RabbitMqPublisher(f"amqp://shop:s3cret@127.0.0.1:{port}/%2F", "outg.none")

    with pytest.raises(PublishError) as caught:
        publisher.publish(_entries())

    said = str(caught.value)
    # Was: "RabbitMQ unreachable: AMQPConnectionError((AMQPConnectorSocketConnectError:
    # ConnectionRefusedError(111, 'Connection refused'),))"
    assert said == (
        f"RabbitMQ at 127.0.0.1:{port} cannot be reached: [Errno 111] Connection refused"
    ), said
    assert "s3cret" not in said


def test_a_refused_login_is_said_as_such(rabbitmq_url: str) -> None:
    parts = urllib.parse.urlsplit(rabbitmq_url)
    where = f"{parts.hostname}:{parts.port or 5672}"
    publisher = RabbitMqPublisher(f"amqp://{parts.username}:not-s3cret@{where}/%2F", "outg.none")

    with pytest.raises(PublishError) as caught:
        publisher.publish(_entries())

    said = str(caught.value)
    assert said.startswith(f"RabbitMQ at {where} refused the login for user "), said
    assert "s3cret" not in said


def test_the_relay_tells_of_a_broker_outage_in_one_plain_line_not_one_per_commit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from eventualshop.kernel.eventstore import AppendBatch
    from eventualshop.kernel.memory import InMemoryEventStore
    from eventualshop.kernel.outbox import OutboxRelay

    port = closed_port()
    store = InMemoryEventStore()
    relay = OutboxRelay(
        store, RabbitMqPublisher(f"amqp://shop:s3cret@127.0.0.1:{port}/%2F", "outg.none")
    )
    with caplog.at_level(logging.INFO, logger="eventualshop"):
        for version in range(1, 11):  # ten commits, each with its relay pass
            event = stored_event("CartItemAdded", f'{{"n":{version}}}', version=version)
            store.append(AppendBatch(events=[event], outbox=[outbox_entry("shopping-cart", event)]))
            assert relay.run_once() == 0

    said = [r.getMessage() for r in caplog.records if r.name.startswith("eventualshop")]
    assert said == [
        f"publishing failed: RabbitMQ at 127.0.0.1:{port} cannot be reached: [Errno 111] "
        "Connection refused; the events stay in the outbox and go out when it works"
    ], said
    assert len(store.pending_outbox(100)) == 10

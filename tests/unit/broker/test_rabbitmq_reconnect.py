"""The RabbitMQ dispatcher while the broker cannot be reached, without RabbitMQ: how often it
tries again and what it says. Its consuming is replaced; the loop around it is the real one."""

from __future__ import annotations

import logging

import pika.exceptions
import pytest

from eventualshop.runtime.broker.deadletters import InMemoryDeadLetterStore
from eventualshop.runtime.broker.rabbitmq import RabbitMqDispatcher

REFUSED = pika.exceptions.AMQPConnectionError(ConnectionRefusedError(111, "Connection refused"))


class Outage:
    """Stands in for ``_consume`` and for the dispatcher's stop event. Each attempt of ``plan``
    either cannot connect (False) or connects, consumes, then loses its connection (True); the
    pauses between attempts are recorded instead of slept, and the run stops after the plan's
    last attempt."""

    def __init__(self, dispatcher: RabbitMqDispatcher, plan: list[bool]) -> None:
        self.dispatcher = dispatcher
        self.plan = list(plan)
        self.pauses: list[float] = []
        self.stopped = False

    def consume(self, failures: int = 0) -> None:
        connects = self.plan.pop(0)
        if not self.plan:
            self.stopped = True
        if connects:
            self.dispatcher._consuming(failures)
            if self.stopped:
                return
        raise REFUSED

    def is_set(self) -> bool:
        return self.stopped

    def wait(self, timeout: float) -> bool:
        self.pauses.append(timeout)
        return self.stopped


def run_through(plan: list[bool], **options: float) -> Outage:
    dispatcher = RabbitMqDispatcher(
        "amqp://guest:guest@127.0.0.1:1/", "ex", [], InMemoryDeadLetterStore(), **options
    )
    outage = Outage(dispatcher, plan)
    dispatcher._consume = outage.consume  # type: ignore[method-assign]
    dispatcher._stopping = outage  # type: ignore[assignment]
    dispatcher.run()
    return outage


def test_each_attempt_waits_twice_as_long_up_to_the_longest_pause() -> None:
    outage = run_through([False] * 8, reconnect_delay=1.0, reconnect_longest=30.0)

    assert outage.pauses == [1, 2, 4, 8, 16, 30, 30, 30]


def test_by_default_a_broker_back_is_consumed_from_within_10_s() -> None:
    outage = run_through([False] * 6)

    assert outage.pauses == [1, 2, 4, 8, 10, 10]


def test_a_connection_that_consumed_again_starts_the_pauses_over() -> None:
    outage = run_through([False, False, False, True, False, False], reconnect_delay=0.5)

    assert outage.pauses == [0.5, 1, 2, 0.5, 1, 2]


def test_each_failed_attempt_is_one_line_in_the_sockets_words_with_the_next_pause(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="eventualshop.runtime.broker.rabbitmq"):
        run_through([False, False, True, False], reconnect_delay=1.0)

    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "RabbitMQ dispatcher cannot connect: AMQPConnectionError: [Errno 111] Connection "
        "refused; trying again in 1 s",
        "RabbitMQ dispatcher cannot connect: AMQPConnectionError: [Errno 111] Connection "
        "refused; trying again in 2 s",
        "RabbitMQ dispatcher consuming again after 2 failed attempts",
        "RabbitMQ dispatcher lost its connection: AMQPConnectionError: [Errno 111] Connection "
        "refused; trying again in 1 s",
        "RabbitMQ dispatcher cannot connect: AMQPConnectionError: [Errno 111] Connection "
        "refused; trying again in 2 s",
    ]
    levels = [r.levelname for r in caplog.records]
    assert levels == ["WARNING", "WARNING", "INFO", "WARNING", "WARNING"]

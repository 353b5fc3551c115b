"""The whole shop in this process, driven over HTTP through its WSGI app (Flask's test client).

Every test runs once per setup:

* ``embedded``: the defaults (SQLite files in a temporary folder, the in-process broker);
* ``postgres-rabbitmq``: the session's PostgreSQL database (``EVENTUALSHOP_EVENT_STORE_URL``)
  and RabbitMQ (``EVENTUALSHOP_BROKER=rabbitmq``), with an exchange of its own for every test
  (``EVENTUALSHOP_BROKER_EXCHANGE``) and a probe queue bound to it before the test sends
  anything, so a test can read what really reached the broker.

One shop per module and setup (building one migrates its store); each test gets fresh carts.
The configuration goes through the environment, like a deployed function's would, and the
process-wide caches are reset around each module so setups never see each other's parts.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pika
import pytest
from flask.testing import FlaskClient
from sqlalchemy.engine import URL, Engine

from eventualshop.kernel.eventstore import EventStore, StoredEvent
from eventualshop.runtime.broker import amqp
from eventualshop.runtime.local import LocalShop
from eventualshop.shopping_cart.declaration import SHOPPING_CART
from functions.main import ROOT
from tests.conftest import truncate
from tests.integration.broker.conftest import rabbitmq_url  # noqa: F401 (a fixture, re-used)

CART = SHOPPING_CART.name

EMBEDDED = "embedded"
POSTGRES_RABBITMQ = "postgres-rabbitmq"
SETUPS = [
    EMBEDDED,
    pytest.param(POSTGRES_RABBITMQ, marks=[pytest.mark.postgres, pytest.mark.rabbitmq]),
]
CE_TYPE = "eventualshop.shopping-cart.{}"


def _forget() -> None:
    """Drop every cached part of the composition root (stores, publisher, services, targets)."""
    ROOT.reset()


def _close(publisher: object) -> None:
    close = getattr(publisher, "close", None)
    if callable(close):
        close()


@dataclass
class ModuleShop:
    setup: str
    shop: LocalShop
    rabbitmq_url: str | None = None


@pytest.fixture(scope="module", params=SETUPS)
def module_shop(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModuleShop]:
    with pytest.MonkeyPatch.context() as env:
        for name in list(os.environ):  # a developer's own settings must not leak in
            if name.startswith("EVENTUALSHOP_") and not name.startswith("EVENTUALSHOP_TEST_"):
                env.delenv(name)
        env.delenv("K_SINK", raising=False)
        data_dir: Path = tmp_path_factory.mktemp("shop")
        env.setenv("EVENTUALSHOP_DATA_DIR", str(data_dir))
        # These modules test the cart itself, through the original's anonymous API; who may
        # call what is tested in tests/e2e/test_identity_access.py.
        env.setenv("EVENTUALSHOP_AUTH", "off")
        broker_url: str | None = None
        if request.param == POSTGRES_RABBITMQ:
            broker_url = request.getfixturevalue("rabbitmq_url")
            engine: Engine = request.getfixturevalue("postgres_engine")
            # Other tests share the session database: no rows of theirs may be left pending
            # in the outbox, or the first relay would publish them to this module's exchanges.
            truncate(engine)
            database: URL = request.getfixturevalue("postgres_url")
            env.setenv("EVENTUALSHOP_EVENT_STORE_URL", database.render_as_string(False))
            env.setenv("EVENTUALSHOP_BROKER", "rabbitmq")
            env.setenv("EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY", "e2e-card-token-key-" * 2)
            env.setenv("EVENTUALSHOP_RABBITMQ_URL", broker_url)
            env.setenv("EVENTUALSHOP_BROKER_EXCHANGE", f"e2e-{uuid.uuid4().hex[:12]}")
        else:
            env.setenv("EVENTUALSHOP_BROKER", "inprocess")
        _forget()
        try:
            yield ModuleShop(request.param, LocalShop(ROOT), broker_url)
        finally:
            _forget()


class BrokerProbe:
    """A server-named, exclusive queue bound to the whole headers exchange (``x-match: all``
    without filters matches every message): what the shop published, in publishing order."""

    def __init__(self, url: str, exchange: str) -> None:
        self.exchange = exchange
        self._connection = amqp.connect(url)
        self._channel = self._connection.channel()
        amqp.declare_exchange(self._channel, exchange)
        declared = self._channel.queue_declare("", exclusive=True)
        self.queue: str = declared.method.queue
        self._channel.queue_bind(self.queue, exchange, arguments={"x-match": "all"})
        self.received: list[tuple[pika.BasicProperties, bytes]] = []

    def read(self, expected: int, timeout: float = 5.0) -> list[tuple[pika.BasicProperties, bytes]]:
        """Everything received so far, waiting up to ``timeout`` for ``expected`` messages.

        The relay after a commit is waited for before a command answers (briefly: it goes on in
        the background on a slow machine), so whatever a test's commands published is in the
        queue by now or shortly, an unexpected extra message included."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            method, properties, body = self._channel.basic_get(self.queue, auto_ack=True)
            if method is not None and properties is not None and body is not None:
                self.received.append((properties, body))
                continue
            if len(self.received) >= expected:
                break
            time.sleep(0.02)
        return list(self.received)

    def close(self) -> None:
        with contextlib.suppress(pika.exceptions.AMQPError, OSError):
            self._channel.exchange_delete(self.exchange)
        with contextlib.suppress(pika.exceptions.AMQPError, OSError):
            self._connection.close()


@dataclass
class Shop:
    """One test's view of the shop: its HTTP client, the cart store and, on RabbitMQ, the probe."""

    setup: str
    client: FlaskClient
    store: EventStore
    probe: BrokerProbe | None = None
    start: int = 0
    carts: list[str] = field(default_factory=list)

    def events_since(self, position: int) -> list[StoredEvent]:
        return list(self.store.read_all(after_position=position))

    def events(self) -> list[StoredEvent]:
        """Every event this test's commands stored."""
        return self.events_since(self.start)

    def assert_published(self) -> list[dict[str, Any]]:
        """Every event this test stored was published, once each and in order.

        On RabbitMQ: read back from the probe queue (their ``ce-`` headers); embedded: no outbox
        row is left pending (the in-process broker took them all). Returns the headers read.
        """
        stored = self.events()
        # The relay after a commit runs in the background (a request waits for it only a
        # moment, so a dead broker never blocks a command): allow a loaded machine some time.
        ROOT.settle(timeout=10)
        deadline = time.monotonic() + 10
        while self.store.pending_outbox() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not self.store.pending_outbox(), "events left in the outbox"
        if self.probe is None:
            return []
        messages = self.probe.read(len(stored))
        headers = [dict(properties.headers or {}) for properties, _ in messages]
        assert [h.get("ce-type") for h in headers] == [CE_TYPE.format(e.event_type) for e in stored]
        assert [h.get("ce-id") for h in headers] == [str(e.event_id) for e in stored]
        return headers


@pytest.fixture
def shop(module_shop: ModuleShop, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shop]:
    probe: BrokerProbe | None = None
    if module_shop.rabbitmq_url is not None:
        exchange = f"e2e-{uuid.uuid4().hex[:12]}"
        monkeypatch.setenv("EVENTUALSHOP_BROKER_EXCHANGE", exchange)
        _close(ROOT.publisher())
        ROOT.reconfigure()  # the next relay builds a publisher from the settings: this exchange
        probe = BrokerProbe(module_shop.rabbitmq_url, exchange)
    store = ROOT.event_store(CART)
    client = module_shop.shop.app.test_client()
    try:
        yield Shop(module_shop.setup, client, store, probe, start=store.last_position())
    finally:
        if probe is not None:
            _close(ROOT.publisher())
            ROOT.use_publisher(None)
            probe.close()


def event_types(events: Sequence[StoredEvent]) -> list[str]:
    return [e.event_type for e in events]

"""Composition roots' shared parts: one event store per context and the process's publisher.

Everything is created on first use and cached for the life of the process (a warm function
instance), and only the drivers the configuration names are imported: a command function on
SQLite never imports psycopg, pika or pymongo.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import cache
from typing import TYPE_CHECKING

from eventualshop.kernel.eventstore import EventStore, OutboxEntry
from eventualshop.kernel.outbox import OutboxRelay, Publisher, PublishError
from eventualshop.runtime.settings import Settings, settings

if TYPE_CHECKING:
    from eventualshop.kernel.readmodels import ReadModelStore
    from eventualshop.runtime.broker.deadletters import SqlDeadLetterStore

_lock = threading.Lock()
_publisher: Publisher | None = None
# How to release what the caches below opened (engines): reset() calls them.
_opened: list[Callable[[], None]] = []


class NoBroker:
    """Where no broker is reachable from this process: rows stay pending for the sweep."""

    def publish(self, entries: Sequence[OutboxEntry]) -> None:
        del entries
        raise PublishError("no broker configured for this process")


@cache
def event_store(context: str) -> EventStore:
    from eventualshop.kernel.sql import SqlEventStore

    config = settings()
    url = config.resolved_event_store_url(context)
    _ensure_folder(url)
    store = SqlEventStore.from_url(url, migrate=config.auto_migrate)
    _opened.append(store.close)
    return store


def use_publisher(publisher: Publisher | None) -> None:
    """Install the process's publisher (the local server installs its in-process broker)."""
    global _publisher
    with _lock:
        _publisher = publisher
    relay.cache_clear()


def publisher() -> Publisher:
    global _publisher
    with _lock:
        if _publisher is None:
            _publisher = _configured_publisher(settings())
        return _publisher


def _configured_publisher(config: Settings) -> Publisher:
    if config.broker == "rabbitmq":
        from eventualshop.runtime.broker.publishers import RabbitMqPublisher

        return RabbitMqPublisher(config.rabbitmq_url, config.broker_exchange)
    if config.broker == "knative" and config.knative_sink:
        from eventualshop.runtime.broker.publishers import KnativeSinkPublisher

        return KnativeSinkPublisher(config.knative_sink)
    return NoBroker()


@cache
def relay(context: str) -> OutboxRelay:
    return OutboxRelay(event_store(context), publisher())


def relay_after_commit(context: str) -> Callable[[], None]:
    """Publish right after a commit: one batch at most, so a request never works off a backlog
    (after a broker outage); the scheduled sweep drains the rest. Several instances may publish
    the same row: delivery is at least once and every consumer is idempotent."""

    def run() -> None:
        relay(context).run_once()

    return run


@cache
def dead_letter_store() -> SqlDeadLetterStore:
    """Dead letters beside the embedded stores, or in the configured event store database."""
    from eventualshop.runtime.broker.deadletters import SqlDeadLetterStore

    config = settings()
    url = config.event_store_url or f"sqlite:///{config.data_dir / 'dead-letters.sqlite3'}"
    _ensure_folder(url)
    store = SqlDeadLetterStore(url)
    _opened.append(store.engine.dispose)
    store.create_table()
    return store


def reset() -> None:
    """Forget every cached part, releasing what it holds, and re-read the settings next time.

    For tests (and tools) that build shops with different configurations in one process. A
    function module's own cache (the cart's ``_service``) is not known here: clear it too.
    """
    global _publisher
    with _lock:
        dropped, _publisher = _publisher, None
        opened, _opened[:] = list(_opened), []
    event_store.cache_clear()
    relay.cache_clear()
    dead_letter_store.cache_clear()
    read_model_store.cache_clear()
    settings.cache_clear()
    close = getattr(dropped, "close", None)
    if callable(close):
        close()
    for release in opened:
        release()


def _ensure_folder(url: str) -> None:
    if url.startswith("sqlite:///"):
        from pathlib import Path

        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


@cache
def read_model_store() -> ReadModelStore:
    from eventualshop.kernel.readmodels import open_read_model_store

    url = settings().resolved_read_model_url()
    _ensure_folder(url)
    store = open_read_model_store(url)
    _opened.append(store.close)
    return store

"""The outbox relay: publishes pending outbox rows in order through a publisher port.

A row is marked published by its own id once the publisher confirmed it. Rows are never skipped
by a high-water mark, so an event committed late by a slow transaction is still published. A crash
between publish and mark republishes the row: delivery is at least once, consumers are idempotent.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

from eventualshop.kernel.eventstore import EventStore, OutboxEntry


class PublishError(Exception):
    """The broker did not confirm; the row stays pending for the next sweep."""


class Publisher(Protocol):
    def publish(self, entries: Sequence[OutboxEntry]) -> None:
        """Publish in order; raise ``PublishError`` unless every entry was confirmed."""
        ...


class InMemoryPublisher:
    """Collects what was published; can be switched off to play a stopped broker."""

    def __init__(self) -> None:
        self.published: list[OutboxEntry] = []
        self.available = True
        self._lock = threading.Lock()

    def publish(self, entries: Sequence[OutboxEntry]) -> None:
        with self._lock:
            if not self.available:
                raise PublishError("broker unavailable")
            self.published.extend(entries)


class OutboxRelay:
    def __init__(self, store: EventStore, publisher: Publisher, *, batch_size: int = 100) -> None:
        self.store = store
        self.publisher = publisher
        self.batch_size = batch_size
        # One relay pass at a time per process: two passes would publish the same rows twice.
        self._lock = threading.Lock()

    def run_once(self) -> int:
        """Publish one batch of pending rows; return how many were published."""
        with self._lock:
            pending = self.store.pending_outbox(self.batch_size)
            if not pending:
                return 0
            self.publisher.publish(pending)
            self.store.mark_published([e.id for e in pending if e.id is not None])
            return len(pending)

    def drain(self) -> int:
        """Publish until nothing is pending; stop quietly at the first broker failure."""
        total = 0
        while True:
            try:
                published = self.run_once()
            except PublishError:
                return total
            if published == 0:
                return total
            total += published

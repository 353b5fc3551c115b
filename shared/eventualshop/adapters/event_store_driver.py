"""The SQL event store as a cold function opens it: the command path without SQLAlchemy.

A command function loads an aggregate, appends its events and runs one relay pass (read the
pending events, publish, move the relay position). :class:`DriverEventStore` does exactly that on
the driver's own connections with the SQL generated from SQLAlchemy's statements
(:mod:`~eventualshop.adapters.sql_driver`), and checks the schema's migration with one query.
Everything else (reads by position, stream heads, outcomes, rejected commands, migrating, the rare
error paths) goes to a :class:`~eventualshop.adapters.event_store_sql.SqlEventStore` on the same
database, built on first use: SQLAlchemy is imported then, and only then. Both share the lock
that queues this process's SQLite writers, and behave as one store (the contract suite runs on
both).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventualshop.adapters.event_rows import append_rows, outbox_entries, stream_of
from eventualshop.adapters.sql_driver import (
    HEAD_REVISION,
    DirectConnections,
    DriverPath,
    DriverUrl,
    driver_path,
    own_or_shared,
)
from eventualshop.kernel.eventstore import (
    AppendBatch,
    InboxRecord,
    OutboxEntry,
    StoredEvent,
    Stream,
    check_command_ids,
)
from eventualshop.kernel.messages import utc_now
from eventualshop.kernel.timers import ScheduledMessage

if TYPE_CHECKING:
    from eventualshop.adapters.event_store_sql import SqlEventStore


def open_event_store(
    url: str, *, migrate: bool = False, connections: DirectConnections | None = None
) -> DriverEventStore | SqlEventStore:
    """The store for ``url``: a :class:`DriverEventStore` where a driver path exists (an SQLite
    file, PostgreSQL on psycopg), else a ``SqlEventStore``; ``migrate`` upgrades the schema
    first when it is not at the newest revision. ``connections``: the driver's connections to
    that database when the caller shares them with others (see ``DriverEventStore``)."""
    parsed = DriverUrl.parse(url)
    if parsed is None:
        from eventualshop.adapters.event_store_sql import SqlEventStore

        return SqlEventStore.from_url(url, migrate=migrate)
    store = DriverEventStore(url, parsed, connections=connections)
    if migrate:
        try:
            store.migrate_if_needed()
        except BaseException:
            store.close()
            raise
    return store


class DriverEventStore:
    """``EventStore`` whose command path runs on the driver; see the module docstring."""

    def __init__(
        self,
        url: str,
        parsed: DriverUrl,
        *,
        clock: Callable[[], datetime] = utc_now,
        connections: DirectConnections | None = None,
    ) -> None:
        """``connections``: the driver's connections to this database, owned by the caller, who
        shares them (the composition root gives the read models' look-up on the same database
        the same ones) and closes them; by default the store opens and closes its own."""
        self.url = url
        self._clock = clock
        self._connections, self._owns_connections = own_or_shared(parsed, connections)
        path = driver_path(parsed.dialect, self._connections)
        assert path is not None, "DriverUrl.parse names only dialects with a driver path"
        self._driver: DriverPath = path
        self._full: SqlEventStore | None = None
        self._opening = threading.Lock()
        # Shared with the SqlEventStore: this process's SQLite writers queue on one lock.
        self._writing: AbstractContextManager[Any] = (
            threading.Lock() if parsed.dialect == "sqlite" else nullcontext()
        )

    # --- the SQLAlchemy store, on first use ------------------------------------------------------

    @property
    def full(self) -> SqlEventStore:
        """The ``SqlEventStore`` on the same database (imports SQLAlchemy when first asked)."""
        with self._opening:
            if self._full is None:
                from eventualshop.adapters.event_store_sql import SqlEventStore, create_engine

                self._full = SqlEventStore(
                    create_engine(self.url),
                    owns_engine=True,
                    clock=self._clock,
                    writing=self._writing,
                )
            return self._full

    @property
    def engine(self) -> Any:
        """The SQLAlchemy engine of :attr:`full` (tests listen to it to take that path)."""
        return self.full.engine

    def _driver_path(self) -> DriverPath | None:
        """The driver path, unless someone listens to the engine's statements (see
        ``SqlEventStore.listened``); nobody can before the engine exists."""
        full = self._full
        return self._driver if full is None or not full.listened() else None

    def migrate_if_needed(self) -> None:
        """Upgrade the schema unless it is at ``HEAD_REVISION`` (then without SQLAlchemy). Meant
        for a store nobody else uses yet (``open_event_store``): a SQLAlchemy store it opens for
        the migration is closed after it."""
        if self._driver.schema_revision() == [HEAD_REVISION]:
            return
        opened_here = self._full is None
        self.full.migrate()
        if opened_here:
            # Opened for the migration only, so closed after it: a function that migrated at
            # start would otherwise keep the pool's connections (a server process each on
            # PostgreSQL) and ask SQLAlchemy about listeners on every load and append.
            with self._opening:
                full, self._full = self._full, None
            if full is not None:
                full.close()

    def migrate(self) -> None:
        self.full.migrate()

    def close(self) -> None:
        if self._owns_connections:
            self._connections.close()
        if self._full is not None:
            self._full.close()

    # --- the command path ------------------------------------------------------------------------

    def load(self, aggregate_id: UUID, aggregate_type: str | None = None) -> Stream:
        driver = self._driver_path()
        if driver is None or aggregate_type is None:
            return self.full.load(aggregate_id, aggregate_type)
        return stream_of(aggregate_id, driver.load(aggregate_id, aggregate_type))

    def append(self, batch: AppendBatch) -> Sequence[int]:
        check_command_ids(batch)
        driver = self._driver_path()
        if driver is None or not batch.events:
            # A batch without events (a command that decided nothing) is rare: SQLAlchemy's path.
            return self.full.append(batch)
        rows = append_rows(batch, self._clock())
        try:
            with self._writing:
                inserted = driver.append(rows)
        except Exception as error:
            from sqlalchemy.exc import IntegrityError  # the error path only

            if not isinstance(error, IntegrityError):
                raise
            failed = self.full.append_failed(batch, error)
            if failed is error:
                raise
            raise failed from error
        # Matched by event id: a multi-row RETURNING promises no order.
        by_id = {event_id: position for position, event_id in inserted}
        return [by_id[event.event_id] for event in batch.events]

    def pending_outbox(self, limit: int = 100) -> Sequence[OutboxEntry]:
        driver = self._driver_path()
        if driver is None:
            return self.full.pending_outbox(limit)
        if limit <= 0:
            return []
        return outbox_entries(driver.pending(limit))

    def mark_published_through(self, position: int) -> None:
        driver = self._driver_path()
        if driver is not None:
            with self._writing:
                moved = driver.mark_published(position, self._clock())
            if moved:
                return
        # Listened to, or no row to move (see SqlEventStore.mark_published_through).
        self.full.mark_published_through(position)

    # --- everything else: the SQLAlchemy store ---------------------------------------------------

    def load_events(
        self, aggregate_id: UUID, after_version: int = 0, aggregate_type: str | None = None
    ) -> Sequence[StoredEvent]:
        return self.full.load_events(aggregate_id, after_version, aggregate_type)

    def outcome(self, consumer: str, message_id: str) -> str | None:
        return self.full.outcome(consumer, message_id)

    def record_outcome(self, record: InboxRecord) -> str:
        return self.full.record_outcome(record)

    def read_all(self, after_position: int = 0, limit: int = 1000) -> Sequence[StoredEvent]:
        return self.full.read_all(after_position, limit)

    def last_position(self) -> int:
        return self.full.last_position()

    def aggregate_ids(self, aggregate_type: str) -> Iterator[UUID]:
        return self.full.aggregate_ids(aggregate_type)

    def stream_heads(self, aggregate_type: str) -> dict[UUID, int]:
        return self.full.stream_heads(aggregate_type)

    def due_messages(
        self, now: datetime, limit: int = 100, command_types: Collection[str] | None = None
    ) -> Sequence[ScheduledMessage]:
        return self.full.due_messages(now, limit, command_types)

    def forget_message(self, message_id: str) -> None:
        self.full.forget_message(message_id)

"""The SQL event store: the ``EventStore`` port on SQLAlchemy Core (SQLite, PostgreSQL, MSSQL).

One row per event is all a command writes (plus a snapshot every few events): the command's
message id and outcome ride on its first event (the inbox; a partial unique index refuses a
redelivery), and the outbox is the relay's position over ``events`` (the CloudEvent is rendered
from the event row when it is published). ``processed_messages`` only holds the outcomes of
commands that wrote no event (rejections); an append checks it in the same transaction, and
``record_outcome`` takes the append lock, so a message id is accepted once across both tables.

Behaves exactly like :class:`~eventualshop.kernel.memory.InMemoryEventStore`; both pass the same
contract suite. Statements are built once, at import, so SQLAlchemy compiles each one once per
dialect and every later call only binds parameters.

The command path, ``load`` and ``append``, runs those same statements straight on the driver on
SQLite (sqlite3) and PostgreSQL (psycopg; there the append's statements run in a server-side
function, migration 0006): see :mod:`eventualshop.adapters.sql_driver`; that is the
path benchmarked against the ``eventsourcing`` library. MSSQL, and an engine whose statements
someone listens to (tracing, tests), go through SQLAlchemy; the contract suite runs on both paths.

Appends are serialised per database: ``BEGIN IMMEDIATE`` on SQLite, ``LOCK TABLE events IN
EXCLUSIVE MODE`` on PostgreSQL (what ``eventsourcing`` does too; plain reads are not blocked), an
application lock on MSSQL. Identity values are handed out at insert time, not at commit, so without
it a transaction holding position 7 could commit after one holding position 8, and a reader
following positions (a read-model rebuild catching up) would step over 7 for good. With it,
``read_all`` never returns a position before a lower one has committed, as in memory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import URL, Dialect, Engine
from sqlalchemy.exc import IntegrityError

from eventualshop.adapters import database
from eventualshop.adapters.database import SQLITE_BEGIN, create_engine, migrate, mssql_applock
from eventualshop.adapters.event_rows import (
    MESSAGE_PROCESSED,
    VERSION_TAKEN,
    append_rows,
    inbox_row,
    message_key,
    outbox_entries,
    stored_event,
    stream_of,
    violates,
)
from eventualshop.adapters.schema import (
    OUTBOX_RELAY,
    UtcDateTime,
    events,
    processed_messages,
    relay_positions,
    scheduled_messages,
    snapshots,
)
from eventualshop.adapters.sql_driver import AppendRows, DriverPath, driver_path
from eventualshop.kernel.errors import ConcurrencyConflict, DuplicateMessage
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

__all__ = [
    "SqlEventStore",
    "create_engine",
    "migrate",
]


# --- statements, built once ----------------------------------------------------------------------

_aggregate_id = sa.bindparam("aggregate_id", type_=events.c.aggregate_id.type)
_aggregate_type = sa.bindparam("aggregate_type", type_=events.c.aggregate_type.type)

_EVENT_COLUMNS = (
    events.c.event_id,
    events.c.aggregate_id,
    events.c.aggregate_type,
    events.c.version,
    events.c.event_type,
    events.c.schema_version,
    events.c.payload,
    events.c.occurred_at,
    events.c.correlation_id,
    events.c.causation_id,
    events.c.traceparent,
    events.c.position,
)


def _load(typed: bool) -> sa.CompoundSelect[Any]:
    """One round trip: the events after the latest snapshot (kind 1) and that snapshot (kind 0).
    Both halves are index seeks (uq_events_stream_version, pk_snapshots), so the cost depends on
    the events since the snapshot, not on the length of the history. ``typed``: of one aggregate
    type's stream (what a repository loads); untyped, every stream with the id (tools, tests)."""
    of_events = [events.c.aggregate_id == _aggregate_id]
    of_snapshots = [snapshots.c.aggregate_id == _aggregate_id]
    if typed:
        of_events.append(events.c.aggregate_type == _aggregate_type)
        of_snapshots.append(snapshots.c.aggregate_type == _aggregate_type)
    latest_snapshot_version = (
        sa.select(snapshots.c.version)
        .where(*of_snapshots)
        .order_by(snapshots.c.version.desc())
        .limit(1)
        .scalar_subquery()
    )
    return sa.union_all(
        sa.select(
            sa.literal_column("1", sa.Integer).label("kind"),
            events.c.version,
            events.c.payload,
            events.c.aggregate_type,
            events.c.event_id,
            events.c.event_type,
            events.c.schema_version,
            events.c.occurred_at,
            events.c.correlation_id,
            events.c.causation_id,
            events.c.traceparent,
            events.c.position,
        ).where(*of_events, events.c.version > sa.func.coalesce(latest_snapshot_version, 0)),
        sa.select(
            sa.literal_column("0", sa.Integer).label("kind"),
            snapshots.c.version,
            snapshots.c.state,
            snapshots.c.aggregate_type,
            sa.cast(sa.null(), events.c.event_id.type),
            sa.cast(sa.null(), events.c.event_type.type),
            sa.cast(sa.null(), events.c.schema_version.type),
            sa.cast(sa.null(), events.c.occurred_at.type),
            sa.cast(sa.null(), events.c.correlation_id.type),
            sa.cast(sa.null(), events.c.causation_id.type),
            sa.cast(sa.null(), events.c.traceparent.type),
            sa.cast(sa.null(), events.c.position.type),
        ).where(*of_snapshots, snapshots.c.version == latest_snapshot_version),
    ).order_by(sa.literal_column("kind"), sa.literal_column("version"))


LOAD = _load(typed=True)
LOAD_ANY_TYPE = _load(typed=False)


def _load_events(typed: bool) -> sa.Select[Any]:
    of = [events.c.aggregate_id == _aggregate_id, events.c.version > sa.bindparam("after")]
    if typed:
        of.append(events.c.aggregate_type == _aggregate_type)
    return sa.select(*_EVENT_COLUMNS).where(*of).order_by(events.c.version)


LOAD_EVENTS = _load_events(typed=True)
LOAD_EVENTS_ANY_TYPE = _load_events(typed=False)

READ_ALL = (
    sa.select(*_EVENT_COLUMNS)
    .where(events.c.position > sa.bindparam("after"))
    .order_by(events.c.position)
)

LAST_POSITION = sa.select(sa.func.coalesce(sa.func.max(events.c.position), 0))

# One pass over the type's events.
STREAM_HEADS = (
    sa.select(events.c.aggregate_id, sa.func.max(events.c.version))
    .where(events.c.aggregate_type == sa.bindparam("aggregate_type"))
    .group_by(events.c.aggregate_id)
)
AGGREGATE_IDS = (
    sa.select(events.c.aggregate_id)
    .where(events.c.aggregate_type == sa.bindparam("aggregate_type"))
    .group_by(events.c.aggregate_id)
    # First appended first, like the in-memory store.
    .order_by(sa.func.min(events.c.position))
)

INSERT_EVENTS = sa.insert(events).returning(events.c.position, events.c.event_id)
INSERT_SNAPSHOTS = sa.insert(snapshots)
INSERT_INBOX = sa.insert(processed_messages)

#: An append's check that its message id has no stored rejection, in the same transaction: it
#: copies the stored row onto itself, so it writes nothing when there is none and fails on
#: pk_processed_messages when there is (one index probe, no extra round trip on PostgreSQL).
GUARD_INBOX = sa.insert(processed_messages).from_select(
    ["consumer", "message_id", "outcome", "processed_at"],
    sa.select(
        processed_messages.c.consumer,
        processed_messages.c.message_id,
        processed_messages.c.outcome,
        processed_messages.c.processed_at,
    ).where(
        processed_messages.c.consumer == sa.bindparam("consumer"),
        processed_messages.c.message_id == sa.bindparam("message_id"),
    ),
)

#: A message's outcome: on the first event of its command, or, without events, in the inbox.
OUTCOME = sa.union_all(
    sa.select(events.c.outcome).where(
        events.c.command_consumer == sa.bindparam("consumer"),
        events.c.command_id == sa.bindparam("message_id"),
    ),
    sa.select(processed_messages.c.outcome).where(
        processed_messages.c.consumer == sa.bindparam("consumer"),
        processed_messages.c.message_id == sa.bindparam("message_id"),
    ),
)

_relay_position = sa.func.coalesce(
    sa.select(relay_positions.c.position)
    .where(relay_positions.c.name == sa.bindparam("relay", OUTBOX_RELAY))
    .scalar_subquery(),
    0,
)

#: The published events after the relay's position: a range scan of the primary key.
PENDING_OUTBOX = (
    sa.select(*_EVENT_COLUMNS, events.c.context)
    .where(events.c.position > _relay_position, events.c.context.isnot(None))
    .order_by(events.c.position)
)


# A limit stays an integer literal of the statement (MSSQL then says TOP n, not a ROW_NUMBER()
# subquery); callers use a handful of limits, so each one's statement is built once and kept.
@lru_cache(maxsize=64)
def read_all_statement(limit: int) -> sa.Select[Any]:
    return READ_ALL.limit(limit)


@lru_cache(maxsize=64)
def pending_outbox_statement(limit: int) -> sa.Select[Any]:
    return PENDING_OUTBOX.limit(limit)


#: ``PENDING_OUTBOX`` with the limit as a parameter: one statement for the driver path's every call.
PENDING_OUTBOX_PAGE = PENDING_OUTBOX.limit(sa.bindparam("limit", type_=sa.Integer()))

INSERT_SCHEDULED = sa.insert(scheduled_messages)
#: The timer sweep's query: what is due, earliest first (ix_scheduled_messages_due_at).
DUE_MESSAGES = (
    sa.select(
        scheduled_messages.c.message_id,
        scheduled_messages.c.due_at,
        scheduled_messages.c.command_type,
        scheduled_messages.c.payload,
        scheduled_messages.c.correlation_id,
        scheduled_messages.c.causation_id,
        scheduled_messages.c.traceparent,
    )
    .where(scheduled_messages.c.due_at <= sa.bindparam("now", type_=UtcDateTime()))
    .order_by(scheduled_messages.c.due_at, scheduled_messages.c.message_id)
)
FORGET_MESSAGE = sa.delete(scheduled_messages).where(
    scheduled_messages.c.message_id == sa.bindparam("message_id")
)


@lru_cache(maxsize=16)
def due_messages_statement(limit: int) -> sa.Select[Any]:
    return DUE_MESSAGES.limit(limit)


@lru_cache(maxsize=16)
def due_messages_of_types_statement(limit: int) -> sa.Select[Any]:
    """``DUE_MESSAGES`` of the named command types (an expanding ``command_types`` list)."""
    return DUE_MESSAGES.where(
        scheduled_messages.c.command_type.in_(sa.bindparam("command_types", expanding=True))
    ).limit(limit)


#: Which migration the database is at (the driver path's ``schema_revision``, compiled by
#: ``compile_sql``); absent before the first one.
SCHEMA_REVISION = sa.text("SELECT version_num FROM alembic_version")

#: The columns an append gives values for, per table (the driver path binds them all).
APPEND_COLUMNS: dict[str, tuple[str, ...]] = {
    "events": (
        "event_id",
        "aggregate_id",
        "aggregate_type",
        "version",
        "event_type",
        "schema_version",
        "payload",
        "occurred_at",
        "correlation_id",
        "causation_id",
        "traceparent",
        "context",
        "command_consumer",
        "command_id",
        "outcome",
    ),
    "snapshots": ("aggregate_id", "version", "aggregate_type", "state", "created_at"),
    "scheduled": (
        "message_id",
        "due_at",
        "command_type",
        "payload",
        "correlation_id",
        "causation_id",
        "traceparent",
        "created_at",
    ),
}

#: A high-water mark, safe because positions commit in order (appends are serialised). Never moves
#: backwards: two relays (instances) may confirm the same events in either order.
MARK_PUBLISHED = (
    sa.update(relay_positions)
    .where(
        relay_positions.c.name == sa.bindparam("relay", OUTBOX_RELAY),
        relay_positions.c.position < sa.bindparam("through", type_=sa.BigInteger()),
    )
    .values(
        position=sa.bindparam("through", type_=sa.BigInteger()),
        updated_at=sa.bindparam("now", type_=relay_positions.c.updated_at.type),
    )
)


#: (dialect, driver) pairs that have a driver path (``sql_driver``; its SQL is ``sql_compiled``).
_DRIVER_PATHS = {("sqlite", "pysqlite"), ("postgresql", "psycopg")}


class EngineConnections:
    """The driver path's connections from the engine's pool, so its ``connect`` hook has set the
    SQLite pragmas and ``engine.dispose()`` closes them; one the driver reports broken is
    invalidated; driver errors come out as SQLAlchemy's."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def connection(self) -> Iterator[Any]:
        proxy = self.engine.raw_connection()
        dialect = self.engine.dialect
        postgres = dialect.name == "postgresql"
        try:
            connection = proxy.driver_connection
            if postgres:
                # Autocommit while checked out: a read is one round trip, BEGIN is the path's.
                assert connection is not None
                connection.autocommit = True
            yield connection
        except dialect.loaded_dbapi.Error as error:
            invalidated = dialect.is_disconnect(error, proxy.dbapi_connection, None)
            if invalidated:
                proxy.invalidate(error)
            raise sa.exc.DBAPIError.instance(
                None,
                None,
                error,
                dialect.loaded_dbapi.Error,
                connection_invalidated=invalidated,
                dialect=dialect,
            ) from error
        finally:
            if postgres:
                self._leave_autocommit(proxy)
            proxy.close()

    @staticmethod
    def _leave_autocommit(proxy: Any) -> None:
        from psycopg.pq import TransactionStatus

        connection = proxy.driver_connection
        if proxy.is_valid and connection is not None and not connection.closed:
            if connection.info.transaction_status == TransactionStatus.IDLE:
                # The SQLAlchemy path expects the pool's connections out of autocommit mode.
                connection.autocommit = False
            else:  # pragma: no cover - a failed rollback; do not hand the connection out again
                proxy.invalidate()

    def close(self) -> None:
        self.engine.dispose()


def append_lock(dialect: Dialect) -> sa.TextClause | None:
    """The statement an append runs first to serialise appends (see the module docstring)."""
    if dialect.name == "postgresql":
        table = dialect.identifier_preparer.format_table(events)
        return sa.text(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
    if dialect.name == "mssql":
        return mssql_applock("eventualshop.events")
    # SQLite: BEGIN IMMEDIATE has taken the database's single write lock already.
    return None


# --- the adapter ---------------------------------------------------------------------------------


class SqlEventStore:
    """``EventStore`` on a SQLAlchemy engine; create the engine with ``create_engine``."""

    def __init__(
        self,
        engine: Engine,
        *,
        owns_engine: bool = False,
        clock: Callable[[], datetime] = utc_now,
        writing: AbstractContextManager[Any] | None = None,
    ) -> None:
        self.engine = engine
        self._owns_engine = owns_engine
        self._clock = clock
        self._reader: Engine
        self._writer: Engine
        if engine.dialect.name == "sqlite":
            # One-statement reads need no BEGIN; writes take the write lock as they start.
            self._reader = engine.execution_options(**{SQLITE_BEGIN: None})
            self._writer = engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        else:
            # Every read is one statement: autocommit spares the BEGIN and ROLLBACK round trips.
            self._reader = engine.execution_options(isolation_level="AUTOCOMMIT")
            self._writer = engine
        self._append_lock = append_lock(engine.dialect)
        self._driver = (
            driver_path(engine.dialect.name, EngineConnections(engine))
            if (engine.dialect.name, engine.dialect.driver) in _DRIVER_PATHS
            else None
        )
        # SQLite: threads of this process queue here for the database's one write lock instead
        # of in SQLite's busy handler, which polls with sleeps of up to 100 ms (the p99 of
        # concurrent commands). Other processes still meet the busy handler. A store sharing
        # the database with this one in the process (``DriverEventStore``) hands its lock in.
        self._writing: AbstractContextManager[Any] = writing or (
            threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()
        )

    @classmethod
    def from_url(
        cls, url: str | URL, *, migrate: bool = False, **engine_options: Any
    ) -> SqlEventStore:
        """A store on its own engine; ``migrate=True`` first upgrades the schema to head."""
        engine = create_engine(url, **engine_options)
        if migrate:
            try:
                database.migrate(engine)
            except BaseException:
                engine.dispose()
                raise
        return cls(engine, owns_engine=True)

    def migrate(self) -> None:
        """Create or upgrade the event store's tables (idempotent, safe to run concurrently)."""
        database.migrate(self.engine)

    def close(self) -> None:
        """Release the connections, if this store created its engine."""
        if self._owns_engine:
            self.engine.dispose()

    # --- reads -----------------------------------------------------------------------------------

    def listened(self) -> bool:
        """Whether someone listens to the engine's statements (tracing, tests): those only see
        the statements that go through SQLAlchemy, so every statement then takes that path."""
        dispatch = self._writer.dispatch
        return bool(dispatch.before_cursor_execute or dispatch.after_cursor_execute)

    def _driver_path(self) -> DriverPath | None:
        """The driver path, unless someone listens to the engine's statements."""
        return None if self.listened() else self._driver

    def load(self, aggregate_id: UUID, aggregate_type: str | None = None) -> Stream:
        # The driver path runs the typed load only (the untyped one serves tools and tests).
        driver = self._driver_path()
        rows: Sequence[Sequence[Any]]
        if driver is not None and aggregate_type is not None:
            rows = driver.load(aggregate_id, aggregate_type)
        else:
            statement = LOAD if aggregate_type is not None else LOAD_ANY_TYPE
            values: dict[str, Any] = {"aggregate_id": aggregate_id}
            if aggregate_type is not None:
                values["aggregate_type"] = aggregate_type
            with self._reader.connect() as connection:
                rows = connection.execute(statement, values).all()
        return stream_of(aggregate_id, rows)

    def load_events(
        self, aggregate_id: UUID, after_version: int = 0, aggregate_type: str | None = None
    ) -> Sequence[StoredEvent]:
        statement = LOAD_EVENTS if aggregate_type is not None else LOAD_EVENTS_ANY_TYPE
        values: dict[str, Any] = {"aggregate_id": aggregate_id, "after": after_version}
        if aggregate_type is not None:
            values["aggregate_type"] = aggregate_type
        with self._reader.connect() as connection:
            rows = connection.execute(statement, values).all()
        return [stored_event(row) for row in rows]

    def read_all(self, after_position: int = 0, limit: int = 1000) -> Sequence[StoredEvent]:
        if limit <= 0:
            return []
        with self._reader.connect() as connection:
            rows = connection.execute(read_all_statement(limit), {"after": after_position}).all()
        return [stored_event(row) for row in rows]

    def last_position(self) -> int:
        with self._reader.connect() as connection:
            return int(connection.execute(LAST_POSITION).scalar_one())

    def aggregate_ids(self, aggregate_type: str) -> Iterator[UUID]:
        with self._reader.connect() as connection:
            ids = connection.execute(AGGREGATE_IDS, {"aggregate_type": aggregate_type}).scalars()
            return iter(list(ids))

    def stream_heads(self, aggregate_type: str) -> dict[UUID, int]:
        with self._reader.connect() as connection:
            rows = connection.execute(STREAM_HEADS, {"aggregate_type": aggregate_type})
            return {aggregate_id: version for aggregate_id, version in rows}

    def outcome(self, consumer: str, message_id: str) -> str | None:
        with self._reader.connect() as connection:
            outcome: str | None = connection.execute(
                OUTCOME, {"consumer": consumer, "message_id": message_id}
            ).scalar_one_or_none()
            return outcome

    def pending_outbox(self, limit: int = 100) -> Sequence[OutboxEntry]:
        if limit <= 0:
            return []
        with self._reader.connect() as connection:
            rows = connection.execute(pending_outbox_statement(limit)).all()
        return outbox_entries(rows)

    # --- writes ----------------------------------------------------------------------------------

    def append(self, batch: AppendBatch) -> Sequence[int]:
        check_command_ids(batch)
        if not (batch.events or batch.snapshots or batch.inbox or batch.scheduled):
            return []
        rows = append_rows(batch, self._clock())
        # A batch without events (a command that decided nothing) is rare: SQLAlchemy's path.
        driver = self._driver_path() if batch.events else None
        try:
            with self._writing:
                inserted = driver.append(rows) if driver is not None else self._append(rows)
        except IntegrityError as error:
            failed = self.append_failed(batch, error)
            if failed is error:
                raise
            raise failed from error
        # Matched by event id: a multi-row RETURNING promises no order.
        by_id = {event_id: position for position, event_id in inserted}
        return [by_id[event.event_id] for event in batch.events]

    def append_failed(self, batch: AppendBatch, error: IntegrityError) -> Exception:
        """What an append that broke a unique index raises: the domain's reading of it."""
        # Which unique index fails first is up to the database (PostgreSQL checks them in
        # creation order, so a redelivery whose version is taken too names the version): a
        # message whose outcome is stored is a duplicate whatever else the batch hit.
        if batch.inbox is not None and (
            violates(error, MESSAGE_PROCESSED)
            or self.outcome(batch.inbox.consumer, batch.inbox.message_id) is not None
        ):
            return DuplicateMessage(batch.inbox.consumer, batch.inbox.message_id)
        if batch.events and violates(error, VERSION_TAKEN):
            first = batch.events[0]
            return ConcurrencyConflict(first.aggregate_id, first.version)
        return error

    def _append(self, rows: AppendRows) -> Sequence[Sequence[Any]]:
        """``append`` through SQLAlchemy: MSSQL, and engines whose statements are listened to."""
        with self._writer.begin() as connection:
            if self._append_lock is not None:
                connection.execute(self._append_lock)
            if rows.inbox is not None:
                key = message_key(rows.inbox)
                if rows.events:
                    connection.execute(GUARD_INBOX, key)
                else:
                    # No event to carry the outcome: the inbox row, unless an accepted command
                    # with this id exists (the append lock keeps that true until the commit).
                    if connection.execute(OUTCOME, key).first() is not None:
                        raise DuplicateMessage(key["consumer"], key["message_id"])
                    connection.execute(INSERT_INBOX, rows.inbox)
            inserted: Sequence[Sequence[Any]] = []
            if rows.events:
                events = rows.events[0] if len(rows.events) == 1 else list(rows.events)
                inserted = connection.execute(INSERT_EVENTS, events).all()
            if rows.snapshots:
                connection.execute(INSERT_SNAPSHOTS, list(rows.snapshots))
            if rows.scheduled:
                connection.execute(INSERT_SCHEDULED, list(rows.scheduled))
        return inserted

    def record_outcome(self, record: InboxRecord) -> str:
        row = inbox_row(record, self._clock())
        try:
            # Under the append lock: no append of the same message id commits in between.
            with self._writing, self._writer.begin() as connection:
                if self._append_lock is not None:
                    connection.execute(self._append_lock)
                kept = connection.execute(OUTCOME, message_key(row)).scalar()
                if kept is not None:
                    return str(kept)
                connection.execute(INSERT_INBOX, row)
        except IntegrityError as error:
            if not violates(error, MESSAGE_PROCESSED):
                raise
            kept = self.outcome(record.consumer, record.message_id)
            if kept is None:  # pragma: no cover - inbox rows are never deleted
                raise
            return kept
        return record.outcome

    def mark_published_through(self, position: int) -> None:
        now = self._clock()
        with self._writing, self._writer.begin() as connection:
            moved = connection.execute(MARK_PUBLISHED, {"through": position, "now": now}).rowcount
        if moved:
            return
        # The migration creates the row; if someone emptied the table, create it again. Failing
        # that, the row exists: at or past ``position`` already, or another relay just made it
        # (then this mark is lost and the next pass publishes those events again: at least once).
        row = {"name": OUTBOX_RELAY, "position": position, "updated_at": now}
        try:
            with self._writer.begin() as connection:
                connection.execute(sa.insert(relay_positions), row)
        except IntegrityError:
            pass

    # --- durable timers --------------------------------------------------------------------------

    def due_messages(
        self, now: datetime, limit: int = 100, command_types: Collection[str] | None = None
    ) -> Sequence[ScheduledMessage]:
        if limit <= 0:
            return []
        with self._reader.connect() as connection:
            if command_types is None:
                rows = connection.execute(due_messages_statement(limit), {"now": now}).all()
            else:
                statement = due_messages_of_types_statement(limit)
                parameters = {"now": now, "command_types": sorted(command_types)}
                rows = connection.execute(statement, parameters).all()
        return [ScheduledMessage(*row) for row in rows]

    def forget_message(self, message_id: str) -> None:
        with self._writing, self._writer.begin() as connection:
            connection.execute(FORGET_MESSAGE, {"message_id": message_id})

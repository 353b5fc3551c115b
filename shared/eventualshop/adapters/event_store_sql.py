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
SQLite (sqlite3) and PostgreSQL (psycopg): see :mod:`eventualshop.adapters.sql_driver`; that is the
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

import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import URL, Dialect, Engine
from sqlalchemy.exc import IntegrityError

from eventualshop.adapters import database
from eventualshop.adapters.database import SQLITE_BEGIN, create_engine, migrate, mssql_applock
from eventualshop.adapters.schema import (
    OUTBOX_RELAY,
    events,
    processed_messages,
    relay_positions,
    snapshots,
)
from eventualshop.adapters.sql_driver import AppendRows, AppendStatements, DriverPath, driver_path
from eventualshop.kernel import cloudevents
from eventualshop.kernel.declaration import event_source
from eventualshop.kernel.errors import ConcurrencyConflict, DuplicateMessage
from eventualshop.kernel.eventstore import (
    AppendBatch,
    InboxRecord,
    OutboxEntry,
    SnapshotRecord,
    StoredEvent,
    Stream,
)
from eventualshop.kernel.messages import utc_now

__all__ = [
    "SqlEventStore",
    "create_engine",
    "migrate",
]


# --- statements, built once ----------------------------------------------------------------------

_aggregate_id = sa.bindparam("aggregate_id", type_=events.c.aggregate_id.type)

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

_latest_snapshot_version = (
    sa.select(snapshots.c.version)
    .where(snapshots.c.aggregate_id == _aggregate_id)
    .order_by(snapshots.c.version.desc())
    .limit(1)
    .scalar_subquery()
)

#: One round trip: the events after the latest snapshot (kind 1) and that snapshot (kind 0). Both
#: halves are index seeks (uq_events_aggregate_version, pk_snapshots), so the cost depends on the
#: events since the snapshot, not on the length of the history.
LOAD = sa.union_all(
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
    ).where(
        events.c.aggregate_id == _aggregate_id,
        events.c.version > sa.func.coalesce(_latest_snapshot_version, 0),
    ),
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
    ).where(
        snapshots.c.aggregate_id == _aggregate_id,
        snapshots.c.version == _latest_snapshot_version,
    ),
).order_by(sa.literal_column("kind"), sa.literal_column("version"))

LOAD_EVENTS = (
    sa.select(*_EVENT_COLUMNS)
    .where(events.c.aggregate_id == _aggregate_id, events.c.version > sa.bindparam("after"))
    .order_by(events.c.version)
)

READ_ALL = (
    sa.select(*_EVENT_COLUMNS)
    .where(events.c.position > sa.bindparam("after"))
    .order_by(events.c.position)
)

POSITION_OF = sa.select(events.c.position).where(
    events.c.event_id == sa.bindparam("event_id", type_=events.c.event_id.type)
)

LAST_POSITION = sa.select(sa.func.coalesce(sa.func.max(events.c.position), 0))

# One pass over the type's events after a position (the position index bounds it).
STREAM_HEADS = (
    sa.select(events.c.aggregate_id, sa.func.max(events.c.version))
    .where(events.c.aggregate_type == sa.bindparam("aggregate_type"))
    .where(events.c.position > sa.bindparam("after"))
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


def append_lock(dialect: Dialect) -> sa.TextClause | None:
    """The statement an append runs first to serialise appends (see the module docstring)."""
    if dialect.name == "postgresql":
        table = dialect.identifier_preparer.format_table(events)
        return sa.text(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
    if dialect.name == "mssql":
        return mssql_applock("eventualshop.events")
    # SQLite: BEGIN IMMEDIATE has taken the database's single write lock already.
    return None


# Which constraint an IntegrityError names: PostgreSQL and MSSQL quote the constraint's name,
# SQLite lists the columns ("UNIQUE constraint failed: events.aggregate_id, events.version").
_VERSION_TAKEN = (
    "uq_events_aggregate_version",
    "uq_events_event_id",
    "events.aggregate_id, events.version",
    "events.event_id",
)
_MESSAGE_PROCESSED = (
    "pk_processed_messages",
    "processed_messages.consumer, processed_messages.message_id",
    "uq_events_command",
    "events.command_consumer, events.command_id",
)


def _violates(error: IntegrityError, constraints: Sequence[str]) -> bool:
    message = str(error.orig)
    return any(name in message for name in constraints)


# --- the adapter ---------------------------------------------------------------------------------


class SqlEventStore:
    """``EventStore`` on a SQLAlchemy engine; create the engine with ``create_engine``."""

    def __init__(
        self,
        engine: Engine,
        *,
        owns_engine: bool = False,
        clock: Callable[[], datetime] = utc_now,
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
        self._driver = driver_path(engine, LOAD, _append_statements(self._append_lock))
        # SQLite: threads of this process queue here for the database's one write lock instead
        # of in SQLite's busy handler, which polls with sleeps of up to 100 ms (the p99 of
        # concurrent commands). Other processes still meet the busy handler.
        self._writing: AbstractContextManager[Any] = (
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

    def _driver_path(self) -> DriverPath | None:
        """The driver path, unless someone listens to the engine's statements (tracing, tests):
        those only see the statements that go through SQLAlchemy, so they get that path."""
        dispatch = self._writer.dispatch
        if dispatch.before_cursor_execute or dispatch.after_cursor_execute:
            return None
        return self._driver

    def load(self, aggregate_id: UUID) -> Stream:
        driver = self._driver_path()
        rows: Sequence[Sequence[Any]]
        if driver is not None:
            rows = driver.load(aggregate_id)
        else:
            with self._reader.connect() as connection:
                rows = connection.execute(LOAD, {"aggregate_id": aggregate_id}).all()
        snapshot: SnapshotRecord | None = None
        loaded: list[StoredEvent] = []
        for (
            kind,
            version,
            payload,
            aggregate_type,
            event_id,
            event_type,
            schema_version,
            occurred_at,
            correlation_id,
            causation_id,
            traceparent,
            position,
        ) in rows:
            if kind == 0:
                snapshot = SnapshotRecord(aggregate_id, aggregate_type, version, payload)
                continue
            loaded.append(
                StoredEvent(
                    event_id=event_id,
                    aggregate_id=aggregate_id,
                    aggregate_type=aggregate_type,
                    version=version,
                    event_type=event_type,
                    schema_version=schema_version,
                    payload=payload,
                    timestamp=occurred_at,
                    correlation_id=correlation_id,
                    causation_id=causation_id,
                    traceparent=traceparent,
                    position=position,
                )
            )
        return Stream(snapshot, loaded)

    def load_events(self, aggregate_id: UUID, after_version: int = 0) -> Sequence[StoredEvent]:
        with self._reader.connect() as connection:
            rows = connection.execute(
                LOAD_EVENTS, {"aggregate_id": aggregate_id, "after": after_version}
            ).all()
        return [_stored_event(row) for row in rows]

    def read_all(self, after_position: int = 0, limit: int = 1000) -> Sequence[StoredEvent]:
        if limit <= 0:
            return []
        with self._reader.connect() as connection:
            rows = connection.execute(read_all_statement(limit), {"after": after_position}).all()
        return [_stored_event(row) for row in rows]

    def last_position(self) -> int:
        with self._reader.connect() as connection:
            return int(connection.execute(LAST_POSITION).scalar_one())

    def position_of(self, event_id: UUID) -> int | None:
        with self._reader.connect() as connection:
            found = connection.execute(POSITION_OF, {"event_id": event_id}).scalar()
        return None if found is None else int(found)

    def aggregate_ids(self, aggregate_type: str) -> Iterator[UUID]:
        with self._reader.connect() as connection:
            ids = connection.execute(AGGREGATE_IDS, {"aggregate_type": aggregate_type}).scalars()
            return iter(list(ids))

    def stream_heads(self, aggregate_type: str, after_position: int = 0) -> dict[UUID, int]:
        with self._reader.connect() as connection:
            rows = connection.execute(
                STREAM_HEADS, {"aggregate_type": aggregate_type, "after": after_position}
            )
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
        entries: list[OutboxEntry] = []
        for row in rows:
            stored = _stored_event(row[:-1])
            entries.append(
                OutboxEntry(
                    event_id=stored.event_id,
                    event_type=stored.event_type,
                    payload=cloudevents.structured(row[-1], stored),
                    id=stored.position,
                )
            )
        return entries

    # --- writes ----------------------------------------------------------------------------------

    def append(self, batch: AppendBatch) -> Sequence[int]:
        if not (batch.events or batch.snapshots or batch.inbox):
            return []
        rows = _append_rows(batch, self._clock())
        # A batch without events (a command that decided nothing) is rare: SQLAlchemy's path.
        driver = self._driver_path() if batch.events else None
        try:
            with self._writing:
                inserted = driver.append(rows) if driver is not None else self._append(rows)
        except IntegrityError as error:
            # Which unique index fails first is up to the database (PostgreSQL checks them in
            # creation order, so a redelivery whose version is taken too names the version): a
            # message whose outcome is stored is a duplicate whatever else the batch hit.
            if batch.inbox is not None and (
                _violates(error, _MESSAGE_PROCESSED)
                or self.outcome(batch.inbox.consumer, batch.inbox.message_id) is not None
            ):
                raise DuplicateMessage(batch.inbox.consumer, batch.inbox.message_id) from error
            if batch.events and _violates(error, _VERSION_TAKEN):
                first = batch.events[0]
                raise ConcurrencyConflict(first.aggregate_id, first.version) from error
            raise
        # Matched by event id: a multi-row RETURNING promises no order.
        by_id = {event_id: position for position, event_id in inserted}
        return [by_id[event.event_id] for event in batch.events]

    def _append(self, rows: AppendRows) -> Sequence[Sequence[Any]]:
        """``append`` through SQLAlchemy: MSSQL, and engines whose statements are listened to."""
        with self._writer.begin() as connection:
            if self._append_lock is not None:
                connection.execute(self._append_lock)
            if rows.inbox is not None:
                key = _message_key(rows.inbox)
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
        return inserted

    def record_outcome(self, record: InboxRecord) -> str:
        row = _inbox_row(record, self._clock())
        try:
            # Under the append lock: no append of the same message id commits in between.
            with self._writing, self._writer.begin() as connection:
                if self._append_lock is not None:
                    connection.execute(self._append_lock)
                kept = connection.execute(OUTCOME, _message_key(row)).scalar()
                if kept is not None:
                    return str(kept)
                connection.execute(INSERT_INBOX, row)
        except IntegrityError as error:
            if not _violates(error, _MESSAGE_PROCESSED):
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


def _stored_event(row: Sequence[Any]) -> StoredEvent:
    (
        event_id,
        aggregate_id,
        aggregate_type,
        version,
        event_type,
        schema_version,
        payload,
        occurred_at,
        correlation_id,
        causation_id,
        traceparent,
        position,
    ) = row
    return StoredEvent(
        event_id=event_id,
        aggregate_id=aggregate_id,
        aggregate_type=aggregate_type,
        version=version,
        event_type=event_type,
        schema_version=schema_version,
        payload=payload,
        timestamp=occurred_at,
        correlation_id=correlation_id,
        causation_id=causation_id,
        traceparent=traceparent,
        position=position,
    )


def _event_row(event: StoredEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "aggregate_id": event.aggregate_id,
        "aggregate_type": event.aggregate_type,
        "version": event.version,
        "event_type": event.event_type,
        "schema_version": event.schema_version,
        "payload": event.payload,
        "occurred_at": event.timestamp,
        "correlation_id": event.correlation_id,
        "causation_id": event.causation_id,
        "traceparent": event.traceparent,
    }


def _append_rows(batch: AppendBatch, now: datetime) -> AppendRows:
    inbox = _inbox_row(batch.inbox, now) if batch.inbox is not None else None
    if batch.context is not None:
        contexts: dict[UUID, str] = {e.event_id: batch.context for e in batch.events}
    else:
        contexts = {entry.event_id: _context_of(entry) for entry in batch.outbox}
    rows: list[dict[str, Any]] = []
    for event in batch.events:
        row = _event_row(event)
        row["context"] = contexts.get(event.event_id)
        row["command_consumer"] = row["command_id"] = row["outcome"] = None
        rows.append(row)
    if inbox is not None and rows:
        rows[0]["command_consumer"] = inbox["consumer"]
        rows[0]["command_id"] = inbox["message_id"]
        rows[0]["outcome"] = inbox["outcome"]
    return AppendRows(
        inbox=inbox,
        events=rows,
        snapshots=[
            {
                "aggregate_id": s.aggregate_id,
                "version": s.version,
                "aggregate_type": s.aggregate_type,
                "state": s.state,
                "created_at": now,
            }
            for s in batch.snapshots
        ],
    )


def _context_of(entry: OutboxEntry) -> str:
    """The context an outbox entry's CloudEvent ``source`` names (the older batch form)."""
    try:
        source = json.loads(entry.payload)["source"]
    except (ValueError, KeyError, TypeError):
        source = None
    prefix = event_source("")
    if not isinstance(source, str) or not source.startswith(prefix) or source == prefix:
        raise ValueError(
            f"outbox entry of event {entry.event_id} is not a CloudEvent of an EventualShop "
            "context; append with AppendBatch.context instead"
        )
    return source.removeprefix(prefix)


def _message_key(inbox: Mapping[str, Any]) -> dict[str, Any]:
    return {"consumer": inbox["consumer"], "message_id": inbox["message_id"]}


def _append_statements(lock: sa.TextClause | None) -> AppendStatements:
    return AppendStatements(
        guard_inbox=GUARD_INBOX,
        insert_events=INSERT_EVENTS,
        insert_snapshots=INSERT_SNAPSHOTS,
        event_columns=(
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
        snapshot_columns=("aggregate_id", "version", "aggregate_type", "state", "created_at"),
        lock=lock,
    )


def _inbox_row(record: InboxRecord, now: datetime) -> dict[str, Any]:
    return {
        "consumer": record.consumer,
        "message_id": record.message_id,
        "outcome": record.outcome,
        "processed_at": now,
    }

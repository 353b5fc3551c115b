"""The event store's tables (SQLAlchemy Core), one schema for SQLite, PostgreSQL and MSSQL.

The Alembic migrations in :mod:`eventualshop.adapters.migrations` create exactly these tables; a
test compares the two. Every constraint and index has an explicit name, because the adapter tells
a concurrency conflict from a duplicate message by the constraint that failed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mssql
from sqlalchemy.engine import Dialect

# On MSSQL a plain Text/UnicodeText compiles to the deprecated NTEXT unless the dialect has seen a
# server; NVARCHAR(max) is what we want everywhere. JSON text may hold any character: Unicode.
LongText = sa.UnicodeText().with_variant(mssql.NVARCHAR(None), "mssql")

# SQLite only gives an auto-incrementing key to an INTEGER PRIMARY KEY (a rowid alias).
Identity64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# UUID (PostgreSQL), UNIQUEIDENTIFIER (MSSQL), CHAR(32) hex (SQLite); Python sees uuid.UUID.
Uuid = sa.Uuid(as_uuid=True)


class UtcDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware timestamp that always comes back as an aware UTC ``datetime``.

    SQLite stores no offset at all and PostgreSQL answers in the session's time zone, so values
    are normalised to UTC on the way in (a naive value is taken to be UTC) and on the way out.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self,
        value: datetime | None,
        dialect: Dialect,  # noqa: ARG002
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(
        self,
        value: Any,
        dialect: Dialect,  # noqa: ARG002
    ) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        if value.utcoffset():
            return value.astimezone(UTC)
        return value if value.tzinfo is UTC else value.replace(tzinfo=UTC)


metadata = sa.MetaData()

events = sa.Table(
    "events",
    metadata,
    sa.Column("position", Identity64, sa.Identity(), nullable=False),
    sa.Column("event_id", Uuid, nullable=False),
    sa.Column("aggregate_id", Uuid, nullable=False),
    sa.Column("aggregate_type", sa.String(100), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("event_type", sa.String(200), nullable=False),
    sa.Column("schema_version", sa.Integer(), nullable=False),
    sa.Column("payload", LongText, nullable=False),
    sa.Column("occurred_at", UtcDateTime(), nullable=False),
    sa.Column("correlation_id", sa.String(255), nullable=False),
    sa.Column("causation_id", sa.String(255), nullable=True),
    sa.Column("traceparent", sa.String(255), nullable=True),
    # The bounded context whose CloudEvent the relay renders from this row (``source``, ``type``);
    # NULL for an event that is not published (an import, a test fixture).
    sa.Column("context", sa.String(100), nullable=True),
    # The inbox, folded into the first event of a command: the command's consumer and message id
    # (unique, see uq_events_command) and the outcome a redelivery gets back. NULL on the other
    # events of a multi-event command and on events appended without a command.
    sa.Column("command_consumer", sa.String(150), nullable=True),
    sa.Column("command_id", sa.String(200), nullable=True),
    sa.Column("outcome", LongText, nullable=True),
    sa.PrimaryKeyConstraint("position", name="pk_events"),
    sa.UniqueConstraint("event_id", name="uq_events_event_id"),
    # The optimistic-concurrency check, and the index every load goes through. A stream is an
    # aggregate type's and id's: two contexts sharing a database may use the same id (Account's
    # id is its user's id) without their streams meeting.
    sa.UniqueConstraint(
        "aggregate_id", "aggregate_type", "version", name="uq_events_stream_version"
    ),
    # AUTOINCREMENT: a rowid is never reused, so a position is never handed out twice.
    sqlite_autoincrement=True,
)

snapshots = sa.Table(
    "snapshots",
    metadata,
    sa.Column("aggregate_id", Uuid, nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("aggregate_type", sa.String(100), nullable=False),
    sa.Column("state", LongText, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("aggregate_id", "aggregate_type", "version", name="pk_snapshots"),
)

# Only the first event of a command carries its id, so the index holds one entry per command, not
# one per event (a plain unique index would index every NULL on PostgreSQL and MSSQL and, on
# MSSQL, allow only one of them).
_has_command = events.c.command_id.isnot(None)
sa.Index(
    "uq_events_command",
    events.c.command_consumer,
    events.c.command_id,
    unique=True,
    postgresql_where=_has_command,
    sqlite_where=_has_command,
    mssql_where=_has_command,
)

#: The outbox is a position over ``events``: the relay publishes the events after its position,
#: in position order, and moves the position past them once the publisher confirmed them. Safe as
#: a high-water mark because appends are serialised per database, so positions commit in order
#: (a reader that sees position n sees every lower one); see ``event_store_sql``.
relay_positions = sa.Table(
    "relay_positions",
    metadata,
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("position", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("name", name="pk_relay_positions"),
)

#: The one relay position every store has (created by the migration).
OUTBOX_RELAY = "outbox"

# Outcomes of commands that wrote no event (rejections, no-op commands); an accepted command's
# outcome lives on its first event.
processed_messages = sa.Table(
    "processed_messages",
    metadata,
    sa.Column("consumer", sa.String(150), nullable=False),
    sa.Column("message_id", sa.String(200), nullable=False),
    sa.Column("outcome", LongText, nullable=False),
    sa.Column("processed_at", UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("consumer", "message_id", name="pk_processed_messages"),
)

#: Durable timers (``kernel.timers``): commands to send when due, inserted in the transaction of
#: the events that asked for them and deleted once their command's outcome is stored.
scheduled_messages = sa.Table(
    "scheduled_messages",
    metadata,
    sa.Column("message_id", sa.String(200), nullable=False),
    sa.Column("due_at", UtcDateTime(), nullable=False),
    sa.Column("command_type", sa.String(200), nullable=False),
    sa.Column("payload", LongText, nullable=False),
    sa.Column("correlation_id", sa.String(255), nullable=False),
    sa.Column("causation_id", sa.String(255), nullable=True),
    sa.Column("traceparent", sa.String(255), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("message_id", name="pk_scheduled_messages"),
    # The sweep's one query: what is due, earliest first.
    sa.Index("ix_scheduled_messages_due_at", "due_at"),
)

TABLES = (events, snapshots, relay_positions, processed_messages, scheduled_messages)

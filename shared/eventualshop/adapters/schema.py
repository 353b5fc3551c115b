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
    sa.PrimaryKeyConstraint("position", name="pk_events"),
    sa.UniqueConstraint("event_id", name="uq_events_event_id"),
    # The optimistic-concurrency check, and the index every load goes through.
    sa.UniqueConstraint("aggregate_id", "version", name="uq_events_aggregate_version"),
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
    sa.PrimaryKeyConstraint("aggregate_id", "version", name="pk_snapshots"),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", Identity64, sa.Identity(), nullable=False),
    sa.Column("event_id", Uuid, nullable=False),
    sa.Column("event_type", sa.String(200), nullable=False),
    sa.Column("payload", LongText, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("published_at", UtcDateTime(), nullable=True),
    sa.PrimaryKeyConstraint("id", name="pk_outbox"),
    sa.UniqueConstraint("event_id", name="uq_outbox_event_id"),
    sqlite_autoincrement=True,
)

# Only pending rows are indexed, so the relay's "oldest pending first" query stays a short index
# scan however many rows were published before.
sa.Index(
    "ix_outbox_pending",
    outbox.c.id,
    postgresql_where=outbox.c.published_at.is_(None),
    sqlite_where=outbox.c.published_at.is_(None),
    mssql_where=outbox.c.published_at.is_(None),
)

processed_messages = sa.Table(
    "processed_messages",
    metadata,
    sa.Column("consumer", sa.String(150), nullable=False),
    sa.Column("message_id", sa.String(200), nullable=False),
    sa.Column("outcome", LongText, nullable=False),
    sa.Column("processed_at", UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("consumer", "message_id", name="pk_processed_messages"),
)

TABLES = (events, snapshots, outbox, processed_messages)

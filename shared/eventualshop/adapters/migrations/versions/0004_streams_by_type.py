"""A stream is an aggregate type's and id's: the version check and snapshots include the type.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

Contexts that share a database may give aggregates of different types the same id (Account's id
is its user's id, by design). With (aggregate id, version) unique, Account's first event collided
with the user's and its stream read the user's events. ``uq_events_aggregate_version`` becomes
``uq_events_stream_version`` (aggregate id, aggregate type, version) and ``pk_snapshots`` gains
the type. Existing rows satisfy both (they were unique on fewer columns).

SQLite cannot drop a constraint of a table's definition: there the two tables are created anew
under the new definitions and the rows copied (positions kept, so the relay's position and every
read model's cursor stay valid, and AUTOINCREMENT keeps handing out higher positions).
Written out in full rather than importing ``eventualshop.adapters.schema``, like 0001-0003.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mssql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

LONG_TEXT = sa.UnicodeText().with_variant(mssql.NVARCHAR(None), "mssql")
IDENTITY_64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UUID = sa.Uuid(as_uuid=True)
TIMESTAMP = sa.DateTime(timezone=True)

EVENT_COLUMNS = (
    "position, event_id, aggregate_id, aggregate_type, version, event_type, schema_version, "
    "payload, occurred_at, correlation_id, causation_id, traceparent, context, "
    "command_consumer, command_id, outcome"
)
SNAPSHOT_COLUMNS = "aggregate_id, version, aggregate_type, state, created_at"


def _events_table(name: str, stream_key: tuple[str, ...], constraint: str) -> None:
    op.create_table(
        name,
        sa.Column("position", IDENTITY_64, sa.Identity(), nullable=False),
        sa.Column("event_id", UUID, nullable=False),
        sa.Column("aggregate_id", UUID, nullable=False),
        sa.Column("aggregate_type", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("payload", LONG_TEXT, nullable=False),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.Column("correlation_id", sa.String(255), nullable=False),
        sa.Column("causation_id", sa.String(255), nullable=True),
        sa.Column("traceparent", sa.String(255), nullable=True),
        sa.Column("context", sa.String(100), nullable=True),
        sa.Column("command_consumer", sa.String(150), nullable=True),
        sa.Column("command_id", sa.String(200), nullable=True),
        sa.Column("outcome", LONG_TEXT, nullable=True),
        sa.PrimaryKeyConstraint("position", name="pk_events"),
        sa.UniqueConstraint("event_id", name="uq_events_event_id"),
        sa.UniqueConstraint(*stream_key, name=constraint),
        sqlite_autoincrement=True,
    )


def _snapshots_table(name: str, key: tuple[str, ...]) -> None:
    op.create_table(
        name,
        sa.Column("aggregate_id", UUID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("aggregate_type", sa.String(100), nullable=False),
        sa.Column("state", LONG_TEXT, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint(*key, name="pk_snapshots"),
    )


def _command_index() -> None:
    has_command = sa.text("command_id IS NOT NULL")
    op.create_index(
        "uq_events_command",
        "events",
        ["command_consumer", "command_id"],
        unique=True,
        postgresql_where=has_command,
        sqlite_where=has_command,
        mssql_where=has_command,
    )


def _sqlite_rebuild(
    stream_key: tuple[str, ...], constraint: str, snapshot_key: tuple[str, ...]
) -> None:
    _events_table("events_rebuilt", stream_key, constraint)
    op.execute(f"INSERT INTO events_rebuilt ({EVENT_COLUMNS}) SELECT {EVENT_COLUMNS} FROM events")
    op.drop_index("uq_events_command", table_name="events")
    op.drop_table("events")
    op.rename_table("events_rebuilt", "events")
    _command_index()
    _snapshots_table("snapshots_rebuilt", snapshot_key)
    copied = f"SELECT {SNAPSHOT_COLUMNS} FROM snapshots"
    op.execute(f"INSERT INTO snapshots_rebuilt ({SNAPSHOT_COLUMNS}) {copied}")
    op.drop_table("snapshots")
    op.rename_table("snapshots_rebuilt", "snapshots")


def _change_keys(
    old: str, new: str, stream_key: tuple[str, ...], snapshot_key: tuple[str, ...]
) -> None:
    if op.get_context().dialect.name == "sqlite":
        _sqlite_rebuild(stream_key, new, snapshot_key)
        return
    op.drop_constraint(old, "events", type_="unique")
    op.create_unique_constraint(new, "events", list(stream_key))
    op.drop_constraint("pk_snapshots", "snapshots", type_="primary")
    op.create_primary_key("pk_snapshots", "snapshots", list(snapshot_key))


def upgrade() -> None:
    _change_keys(
        "uq_events_aggregate_version",
        "uq_events_stream_version",
        ("aggregate_id", "aggregate_type", "version"),
        ("aggregate_id", "aggregate_type", "version"),
    )


def downgrade() -> None:
    # Only possible while no id has streams of two types (the old key refuses them).
    _change_keys(
        "uq_events_stream_version",
        "uq_events_aggregate_version",
        ("aggregate_id", "version"),
        ("aggregate_id", "version"),
    )

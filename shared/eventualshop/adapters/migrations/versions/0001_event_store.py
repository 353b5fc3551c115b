"""Event store: events, snapshots, outbox, processed_messages (inbox).

Revision ID: 0001
Revises:
Create Date: 2024-11-26

Written out in full rather than importing ``eventualshop.adapters.schema``: a migration is a fixed
point in history, and must not change when the schema module does.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mssql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# NVARCHAR(max) on MSSQL, never the deprecated NTEXT.
LONG_TEXT = sa.UnicodeText().with_variant(mssql.NVARCHAR(None), "mssql")
# SQLite only auto-increments an INTEGER PRIMARY KEY.
IDENTITY_64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UUID = sa.Uuid(as_uuid=True)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "events",
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
        sa.PrimaryKeyConstraint("position", name="pk_events"),
        sa.UniqueConstraint("event_id", name="uq_events_event_id"),
        sa.UniqueConstraint("aggregate_id", "version", name="uq_events_aggregate_version"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "snapshots",
        sa.Column("aggregate_id", UUID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("aggregate_type", sa.String(100), nullable=False),
        sa.Column("state", LONG_TEXT, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("aggregate_id", "version", name="pk_snapshots"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", IDENTITY_64, sa.Identity(), nullable=False),
        sa.Column("event_id", UUID, nullable=False),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("payload", LONG_TEXT, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("published_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("event_id", name="uq_outbox_event_id"),
        sqlite_autoincrement=True,
    )
    pending = sa.text("published_at IS NULL")
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["id"],
        postgresql_where=pending,
        sqlite_where=pending,
        mssql_where=pending,
    )
    op.create_table(
        "processed_messages",
        sa.Column("consumer", sa.String(150), nullable=False),
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("outcome", LONG_TEXT, nullable=False),
        sa.Column("processed_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("consumer", "message_id", name="pk_processed_messages"),
    )


def downgrade() -> None:
    op.drop_table("processed_messages")
    op.drop_index("ix_outbox_pending", table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("snapshots")
    op.drop_table("events")

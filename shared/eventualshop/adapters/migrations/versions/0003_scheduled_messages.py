"""Durable timers: the ``scheduled_messages`` table.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

A scheduled message is a command an aggregate asked to be sent to itself later (a reservation's
expiry, an unconfirmed email's), inserted in the transaction of the events that asked for it and
deleted once its command's outcome is stored (``eventualshop.kernel.timers``). Written out in full
rather than importing ``eventualshop.adapters.schema``, like 0001 and 0002.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mssql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

LONG_TEXT = sa.UnicodeText().with_variant(mssql.NVARCHAR(None), "mssql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "scheduled_messages",
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("due_at", TIMESTAMP, nullable=False),
        sa.Column("command_type", sa.String(200), nullable=False),
        sa.Column("payload", LONG_TEXT, nullable=False),
        sa.Column("correlation_id", sa.String(255), nullable=False),
        sa.Column("causation_id", sa.String(255), nullable=True),
        sa.Column("traceparent", sa.String(255), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("message_id", name="pk_scheduled_messages"),
    )
    op.create_index("ix_scheduled_messages_due_at", "scheduled_messages", ["due_at"])


def downgrade() -> None:
    op.drop_index("ix_scheduled_messages_due_at", table_name="scheduled_messages")
    op.drop_table("scheduled_messages")

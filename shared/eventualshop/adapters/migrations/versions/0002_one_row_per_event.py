"""One row per event: the inbox folded into the event row, the outbox a relay position.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-20

- ``events`` gains ``context`` (the relay renders each CloudEvent from the event row) and the
  command columns ``command_consumer``, ``command_id``, ``outcome`` (set on a command's first
  event; unique per consumer and id, a partial index, so redelivered commands are refused).
- ``relay_positions`` replaces ``outbox``: the relay publishes the events after its position.
  The position starts just before the oldest event whose outbox row was still pending, and the
  events whose rows were pending get their ``context``: exactly those events are published after
  the upgrade (a pending row behind a published one may be published once more, as before: at
  least once). Events that had no pending row keep a NULL context and are never published again.
- ``processed_messages`` stays, for the outcomes of commands that wrote no event (rejections).

Pure SQL (the context is read from the pending rows' CloudEvent ``source`` with the database's
own JSON function), so the offline script (``migration_script``) does the same as ``migrate``.
Written out in full rather than importing ``eventualshop.adapters.schema``, like 0001.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mssql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

LONG_TEXT = sa.UnicodeText().with_variant(mssql.NVARCHAR(None), "mssql")
IDENTITY_64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UUID = sa.Uuid(as_uuid=True)
TIMESTAMP = sa.DateTime(timezone=True)

# "/eventualshop/<context>": the context starts at the 15th character of the source.
_SOURCE_PREFIX = len("/eventualshop/")


def _context_of_payload(dialect: str) -> str:
    """SQL for the context named by ``outbox.payload``'s CloudEvent ``source``."""
    start = _SOURCE_PREFIX + 1
    if dialect == "postgresql":
        return f"substr(CAST(o.payload AS json) ->> 'source', {start})"
    if dialect == "mssql":
        return f"SUBSTRING(JSON_VALUE(o.payload, '$.source'), {start}, 100)"
    return f"substr(json_extract(o.payload, '$.source'), {start})"


def upgrade() -> None:
    dialect = op.get_context().dialect.name
    op.add_column("events", sa.Column("context", sa.String(100), nullable=True))
    op.add_column("events", sa.Column("command_consumer", sa.String(150), nullable=True))
    op.add_column("events", sa.Column("command_id", sa.String(200), nullable=True))
    op.add_column("events", sa.Column("outcome", LONG_TEXT, nullable=True))
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
    op.create_table(
        "relay_positions",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_relay_positions"),
    )
    pending = "SELECT o.event_id FROM outbox o WHERE o.published_at IS NULL"
    op.execute(
        "UPDATE events SET context = ("
        f"SELECT {_context_of_payload(dialect)} FROM outbox o "
        "WHERE o.event_id = events.event_id AND o.published_at IS NULL"
        f") WHERE event_id IN ({pending})"
    )
    op.execute(
        "INSERT INTO relay_positions (name, position, updated_at) SELECT 'outbox', COALESCE("
        "(SELECT MIN(e.position) - 1 FROM events e JOIN outbox o ON o.event_id = e.event_id "
        "WHERE o.published_at IS NULL), "
        "(SELECT MAX(e.position) FROM events e), 0), CURRENT_TIMESTAMP"
    )
    op.drop_index("ix_outbox_pending", table_name="outbox")
    op.drop_table("outbox")


def downgrade() -> None:
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
    # Accepted commands' outcomes go back to the inbox table. Events not yet published are not
    # turned back into outbox rows (their CloudEvents were rendered at publish time): drain the
    # relay before downgrading.
    op.execute(
        "INSERT INTO processed_messages (consumer, message_id, outcome, processed_at) "
        "SELECT command_consumer, command_id, outcome, occurred_at FROM events "
        "WHERE command_id IS NOT NULL"
    )
    op.drop_table("relay_positions")
    op.drop_index("uq_events_command", table_name="events")
    for column in ("outcome", "command_id", "command_consumer", "context"):
        with op.batch_alter_table("events") as batch:
            batch.drop_column(column)

"""A command is accepted once by its first event's id: ``uq_events_command`` goes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28

From this revision a command's first event gets the id ``command_event_id(consumer, message id)``
(``eventualshop.kernel.eventstore``) and event ids are unique, so the partial unique index on
(command_consumer, command_id) enforced nothing more, and it cost every append a B-tree page
(about 24 µs of a 370 µs SQLite command in ``bench/eventstore.py``). The commands stored before
kept random ids on their first events: their outcomes are copied into ``processed_messages``
first, where every append's guard and the outcome look-up find them, so a redelivery of such a
command after the upgrade is still refused as a duplicate and answered with its stored outcome.
Pure SQL, offline too; written out rather than importing ``eventualshop.adapters.schema``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.execute(
        "INSERT INTO processed_messages (consumer, message_id, outcome, processed_at) "
        "SELECT command_consumer, command_id, outcome, occurred_at FROM events "
        "WHERE command_id IS NOT NULL AND outcome IS NOT NULL"
    )
    op.drop_index("uq_events_command", table_name="events")


def downgrade() -> None:
    # The copied outcomes stay in processed_messages: harmless to the older code, which reads
    # both tables, and not told apart from the rejections recorded there.
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

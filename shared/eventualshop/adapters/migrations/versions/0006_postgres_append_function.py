"""PostgreSQL: the append as one server-side function, ``eventualshop_append``.

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-28

(No 0005: that id was used by a migration withdrawn before it landed, which dropped the command
index, and by a draft of this one; a database that ran either is refused as unknown by
``eventualshop migrate`` and by a start that migrates, rather than taken as current.)

The driver path sent an append as one query of several statements (``BEGIN; LOCK TABLE ...;
INSERT ...; COMMIT``) with its values quoted into the text: one round trip, but the server parsed
and planned every statement of every append, and the client quoted every value in Python. The
function runs the same statements in the same order under the same lock; called with a bound
parameter, psycopg prepares the call after a few runs on a connection and PL/pgSQL keeps its
statements' plans, so an append costs one round trip of one prepared call (measured: about a
tenth of a command's time, see the README's event-store figures).

Batches of any size go through it, as one JSON document (below); the events are inserted in its
order, so their positions follow it. The guard and the inserts are the SQLAlchemy path's
(``event_store_sql``); a test stores one batch through both paths and compares every value, and
one holds these column lists to the tables'.

Only PostgreSQL has it; SQLite and MSSQL are untouched. A store whose database lacks the function
(not yet migrated, or downgraded) sends the statements itself (``sql_driver``); both take the
same lock, so instances that were running before the migration keep appending beside new ones.
An instance of the previous release that starts after the migration and migrates at start (the
default) refuses the database (its Alembic does not know this revision): roll forward. One started
with ``EVENTUALSHOP_AUTO_MIGRATE=false`` takes the revision for a later release's and runs on it.
A later change to these tables must replace the function in its migration.
"""

from __future__ import annotations

from alembic import op

revision: str = "0006"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

_EVENT_COLUMNS = (
    "event_id, aggregate_id, aggregate_type, version, event_type, schema_version, payload, "
    "occurred_at, correlation_id, causation_id, traceparent, context, command_consumer, "
    "command_id, outcome"
)
_SNAPSHOT_COLUMNS = "aggregate_id, version, aggregate_type, state, created_at"
_SCHEDULED_COLUMNS = (
    "message_id, due_at, command_type, payload, correlation_id, causation_id, traceparent, "
    "created_at"
)

_EVENT_TYPES = (
    "event_id uuid, aggregate_id uuid, aggregate_type varchar, version integer, "
    "event_type varchar, schema_version integer, payload text, occurred_at timestamptz, "
    "correlation_id varchar, causation_id varchar, traceparent varchar, context varchar, "
    "command_consumer varchar, command_id varchar, outcome text"
)
_SNAPSHOT_TYPES = (
    "aggregate_id uuid, version integer, aggregate_type varchar, state text, created_at timestamptz"
)
_SCHEDULED_TYPES = (
    "message_id varchar, due_at timestamptz, command_type varchar, payload text, "
    "correlation_id varchar, causation_id varchar, traceparent varchar, created_at timestamptz"
)

# The batch is one JSON document, {"consumer", "message_id", "events": [...], "snapshots": [...],
# "scheduled": [...]}, each row an object keyed by column: one parameter, which the client
# renders with the json module's C encoder (an array parameter per column cost psycopg more
# than the text query it replaces). JSON strings carry any text exactly; the server parses the
# timestamps and ids into their columns' types.
CREATE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION eventualshop_append(batch json)
RETURNS TABLE (new_position bigint, new_event_id uuid)
LANGUAGE plpgsql AS $$
BEGIN
    -- Appends are serialised, so positions commit in order (the relay's position relies on it).
    LOCK TABLE events IN EXCLUSIVE MODE;
    IF batch->>'consumer' IS NOT NULL THEN
        -- Fails on pk_processed_messages when the message has a stored rejection.
        INSERT INTO processed_messages (consumer, message_id, outcome, processed_at)
        SELECT p.consumer, p.message_id, p.outcome, p.processed_at FROM processed_messages p
        WHERE p.consumer = batch->>'consumer' AND p.message_id = batch->>'message_id';
    END IF;
    -- In the batch's order, so positions follow it.
    RETURN QUERY
    INSERT INTO events ({_EVENT_COLUMNS})
    SELECT {_EVENT_COLUMNS}
    FROM ROWS FROM (json_to_recordset(batch->'events') AS ({_EVENT_TYPES}))
        WITH ORDINALITY AS e({_EVENT_COLUMNS}, ordinal)
    ORDER BY ordinal
    RETURNING events.position, events.event_id;
    INSERT INTO snapshots ({_SNAPSHOT_COLUMNS})
    SELECT {_SNAPSHOT_COLUMNS}
    FROM json_to_recordset(batch->'snapshots') AS s({_SNAPSHOT_TYPES});
    INSERT INTO scheduled_messages ({_SCHEDULED_COLUMNS})
    SELECT {_SCHEDULED_COLUMNS}
    FROM json_to_recordset(batch->'scheduled') AS m({_SCHEDULED_TYPES});
END
$$
"""

DROP_FUNCTION = "DROP FUNCTION IF EXISTS eventualshop_append(json)"


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(CREATE_FUNCTION)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(DROP_FUNCTION)

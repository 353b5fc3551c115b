"""MSSQL cannot run here, so its DDL and every statement the store runs are compiled with the
``mssql+pyodbc`` dialect and checked as text: NVARCHAR(max) (never NTEXT), IDENTITY keys, TOP n.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mssql
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import CreateIndex, CreateTable

from eventualshop.adapters import event_store_sql as sql
from eventualshop.adapters.database import migration_script
from eventualshop.adapters.schema import (
    TABLES,
    events,
    processed_messages,
    scheduled_messages,
    snapshots,
)

DIALECT: Dialect = mssql.pyodbc.dialect()  # type: ignore[no-untyped-call]

LONG_TEXT_COLUMNS = [
    (events, "payload"),
    (snapshots, "state"),
    (processed_messages, "outcome"),
    (scheduled_messages, "payload"),
]


def ddl(table: sa.Table) -> str:
    return str(CreateTable(table).compile(dialect=DIALECT))


def compiled(statement: sa.ClauseElement, column_keys: list[str] | None = None) -> str:
    """The SQL as the driver receives it (TOP and IN lists rendered, values still bound)."""
    return str(
        statement.compile(
            dialect=DIALECT,
            column_keys=column_keys,
            compile_kwargs={"render_postcompile": True},
        )
    )


class TestTableDefinitions:
    @pytest.mark.parametrize(("table", "column"), LONG_TEXT_COLUMNS)
    def test_json_text_columns_are_nvarchar_max(self, table: sa.Table, column: str) -> None:
        assert re.search(rf"\b{column} NVARCHAR\(max\) NOT NULL", ddl(table))

    @pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
    def test_no_table_uses_the_deprecated_ntext_or_text_types(self, table: sa.Table) -> None:
        assert not re.search(r"\b(NTEXT|TEXT|IMAGE)\b", ddl(table))

    def test_positions_are_bigint_identity_primary_keys(self) -> None:
        text = ddl(events)
        assert re.search(r"\bposition BIGINT NOT NULL IDENTITY\b", text)
        assert "PRIMARY KEY (position)" in text

    def test_the_inbox_columns_of_an_event_are_nullable_and_the_outcome_nvarchar_max(self) -> None:
        text = ddl(events)
        assert "command_consumer VARCHAR(150) NULL" in text
        assert "command_id VARCHAR(200) NULL" in text
        assert "outcome NVARCHAR(max) NULL" in text
        assert "context VARCHAR(100) NULL" in text

    def test_uuids_are_uniqueidentifiers_and_timestamps_keep_their_offset(self) -> None:
        text = ddl(events)
        assert "event_id UNIQUEIDENTIFIER NOT NULL" in text
        assert "aggregate_id UNIQUEIDENTIFIER NOT NULL" in text
        assert "occurred_at DATETIMEOFFSET NOT NULL" in text

    def test_the_concurrency_check_and_the_inbox_key_are_named_constraints(self) -> None:
        assert (
            "CONSTRAINT uq_events_stream_version UNIQUE (aggregate_id, aggregate_type, version)"
            in ddl(events)
        )
        assert "CONSTRAINT uq_events_event_id UNIQUE (event_id)" in ddl(events)
        assert "CONSTRAINT pk_snapshots PRIMARY KEY (aggregate_id, aggregate_type, version)" in ddl(
            snapshots
        )
        assert "CONSTRAINT pk_processed_messages PRIMARY KEY (consumer, message_id)" in ddl(
            processed_messages
        )

    def test_the_command_index_is_a_filtered_unique_index(self) -> None:
        # Filtered: a plain UNIQUE index on MSSQL would allow a single NULL, one event in all.
        (index,) = events.indexes
        assert str(CreateIndex(index).compile(dialect=DIALECT)) == (
            "CREATE UNIQUE INDEX uq_events_command ON events (command_consumer, command_id) "
            "WHERE command_id IS NOT NULL"
        )

    def test_the_command_key_fits_the_1700_byte_limit_of_an_mssql_nonclustered_index(
        self,
    ) -> None:
        (index,) = events.indexes
        lengths = [c.type.length or 0 for c in index.columns if isinstance(c.type, sa.String)]
        assert len(lengths) == 2
        assert sum(lengths) <= 1700

    def test_the_inbox_key_fits_the_900_byte_limit_of_an_mssql_clustered_index(self) -> None:
        types = [column.type for column in processed_messages.primary_key.columns]
        # VARCHAR: one byte per character (NVARCHAR would double it).
        assert all(type(t) is sa.String and t.length for t in types)
        assert sum(t.length or 0 for t in types if isinstance(t, sa.String)) <= 900


class TestTheMigration:
    def test_the_offline_migration_script_creates_the_same_mssql_tables(self) -> None:
        script = migration_script("mssql://")

        # 0001's three and the old outbox's payload; 0002 adds the nullable outcome; 0003 the
        # scheduled messages' payload.
        assert script.count("NVARCHAR(max) NOT NULL") == len(LONG_TEXT_COLUMNS) + 1
        assert "ALTER TABLE events ADD outcome NVARCHAR(max) NULL" in script
        assert not re.search(r"\b(NTEXT|TEXT)\b", script)
        assert "position BIGINT NOT NULL IDENTITY" in script
        assert (
            "CREATE UNIQUE INDEX uq_events_command ON events (command_consumer, command_id) "
            "WHERE command_id IS NOT NULL"
        ) in script
        # The pending outbox rows' context comes from their CloudEvent source, with JSON_VALUE.
        assert "SUBSTRING(JSON_VALUE(o.payload, '$.source'), 15, 100)" in script
        assert "DROP TABLE outbox" in script
        for table in TABLES:
            assert f"CREATE TABLE {table.name} (" in script


class TestStatements:
    def test_appending_events_returns_positions_with_an_output_clause(self) -> None:
        text = compiled(sql.INSERT_EVENTS, column_keys=["event_id", "aggregate_id", "version"])

        assert text.startswith("INSERT INTO events (event_id, aggregate_id, version) OUTPUT ")
        assert "inserted.position, inserted.event_id" in text

    @pytest.mark.parametrize(
        ("statement", "table"),
        [
            (sql.INSERT_SNAPSHOTS, "snapshots"),
            (sql.INSERT_INBOX, "processed_messages"),
            (sql.GUARD_INBOX, "processed_messages"),
            (sql.INSERT_SCHEDULED, "scheduled_messages"),
        ],
    )
    def test_the_other_inserts_of_an_append_compile(self, statement: sa.Insert, table: str) -> None:
        assert compiled(statement).startswith(f"INSERT INTO {table} (")

    def test_appends_are_serialised_by_a_transaction_scoped_application_lock(self) -> None:
        lock = sql.append_lock(DIALECT)

        assert isinstance(lock, sa.TextClause)
        text = compiled(lock)
        assert "sp_getapplock" in text
        assert "@LockOwner = 'Transaction'" in text

    def test_loading_reads_the_latest_snapshot_and_later_events_in_one_query(self) -> None:
        text = compiled(sql.LOAD.params(aggregate_id=uuid4(), aggregate_type="Cart"))

        assert text.count("SELECT TOP 1 snapshots.version") == 2
        assert "UNION ALL" in text
        assert "CAST(NULL AS UNIQUEIDENTIFIER)" in text
        assert text.rstrip().endswith("ORDER BY kind, version")
        assert "LIMIT" not in text

    def test_paged_reads_use_top(self) -> None:
        read_all = compiled(sql.read_all_statement(250).params(after=0))
        assert read_all.startswith("SELECT TOP 250 events.event_id")
        assert "WHERE events.position > :after ORDER BY events.position" in read_all
        pending = compiled(sql.pending_outbox_statement(100))
        assert pending.startswith("SELECT TOP 100 events.event_id")
        assert "events.position > coalesce((SELECT relay_positions.position" in pending
        assert pending.endswith("AND events.context IS NOT NULL ORDER BY events.position")

    def test_the_timer_sweep_reads_what_is_due_earliest_first_with_top(self) -> None:
        text = compiled(sql.due_messages_statement(100).params(now=datetime.now(UTC)))

        assert text.startswith("SELECT TOP 100 scheduled_messages.message_id")
        assert text.endswith(
            "WHERE scheduled_messages.due_at <= :now "
            "ORDER BY scheduled_messages.due_at, scheduled_messages.message_id"
        )
        of_types = sql.due_messages_of_types_statement(100).params(
            now=datetime.now(UTC), command_types=["ExpiryEmail", "ExpireInventoryReservation"]
        )
        text = compiled(of_types)
        assert text.startswith("SELECT TOP 100 scheduled_messages.message_id")
        assert "AND scheduled_messages.command_type IN (" in text
        assert compiled(sql.FORGET_MESSAGE) == (
            "DELETE FROM scheduled_messages WHERE scheduled_messages.message_id = :message_id"
        )

    def test_the_relay_position_only_moves_forwards(self) -> None:
        text = str(sql.MARK_PUBLISHED.compile(dialect=DIALECT))

        assert text == (
            "UPDATE relay_positions SET position=:through, updated_at=:now "
            "WHERE relay_positions.name = :relay AND relay_positions.position < :through"
        )

    def test_the_inbox_guard_copies_a_stored_row_onto_itself(self) -> None:
        text = compiled(sql.GUARD_INBOX)

        assert text.startswith(
            "INSERT INTO processed_messages (consumer, message_id, outcome, processed_at) SELECT "
        )
        assert text.endswith(
            "WHERE processed_messages.consumer = :consumer "
            "AND processed_messages.message_id = :message_id"
        )

    @pytest.mark.parametrize(
        "statement",
        [sql.LOAD_EVENTS, sql.LAST_POSITION, sql.AGGREGATE_IDS, sql.OUTCOME],
        ids=["load_events", "last_position", "aggregate_ids", "outcome"],
    )
    def test_the_remaining_queries_compile(self, statement: sa.Select[Any]) -> None:
        assert str(statement.compile(dialect=DIALECT)).startswith("SELECT ")

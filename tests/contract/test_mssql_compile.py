"""MSSQL cannot run here, so its DDL and every statement the store runs are compiled with the
``mssql+pyodbc`` dialect and checked as text: NVARCHAR(max) (never NTEXT), IDENTITY keys, TOP n.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import uuid4

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mssql
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import CreateIndex, CreateTable

from eventualshop.adapters import event_store_sql as sql
from eventualshop.adapters.database import migration_script
from eventualshop.adapters.schema import TABLES, events, outbox, processed_messages, snapshots

DIALECT: Dialect = mssql.pyodbc.dialect()  # type: ignore[no-untyped-call]

LONG_TEXT_COLUMNS = [
    (events, "payload"),
    (snapshots, "state"),
    (outbox, "payload"),
    (processed_messages, "outcome"),
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

    @pytest.mark.parametrize(("table", "column"), [(events, "position"), (outbox, "id")])
    def test_positions_and_outbox_ids_are_bigint_identity_primary_keys(
        self, table: sa.Table, column: str
    ) -> None:
        text = ddl(table)
        assert re.search(rf"\b{column} BIGINT NOT NULL IDENTITY\b", text)
        assert f"PRIMARY KEY ({column})" in text

    def test_uuids_are_uniqueidentifiers_and_timestamps_keep_their_offset(self) -> None:
        text = ddl(events)
        assert "event_id UNIQUEIDENTIFIER NOT NULL" in text
        assert "aggregate_id UNIQUEIDENTIFIER NOT NULL" in text
        assert "occurred_at DATETIMEOFFSET NOT NULL" in text

    def test_the_concurrency_check_and_the_inbox_key_are_named_constraints(self) -> None:
        assert "CONSTRAINT uq_events_aggregate_version UNIQUE (aggregate_id, version)" in ddl(
            events
        )
        assert "CONSTRAINT uq_events_event_id UNIQUE (event_id)" in ddl(events)
        assert "CONSTRAINT pk_snapshots PRIMARY KEY (aggregate_id, version)" in ddl(snapshots)
        assert "CONSTRAINT pk_processed_messages PRIMARY KEY (consumer, message_id)" in ddl(
            processed_messages
        )

    def test_the_pending_outbox_index_is_a_filtered_index(self) -> None:
        (index,) = outbox.indexes
        assert str(CreateIndex(index).compile(dialect=DIALECT)) == (
            "CREATE INDEX ix_outbox_pending ON outbox (id) WHERE published_at IS NULL"
        )

    def test_the_inbox_key_fits_the_900_byte_limit_of_an_mssql_clustered_index(self) -> None:
        types = [column.type for column in processed_messages.primary_key.columns]
        # VARCHAR: one byte per character (NVARCHAR would double it).
        assert all(type(t) is sa.String and t.length for t in types)
        assert sum(t.length or 0 for t in types if isinstance(t, sa.String)) <= 900


class TestTheMigration:
    def test_the_offline_migration_script_creates_the_same_mssql_tables(self) -> None:
        script = migration_script("mssql://")

        assert script.count("NVARCHAR(max) NOT NULL") == len(LONG_TEXT_COLUMNS)
        assert not re.search(r"\b(NTEXT|TEXT)\b", script)
        assert "position BIGINT NOT NULL IDENTITY" in script
        assert "id BIGINT NOT NULL IDENTITY" in script
        assert "CREATE INDEX ix_outbox_pending ON outbox (id) WHERE published_at IS NULL" in script
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
            (sql.INSERT_OUTBOX, "outbox"),
            (sql.INSERT_INBOX, "processed_messages"),
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
        text = compiled(sql.LOAD.params(aggregate_id=uuid4()))

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
        assert pending.startswith("SELECT TOP 100 outbox.id")
        assert "WHERE outbox.published_at IS NULL ORDER BY outbox.id" in pending

    def test_marking_published_rows_names_each_id(self) -> None:
        text = str(sql.MARK_PUBLISHED.compile(dialect=DIALECT))

        # An "expanding" IN: one placeholder per id when executed, never "id <= :highest".
        assert text == (
            "UPDATE outbox SET published_at=:now "
            "WHERE outbox.id IN (__[POSTCOMPILE_ids]) AND outbox.published_at IS NULL"
        )

    @pytest.mark.parametrize(
        "statement",
        [sql.LOAD_EVENTS, sql.LAST_POSITION, sql.AGGREGATE_IDS, sql.OUTCOME],
        ids=["load_events", "last_position", "aggregate_ids", "outcome"],
    )
    def test_the_remaining_queries_compile(self, statement: sa.Select[Any]) -> None:
        assert str(statement.compile(dialect=DIALECT)).startswith("SELECT ")

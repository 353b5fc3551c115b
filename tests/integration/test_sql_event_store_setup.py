"""Setting up the SQL event store: engines per database, migrations, and the write lock."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine

from eventualshop.adapters import event_store_sql as sql
from eventualshop.adapters.database import (
    create_engine,
    migrate,
    normalize_url,
    schema_differences,
)
from eventualshop.adapters.event_store_sql import SqlEventStore
from eventualshop.adapters.schema import TABLES
from eventualshop.kernel.eventstore import AppendBatch
from tests.fixtures.events import history


def recorded_statements(engine: Engine) -> list[str]:
    """Every statement sent to the driver from now on, BEGINs included."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement.strip())

    event.listen(engine, "before_cursor_execute", record)
    return statements


class TestChoosingTheDriver:
    @pytest.mark.parametrize(
        ("given", "expected"),
        [
            ("postgresql://u@db/shop", "postgresql+psycopg://u@db/shop"),
            ("postgres://u@db/shop", "postgresql+psycopg://u@db/shop"),
            ("postgresql+psycopg2://u@db/shop", "postgresql+psycopg2://u@db/shop"),
            ("mssql://u@dsn", "mssql+pyodbc://u@dsn"),
            ("sqlite:///var/shop.sqlite3", "sqlite:///var/shop.sqlite3"),
        ],
    )
    def test_a_url_without_a_driver_gets_this_projects_driver(
        self, given: str, expected: str
    ) -> None:
        assert normalize_url(given).render_as_string(hide_password=False) == expected

    def test_a_password_survives_normalisation(self) -> None:
        url = normalize_url("postgresql://shop:p%40ss@db/shop")
        assert url.password == "p@ss"


class TestSqliteEngine:
    def test_connections_use_wal_full_synchronous_and_a_busy_timeout(self, sqlite_url: URL) -> None:
        engine = create_engine(sqlite_url)
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA synchronous").scalar() == 2  # FULL
            assert pragma("PRAGMA busy_timeout").scalar_one() >= 5_000
        engine.dispose()

    def test_the_database_folder_is_created(self, tmp_path: Path) -> None:
        engine = create_engine(f"sqlite:///{tmp_path / 'var' / 'data' / 'shop.sqlite3'}")
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        engine.dispose()

        assert (tmp_path / "var" / "data" / "shop.sqlite3").is_file()

    def test_appends_take_the_write_lock_up_front_and_reads_take_no_lock(
        self, sqlite_store: SqlEventStore
    ) -> None:
        statements = recorded_statements(sqlite_store.engine)
        cart = uuid4()

        sqlite_store.append(AppendBatch(history(cart, [1])))
        sqlite_store.load(cart)

        assert [s.split()[0] for s in statements] == ["BEGIN", "INSERT", "SELECT"]
        assert statements[0] == "BEGIN IMMEDIATE"

    def test_an_append_waits_for_another_writer_instead_of_failing(
        self, sqlite_store: SqlEventStore, sqlite_url: URL
    ) -> None:
        assert sqlite_url.database is not None
        other_process = sqlite3.connect(sqlite_url.database, isolation_level=None)
        other_process.execute("BEGIN IMMEDIATE")
        appended = threading.Event()
        cart = uuid4()

        def append() -> None:
            sqlite_store.append(AppendBatch(history(cart, [1])))
            appended.set()

        writer = threading.Thread(target=append)
        writer.start()
        time.sleep(0.3)
        waited = not appended.is_set()
        other_process.execute("COMMIT")
        writer.join(10)
        other_process.close()

        assert waited
        assert appended.is_set()
        assert [e.version for e in sqlite_store.load(cart).events] == [1]


class TestSerialisedAppends:
    def test_a_reader_never_sees_a_position_before_a_lower_one_has_committed(
        self, database_url: URL
    ) -> None:
        slow, fast = SqlEventStore.from_url(database_url), SqlEventStore.from_url(database_url)
        inserted, release = threading.Event(), threading.Event()

        def hold_transaction_open(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if (
                statement.lstrip().upper().startswith("INSERT INTO EVENTS")
                and not inserted.is_set()
            ):
                inserted.set()
                release.wait(10)

        event.listen(slow.engine, "after_cursor_execute", hold_transaction_open)
        early, late = history(uuid4(), [1]), history(uuid4(), [1])
        fast_done = threading.Event()

        def append_late() -> None:
            fast.append(AppendBatch(late))
            fast_done.set()

        slow_writer = threading.Thread(target=slow.append, args=(AppendBatch(early),))
        slow_writer.start()
        assert inserted.wait(10)
        fast_writer = threading.Thread(target=append_late)
        fast_writer.start()

        time.sleep(0.3)
        seen_while_slow_is_open = list(fast.read_all())
        fast_waited = not fast_done.is_set()
        release.set()
        slow_writer.join(10)
        fast_writer.join(10)
        read = list(fast.read_all())
        slow.close()
        fast.close()

        assert seen_while_slow_is_open == []
        assert fast_waited
        assert [e.event_id for e in read] == [early[0].event_id, late[0].event_id]


def query_plan(engine: Engine, statement: sa.Executable, parameters: dict[str, Any]) -> str:
    """The database's plan for ``statement`` exactly as the store sends it."""
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "

    def prefix(_conn: Any, _cursor: Any, sql: str, params: Any, *_: Any) -> tuple[str, Any]:
        return explain + sql, params

    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            # On near-empty tables a sequential scan is cheapest; forbid it to see the index path.
            connection.exec_driver_sql("SET enable_seqscan = off")
        event.listen(connection, "before_cursor_execute", prefix, retval=True)
        rows = connection.execute(statement, parameters).cursor.fetchall()
    return "\n".join(str(row[-1]) for row in rows)


class TestIndexedReads:
    @pytest.mark.parametrize(
        ("name", "statement", "parameters"),
        [
            pytest.param(
                "load", sql.LOAD, {"aggregate_id": uuid4(), "aggregate_type": "Cart"}, id="load"
            ),
            pytest.param(
                "load_events",
                sql.LOAD_EVENTS,
                {"aggregate_id": uuid4(), "after": 3, "aggregate_type": "Cart"},
                id="load_events",
            ),
            pytest.param("read_all", sql.read_all_statement(100), {"after": 10}, id="read_all"),
            pytest.param("pending", sql.pending_outbox_statement(100), {}, id="pending_outbox"),
            pytest.param(
                "outcome", sql.OUTCOME, {"consumer": "cart", "message_id": "m-1"}, id="outcome"
            ),
        ],
    )
    def test_every_lookup_of_the_store_is_an_index_seek_not_a_table_scan(
        self, database_url: URL, name: str, statement: sa.Executable, parameters: dict[str, Any]
    ) -> None:
        engine = create_engine(database_url)
        plan = query_plan(engine, statement, parameters)
        engine.dispose()

        if database_url.get_backend_name() == "sqlite":
            scans = [line for line in plan.splitlines() if line.startswith("SCAN ")]
            assert scans == [], plan
        else:
            assert "Seq Scan" not in plan, plan
        if name == "load":
            # The snapshot bounds the range of events read: a long history costs nothing extra.
            assert "uq_events_stream_version" in plan or "events_2" in plan, plan
            assert "pk_snapshots" in plan or "snapshots_1" in plan, plan


class TestMigrations:
    def test_migrating_creates_exactly_the_tables_columns_and_indexes_of_the_schema(
        self, empty_database_url: URL
    ) -> None:
        engine = create_engine(empty_database_url)
        migrate(engine)

        assert schema_differences(engine) == []
        assert {t.name for t in TABLES} <= set(sa.inspect(engine).get_table_names())
        engine.dispose()

    def test_a_schema_that_drifted_from_the_code_is_reported(self, empty_database_url: URL) -> None:
        engine = create_engine(empty_database_url)
        migrate(engine)
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP INDEX uq_events_command")

        differences = schema_differences(engine)
        engine.dispose()

        assert [d[0] for d in differences] == ["add_index"]

    def test_migrating_again_changes_nothing(self, empty_database_url: URL) -> None:
        store = SqlEventStore.from_url(empty_database_url, migrate=True)
        positions = store.append(AppendBatch(history(uuid4(), [1, 2])))

        store.migrate()
        migrate(empty_database_url)

        assert store.last_position() == max(positions)
        store.close()

    def test_instances_starting_at_the_same_time_can_all_migrate(
        self, empty_database_url: URL, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="eventualshop.migrations")
        errors: list[BaseException] = []
        barrier = threading.Barrier(3)

        def start_instance() -> None:
            try:
                barrier.wait(10)
                migrate(empty_database_url)
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=start_instance) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

        assert errors == []
        engine = create_engine(empty_database_url)
        assert schema_differences(engine) == []
        engine.dispose()
        # Only the instance that migrated says so: the others found the schema current.
        said = [r for r in caplog.records if r.name == "eventualshop.migrations"]
        assert len(said) == 1, [r.getMessage() for r in said]

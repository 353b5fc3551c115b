"""The SQL event store's driver path (``adapters.sql_driver``: load and append straight on sqlite3
or psycopg) against its SQLAlchemy path: the same rows either way, the same locks, the same errors.

A store takes the SQLAlchemy path while something listens to its engine's statements; the
contract suite runs on both paths, these tests mix them on one database.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine

from eventualshop.adapters.database import alembic_config, create_engine, migrate
from eventualshop.adapters.event_store_driver import DriverEventStore, open_event_store
from eventualshop.adapters.event_store_sql import SqlEventStore
from eventualshop.adapters.schema import processed_messages
from eventualshop.adapters.sql_driver import AppendRows, PostgresDriverPath
from eventualshop.kernel import cloudevents
from eventualshop.kernel.errors import ConcurrencyConflict, DuplicateMessage
from eventualshop.kernel.eventstore import AppendBatch, InboxRecord, StoredEvent
from eventualshop.kernel.timers import ScheduledMessage
from tests.conftest import new_postgres_database, truncate
from tests.fixtures.events import cart_command, for_command, history, snapshot
from tests.fixtures.events import event as stored_event


def _listen_to_nothing(*_: Any) -> None:
    """A statement listener: the store then runs every statement through SQLAlchemy."""


@contextmanager
def sqlalchemy_path(store: SqlEventStore) -> Iterator[SqlEventStore]:
    event.listen(store.engine, "before_cursor_execute", _listen_to_nothing)
    try:
        yield store
    finally:
        event.remove(store.engine, "before_cursor_execute", _listen_to_nothing)


@pytest.fixture
def store(database_url: URL) -> Iterator[SqlEventStore]:
    store = SqlEventStore.from_url(database_url)
    yield store
    store.close()


def a_full_batch() -> AppendBatch:
    """Two events, the second with every optional field, an odd offset and odd text (it is what
    ``load`` returns: the snapshot covers the first), a snapshot, a durable timer, a context and
    the inbox."""
    cart = uuid4()
    events = [
        stored_event(cart, 1),
        StoredEvent(
            event_id=uuid4(),
            aggregate_id=cart,
            aggregate_type="Counter",
            version=2,
            event_type="Renamed",
            schema_version=2,
            payload='{"note":"ação ✓ 漢字 🚚 \\"quoted\\" \'single\' 100% %(x)s $1 ;--"}',
            timestamp=datetime(2024, 7, 1, 12, 0, 0, 1, tzinfo=timezone(timedelta(hours=-5))),
            correlation_id="correlation ' with a quote",
            causation_id="command-1",
            traceparent=f"00-{'a' * 32}-{'b' * 16}-01",
        ),
    ]
    return for_command(
        AppendBatch(
            events,
            snapshots=[snapshot(cart, 1)],
            context="shopping-cart",
            inbox=InboxRecord("cart", "message-1", '{"outcome":"ok"}'),
            scheduled=[
                ScheduledMessage(
                    message_id=f"{events[1].event_id}:0",
                    due_at=datetime(2024, 7, 1, 12, 15, 0, 7, tzinfo=timezone(timedelta(hours=-5))),
                    command_type="ExpireSomething",
                    payload='{"note":"Zoë \'%(x)s\' ;--"}',
                    correlation_id="correlation ' with a quote",
                    causation_id=None,
                    traceparent=f"00-{'a' * 32}-{'b' * 16}-01",
                )
            ],
        )
    )


def without_position(events: list[StoredEvent]) -> list[StoredEvent]:
    return [
        StoredEvent(**{**{f: getattr(e, f) for f in StoredEvent.__slots__}, "position": None})
        for e in events
    ]


class TestChoosingThePath:
    def test_sqlite_and_psycopg_engines_take_the_driver_path(self, store: SqlEventStore) -> None:
        assert store._driver_path() is not None

    def test_an_append_with_durable_timers_takes_the_driver_path(
        self, store: SqlEventStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # A reaction that schedules (a reservation's expiry, an email's) is as hot as a command.
        driver = store._driver_path()
        assert driver is not None
        appended: list[AppendRows] = []

        class Spy:
            def append(self, rows: AppendRows) -> list[Any]:
                appended.append(rows)
                assert driver is not None
                return driver.append(rows)

        monkeypatch.setattr(store, "_driver_path", Spy)
        batch = a_full_batch()

        store.append(batch)

        assert [len(rows.scheduled) for rows in appended] == [1]
        assert list(store.due_messages(datetime(2025, 1, 1, tzinfo=UTC))) == list(batch.scheduled)

    def test_an_engine_whose_statements_are_listened_to_takes_the_sqlalchemy_path(
        self, store: SqlEventStore
    ) -> None:
        with sqlalchemy_path(store):
            assert store._driver_path() is None
        assert store._driver_path() is not None

    def test_mssql_keeps_the_sqlalchemy_path(self) -> None:
        # pyodbc is not installed here; a stand-in module is enough to build the dialect.
        pyodbc = types.SimpleNamespace(
            paramstyle="qmark", version="5.0.0", Cursor=type("Cursor", (), {"nextset": None})
        )
        engine = sa.create_engine("mssql+pyodbc://user@dsn", module=pyodbc)

        assert SqlEventStore(engine)._driver_path() is None


class TestBothPathsShareTheirRows:
    def test_what_the_driver_path_writes_reads_back_the_same_through_sqlalchemy(
        self, store: SqlEventStore
    ) -> None:
        batch = a_full_batch()
        positions = store.append(batch)
        cart = batch.events[0].aggregate_id

        by_driver = store.load(cart)
        with sqlalchemy_path(store):
            by_sqlalchemy = store.load(cart)
            loaded = list(store.load_events(cart))
            everything = list(store.read_all())
            pending = list(store.pending_outbox())
            outcome = store.outcome("cart", "message-1")

        assert by_sqlalchemy == by_driver
        assert without_position(loaded) == list(batch.events)
        assert [e.position for e in loaded] == list(positions)
        assert everything == loaded
        assert by_driver.snapshot == batch.snapshots[0]
        assert [(e.event_id, e.event_type, e.payload) for e in pending] == [
            # Rendered from the stored event: its time comes back in UTC, the same instant.
            (e.event_id, e.event_type, cloudevents.structured("shopping-cart", e))
            for e in loaded
        ]
        assert outcome == '{"outcome":"ok"}'
        assert list(store.due_messages(datetime(2025, 1, 1, tzinfo=UTC))) == list(batch.scheduled)
        assert without_position(list(by_driver.events)) == list(batch.events[1:])
        assert by_driver.events[0].timestamp.tzinfo is UTC

    def test_what_sqlalchemy_writes_loads_the_same_through_the_driver_path(
        self, store: SqlEventStore
    ) -> None:
        batch = a_full_batch()
        with sqlalchemy_path(store):
            positions = store.append(batch)
            by_sqlalchemy = store.load(batch.events[0].aggregate_id)

        by_driver = store.load(batch.events[0].aggregate_id)

        assert by_driver == by_sqlalchemy
        assert [e.position for e in by_driver.events] == list(positions[1:])
        assert by_driver.snapshot == batch.snapshots[0]
        assert without_position(list(by_driver.events)) == list(batch.events[1:])

    def test_both_paths_store_exactly_the_same_values(self, database_url: URL) -> None:
        # The same batch through each path in turn, on an emptied database: no stored value may
        # differ (on SQLite a UUID is 32 hex digits and a timestamp UTC text, as SQLAlchemy has it).
        batch = a_full_batch()
        store = SqlEventStore(
            create_engine(database_url),
            owns_engine=True,
            clock=lambda: datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        )
        store.append(batch)
        by_driver = stored_values(store.engine)
        empty(store.engine)
        with sqlalchemy_path(store):
            store.append(batch)
        by_sqlalchemy = stored_values(store.engine)
        store.close()

        assert by_driver == by_sqlalchemy
        if database_url.get_backend_name() == "sqlite":
            columns = STORED_COLUMNS["events"].split(", ")
            second = next(
                values
                for row in by_driver["events"]
                if (values := dict(zip(columns, row, strict=True)))["version"] == 2
            )
            assert second["event_id"] == batch.events[1].event_id.hex
            assert second["occurred_at"] == "2024-07-01 17:00:00.000001"


#: Every column but the generated key (positions), which differs from run to run.
STORED_COLUMNS = {
    "events": "event_id, aggregate_id, aggregate_type, version, event_type, schema_version, "
    "payload, occurred_at, correlation_id, causation_id, traceparent, context, "
    "command_consumer, command_id, outcome",
    "snapshots": "aggregate_id, version, aggregate_type, state, created_at",
    "processed_messages": "consumer, message_id, outcome, processed_at",
    "scheduled_messages": "message_id, due_at, command_type, payload, correlation_id, "
    "causation_id, traceparent, created_at",
}


def stored_values(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """The values as the database holds them, read with no SQLAlchemy type conversion."""
    with engine.connect() as connection:
        return {
            table: [
                tuple(row)
                for row in connection.exec_driver_sql(
                    f"SELECT {columns} FROM {table} ORDER BY {columns}"
                )
            ]
            for table, columns in STORED_COLUMNS.items()
        }


def empty(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in STORED_COLUMNS:
            connection.exec_driver_sql(f"DELETE FROM {table}")


class TestDriverPathTransactions:
    def test_a_sqlite_append_takes_the_write_lock_first_and_a_load_takes_no_lock(
        self, sqlite_url: URL
    ) -> None:
        migrate(sqlite_url)
        engine = create_engine(sqlite_url)
        statements: list[str] = []

        def trace(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
            # What SQLite itself runs, whichever way it is sent.
            dbapi_connection.set_trace_callback(statements.append)

        event.listen(engine, "connect", trace)
        store = SqlEventStore(engine, owns_engine=True)
        cart = uuid4()

        store.append(AppendBatch(history(cart, [1])))
        store.load(cart)
        store.close()

        assert [s.split()[0] for s in statements] == ["BEGIN", "INSERT", "COMMIT", "SELECT"]
        assert statements[0] == "BEGIN IMMEDIATE"

    @pytest.mark.postgres
    # EXCLUSIVE is the append lock itself; ROW SHARE conflicts with it but not with an INSERT's
    # ROW EXCLUSIVE, so an append waits for it only if it takes the lock before inserting.
    @pytest.mark.parametrize("held", ["EXCLUSIVE", "ROW SHARE"])
    def test_a_postgres_append_waits_for_the_events_table_lock(
        self, postgres_store: SqlEventStore, held: str
    ) -> None:
        appended = threading.Event()
        cart = uuid4()

        def append() -> None:
            postgres_store.append(AppendBatch(history(cart, [1])))
            appended.set()

        with postgres_store.engine.connect() as holder:
            holder.exec_driver_sql(f"LOCK TABLE events IN {held} MODE")
            writer = threading.Thread(target=append)
            writer.start()
            time.sleep(0.3)
            waited = not appended.is_set()
            holder.commit()
        writer.join(10)

        assert waited
        assert appended.is_set()
        assert [e.version for e in postgres_store.load(cart).events] == [1]

    def test_driver_errors_come_out_as_sqlalchemy_errors(self, empty_database_url: URL) -> None:
        store = SqlEventStore.from_url(empty_database_url)

        with pytest.raises(sa.exc.DBAPIError):
            store.load(uuid4())
        with pytest.raises(sa.exc.DBAPIError):
            store.append(AppendBatch(history(uuid4(), [1])))
        # The failed transaction was rolled back and the connection is fit for use.
        store.migrate()
        cart = uuid4()
        store.append(AppendBatch(history(cart, [1])))
        assert [e.version for e in store.load(cart).events] == [1]
        store.close()

    def test_connections_go_back_to_the_pool_as_sqlalchemy_expects_them(
        self, database_url: URL
    ) -> None:
        # One connection in the pool: the SQLAlchemy transaction below runs on the connection
        # the driver path used (and, on PostgreSQL, switched to autocommit while it had it).
        engine = create_engine(database_url, pool_size=1, max_overflow=0)
        store = SqlEventStore(engine, owns_engine=True)
        cart = uuid4()
        store.append(
            for_command(AppendBatch(history(cart, [1]), inbox=InboxRecord("cart", "m-1", "ok")))
        )
        with pytest.raises(ConcurrencyConflict):
            store.append(AppendBatch(history(cart, [1])))
        with pytest.raises(DuplicateMessage):
            store.append(
                for_command(AppendBatch(history(cart, [2]), inbox=InboxRecord("cart", "m-1", "no")))
            )
        store.load(cart)

        with engine.connect() as connection:
            connection.execute(
                sa.insert(processed_messages),
                {
                    "consumer": "cart",
                    "message_id": "m-2",
                    "outcome": "rolled back",
                    "processed_at": datetime.now(UTC),
                },
            )
            connection.rollback()

        assert store.outcome("cart", "m-2") is None
        assert store.outcome("cart", "m-1") == "ok"
        assert [e.version for e in store.load_events(cart)] == [1]
        store.close()


# --- PostgreSQL: the append function (migration 0006) ---------------------------------------------


@contextmanager
def traced_postgres_store(url: URL, trace: Path) -> Iterator[SqlEventStore]:
    """A store whose connections write libpq's trace of every protocol message to ``trace``:
    what the client sends, whichever way psycopg sends it."""
    import psycopg

    engine = create_engine(url)
    with trace.open("w") as out:

        def start_trace(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.pgconn.trace(out.fileno())
            dbapi_connection.pgconn.set_trace_flags(
                psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE
            )

        event.listen(engine, "connect", start_trace)
        store = SqlEventStore(engine, owns_engine=True)
        try:
            yield store
        finally:
            store.close()


def sent_sql(trace: Path) -> list[str]:
    """The SQL text of every Query and Parse message the client sent (a message's text may span
    lines: a message starts with its direction, F or B)."""
    messages: list[str] = []
    for line in trace.read_text().splitlines():
        if line.startswith(("F\t", "B\t")):
            messages.append(line)
        elif messages:
            messages[-1] += "\n" + line
    return [
        message.split("\t", 3)[3].strip()
        for message in messages
        if message.startswith("F\t") and message.split("\t")[2] in ("Query", "Parse")
    ]


class TestPostgresAppendFunction:
    @pytest.mark.postgres
    def test_an_append_is_one_call_of_the_append_function(
        self, postgres_engine: Engine, postgres_url: URL, tmp_path: Path
    ) -> None:
        truncate(postgres_engine)
        trace = tmp_path / "libpq.trace"
        batch = a_full_batch()
        with traced_postgres_store(postgres_url, trace) as store:
            store.append(batch)
            sent = sent_sql(trace)
            stored = store.load_events(batch.events[0].aggregate_id)

        # One statement, naming the function; the lock and the inserts run on the server.
        assert len(sent) == 1, sent
        assert "eventualshop_append(" in sent[0]
        assert [e.event_id for e in stored] == [e.event_id for e in batch.events]

    @pytest.mark.postgres
    def test_without_the_function_the_statements_are_sent_and_the_function_is_asked_again(
        self,
        postgres_admin_url: URL,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        # A database at 0004 (not migrated yet while a rolling upgrade runs, or downgraded).
        with new_postgres_database(postgres_admin_url) as url:
            command.upgrade(alembic_config(url), "0004")
            caplog.set_level("WARNING", logger="eventualshop.adapters.sql_driver")
            trace = tmp_path / "libpq.trace"
            cart = uuid4()
            with traced_postgres_store(url, trace) as store:
                store.append(AppendBatch(history(cart, [1])))
                store.append(AppendBatch(history(cart, [2])))
                without = sent_sql(trace)

                command.upgrade(alembic_config(url), "head")
                monkeypatch.setattr(PostgresDriverPath, "RECHECK_FUNCTION_S", 0.0)
                store.append(AppendBatch(history(cart, [3])))
                with_function = sent_sql(trace)[len(without) :]
                versions = [e.version for e in store.load_events(cart)]

        assert versions == [1, 2, 3]
        # The first append asked for the function once, then both sent the statements.
        assert ["eventualshop_append(" in sql for sql in without] == [True, False, False]
        assert sum("LOCK TABLE events IN EXCLUSIVE MODE" in sql for sql in without) == 2
        assert len(with_function) == 1
        assert "eventualshop_append(" in with_function[0]
        warnings = [r.getMessage() for r in caplog.records if r.name.endswith("sql_driver")]
        assert len(warnings) == 1
        assert "eventualshop migrate" in warnings[0]

    @pytest.mark.postgres
    def test_the_function_reports_duplicates_and_conflicts_as_the_statements_do(
        self, postgres_engine: Engine, postgres_url: URL
    ) -> None:
        truncate(postgres_engine)
        store = SqlEventStore.from_url(postgres_url)
        cart = uuid4()
        accepted = cart_command(history(cart, [1, 2]), "m-1", "ok")
        positions = store.append(accepted)
        rejected_id = "m-2"
        store.record_outcome(InboxRecord("cart", rejected_id, "rejected"))

        with pytest.raises(ConcurrencyConflict):
            store.append(AppendBatch(history(cart, [2])))
        with pytest.raises(DuplicateMessage):
            store.append(cart_command(history(cart, [3]), "m-1", "x"))
        with pytest.raises(DuplicateMessage):
            store.append(cart_command(history(cart, [3]), rejected_id, "x"))
        stored = store.load_events(cart)
        store.close()

        # Positions in the batch's order, and nothing of the refused batches written.
        assert positions == sorted(positions)
        assert [e.position for e in stored] == positions
        assert [e.version for e in stored] == [1, 2]

    def test_an_error_that_is_not_a_taken_key_is_not_taken_for_a_conflict(
        self, database_url: URL
    ) -> None:
        # A NOT NULL violation inside the append: on PostgreSQL the error's text quotes the
        # function's INSERT (which names events.event_id), so matching names in the text made it a
        # ConcurrencyConflict, retried and answered 409, instead of the error it is.
        store = SqlEventStore.from_url(database_url)
        cart = uuid4()
        broken = dataclasses.replace(stored_event(cart, 1), correlation_id=None)  # type: ignore[arg-type]

        with pytest.raises(sa.exc.IntegrityError) as raised:
            store.append(AppendBatch([broken]))
        store.close()

        assert not isinstance(raised.value, ConcurrencyConflict)
        assert "correlation_id" in str(raised.value)

    @pytest.mark.postgres
    def test_a_session_in_another_time_zone_stores_the_same_instants(
        self, postgres_engine: Engine, postgres_url: URL
    ) -> None:
        truncate(postgres_engine)
        batch = a_full_batch()
        new_york = postgres_url.update_query_dict({"options": "-c TimeZone=America/New_York"})
        store = SqlEventStore(
            create_engine(new_york),
            owns_engine=True,
            clock=lambda: datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        )
        store.append(batch)
        by_function = stored_values(postgres_engine)
        empty(postgres_engine)
        with sqlalchemy_path(store):
            store.append(batch)
        by_sqlalchemy = stored_values(postgres_engine)
        store.close()

        assert by_function == by_sqlalchemy


class TestMigratingAtStart:
    """A function opens its store with ``migrate=True``: on a new database that builds the
    SQLAlchemy store to run the migration, which is then closed again."""

    def test_the_command_path_asks_sqlalchemy_nothing_after_the_migration(
        self, empty_database_url: URL, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        url = empty_database_url.render_as_string(hide_password=False)
        store = open_event_store(url, migrate=True)
        assert isinstance(store, DriverEventStore)

        def asked(self: SqlEventStore) -> bool:
            raise AssertionError("the command path asked the SQLAlchemy store about listeners")

        monkeypatch.setattr(SqlEventStore, "listened", asked)
        cart = uuid4()
        try:
            store.append(cart_command(history(cart, [1]), "m-1", "ok"))
            loaded = store.load(cart, "Counter")
        finally:
            store.close()

        assert [e.version for e in loaded.events] == [1]

    @pytest.mark.postgres
    def test_a_store_that_migrated_holds_no_connection_of_the_migration(
        self, postgres_admin_url: URL
    ) -> None:
        with new_postgres_database(postgres_admin_url) as url:
            store = open_event_store(url.render_as_string(hide_password=False), migrate=True)
            admin = create_engine(postgres_admin_url)
            try:
                with admin.connect() as connection:
                    held = connection.scalar(
                        sa.text(
                            "SELECT count(*) FROM pg_stat_activity"
                            " WHERE datname = :name AND backend_type = 'client backend'"
                        ),
                        {"name": url.database},
                    )
            finally:
                admin.dispose()
                store.close()

        # The driver's one idle connection (it asked for the schema's revision); the migration's
        # pool kept another before.
        assert held == 1

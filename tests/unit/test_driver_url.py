"""Which store URLs a cold function opens on the driver (no SQLAlchemy), and which stay with
SQLAlchemy: an SQLite file and PostgreSQL on psycopg; not in-memory or URI-style SQLite (each
connection would see another database), not another driver."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from eventualshop.adapters.event_store_driver import DriverEventStore, open_event_store
from eventualshop.adapters.event_store_sql import SqlEventStore
from eventualshop.adapters.sql_driver import DirectConnections, DriverUrl, own_or_shared


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///var/eventstore.sqlite3", DriverUrl("sqlite", "var/eventstore.sqlite3")),
        ("sqlite:////srv/shop/events.db", DriverUrl("sqlite", "/srv/shop/events.db")),
        (
            "postgresql://postgres@127.0.0.1:5432/shop",
            DriverUrl("postgresql", "postgresql://postgres@127.0.0.1:5432/shop"),
        ),
        (
            "postgres://u:p%40ss@db/shop?sslmode=require",
            DriverUrl("postgresql", "postgresql://u:p%40ss@db/shop?sslmode=require"),
        ),
        ("postgresql+psycopg://db/shop", DriverUrl("postgresql", "postgresql://db/shop")),
    ],
)
def test_a_file_or_a_psycopg_database_takes_the_driver(url: str, expected: DriverUrl) -> None:
    assert DriverUrl.parse(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///file:events?mode=memory&cache=shared&uri=true",
        "postgresql+psycopg2://db/shop",
        "mssql+pyodbc://sa:secret@db/shop?driver=ODBC+Driver+18+for+SQL+Server",
        "memory:",
    ],
)
def test_anything_else_stays_with_sqlalchemy(url: str) -> None:
    assert DriverUrl.parse(url) is None


def test_open_event_store_picks_the_store_by_url(tmp_path: object) -> None:
    memory = open_event_store("sqlite://", migrate=True)
    cold = open_event_store(f"sqlite:///{tmp_path}/events.sqlite3", migrate=True)
    try:
        assert isinstance(memory, SqlEventStore)
        assert isinstance(cold, DriverEventStore)
        assert cold.last_position() == 0  # migrated: SQLAlchemy's side reads the same file
    finally:
        memory.close()
        cold.close()


def test_sqlite_connections_are_kept_for_every_thread_of_a_busy_server(tmp_path: Path) -> None:
    """A SQLite connection is a file handle; each new one sets up WAL and pragmas: ``serve``'s
    16 threads keep theirs."""
    connections = DirectConnections(DriverUrl("sqlite", str(tmp_path / "es.sqlite3")))
    with contextlib.ExitStack() as held:
        first = [held.enter_context(connections.connection()) for _ in range(16)]
    with contextlib.ExitStack() as held:
        second = [held.enter_context(connections.connection()) for _ in range(16)]
    assert {id(c) for c in second} == {id(c) for c in first}
    connections.close()


class TestLendingAConnection:
    """What a ``with connections.connection()`` block gives back: a sound connection to the idle
    ones, a failed block's connection closed, a driver error as SQLAlchemy's class."""

    def _connections(self, tmp_path: Path) -> DirectConnections:
        return DirectConnections(DriverUrl("sqlite", str(tmp_path / "es.sqlite3")))

    def test_a_driver_error_comes_out_as_sqlalchemy_s_and_the_connection_is_kept(
        self, tmp_path: Path
    ) -> None:
        from sqlalchemy.exc import OperationalError

        connections = self._connections(tmp_path)
        with pytest.raises(OperationalError) as raised, connections.connection() as failed:
            failed.execute("SELECT * FROM no_such_table")
        assert isinstance(raised.value.orig, sqlite3.OperationalError)
        assert raised.value.connection_invalidated is False
        with connections.connection() as next_one:
            assert next_one is failed
            assert next_one.execute("SELECT 1").fetchone() == (1,)
        connections.close()

    def test_any_other_error_closes_the_connection(self, tmp_path: Path) -> None:
        connections = self._connections(tmp_path)
        with pytest.raises(KeyError), connections.connection() as failed:
            raise KeyError("not the driver's")
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            failed.execute("SELECT 1")
        with connections.connection() as next_one:
            assert next_one is not failed
        connections.close()

    def test_a_connection_that_cannot_open_is_a_sqlalchemy_error(self, tmp_path: Path) -> None:
        from sqlalchemy.exc import OperationalError

        connections = DirectConnections(DriverUrl("sqlite", str(tmp_path)))  # a directory
        with pytest.raises(OperationalError, match="unable to open"), connections.connection():
            pytest.fail("a directory is no database")

    def test_after_close_a_returned_connection_is_closed_not_kept(self, tmp_path: Path) -> None:
        connections = self._connections(tmp_path)
        with connections.connection() as lent:
            connections.close()
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            lent.execute("SELECT 1")

    def test_the_driver_error_is_the_cause(self, tmp_path: Path) -> None:
        from sqlalchemy.exc import OperationalError

        connections = self._connections(tmp_path)
        with pytest.raises(OperationalError) as raised, connections.connection() as lent:
            lent.execute("SELECT * FROM no_such_table")
        assert raised.value.__cause__ is raised.value.orig
        connections.close()

    def test_no_more_idle_connections_are_kept_than_asked(self, tmp_path: Path) -> None:
        connections = DirectConnections(DriverUrl("sqlite", str(tmp_path / "es.db")), keep=1)
        with connections.connection() as first, connections.connection() as second:
            pass
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            first.execute("SELECT 1")  # given back last, with the one idle place taken
        with connections.connection() as again:
            assert again is second
        connections.close()

    def test_a_connection_the_driver_reports_broken_is_closed_and_invalidated(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """psycopg's connection after the server went away: ``broken``; no server needed."""
        import psycopg
        from sqlalchemy.exc import OperationalError

        class Gone:
            closed, broken, closes = False, True, 0

            def close(self) -> None:
                self.closes += 1

        gone = Gone()
        connections = DirectConnections(DriverUrl("postgresql", "postgresql://nowhere/shop"))
        monkeypatch.setattr(connections, "_open", lambda: gone)
        with pytest.raises(OperationalError) as raised, connections.connection():
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        assert raised.value.connection_invalidated is True
        assert gone.closes == 1
        connections.close()
        assert gone.closes == 1  # not kept among the idle ones


class TestSharedConnections:
    """Connections handed to a store or a look-up belong to whoever handed them over (the
    composition root shares one set per database): using them is theirs, closing them is not."""

    def test_a_store_and_a_lookup_on_shared_connections_leave_them_open(
        self, tmp_path: Path
    ) -> None:
        from eventualshop.adapters.read_models_driver import DriverDocumentLookup

        url = DriverUrl("sqlite", str(tmp_path / "shop.sqlite3"))
        shared = DirectConnections(url)
        store = open_event_store(f"sqlite:///{url.target}", migrate=True, connections=shared)
        assert isinstance(store, DriverEventStore)
        lookup = DriverDocumentLookup(url, connections=shared)
        assert not lookup.exists("revoked_users", "someone")
        with shared.connection() as used:
            pass
        store.close()
        lookup.close()
        with shared.connection() as again:
            assert again is used  # still kept: neither closed the set it did not open
        shared.close()

    def test_connections_to_another_database_are_refused(self, tmp_path: Path) -> None:
        from eventualshop.adapters.read_models_driver import DriverDocumentLookup

        here = DriverUrl("sqlite", str(tmp_path / "here.sqlite3"))
        elsewhere = DirectConnections(DriverUrl("sqlite", str(tmp_path / "elsewhere.sqlite3")))
        with pytest.raises(ValueError, match="elsewhere"):
            DriverEventStore(f"sqlite:///{here.target}", here, connections=elsewhere)
        with pytest.raises(ValueError, match="elsewhere"):
            DriverDocumentLookup(here, connections=elsewhere)


def test_connections_to_another_database_are_refused_without_either_password() -> None:
    # Was: the error named both URLs whole, a PostgreSQL one with its password; it reaches logs.
    store = DriverUrl.parse("postgresql://shop:s3cr3t-pw@db-a/shop")
    other = DriverUrl.parse("postgresql://shop@db-b/shop?sslmode=require&password=0th3r-pw")
    assert store is not None
    assert other is not None
    with pytest.raises(ValueError, match="given for a store") as refused:
        own_or_shared(store, DirectConnections(other))
    assert "s3cr3t-pw" not in str(refused.value)
    assert "0th3r-pw" not in str(refused.value)
    assert "shop:***@db-a/shop" in str(refused.value)  # still says which databases
    assert "db-b/shop?sslmode=require&password=***" in str(refused.value)
    assert "s3cr3t-pw" not in repr(store)  # nor where a traceback or a debugger shows it

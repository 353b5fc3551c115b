"""Which store URLs a cold function opens on the driver (no SQLAlchemy), and which stay with
SQLAlchemy: an SQLite file and PostgreSQL on psycopg; not in-memory or URI-style SQLite (each
connection would see another database), not another driver."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from eventualshop.adapters.event_store_driver import DriverEventStore, open_event_store
from eventualshop.adapters.event_store_sql import SqlEventStore
from eventualshop.adapters.sql_driver import DirectConnections, DriverUrl


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

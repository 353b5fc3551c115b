"""Compiles the command path's SQLAlchemy statements into ``sql_compiled.py``, once, ahead of time.

A command function must not import SQLAlchemy: that import (and building the tables) was most of
a cold start's first request. SQLAlchemy stays the source of the schema, the migrations and every
statement; this generator asks it for the exact text and parameters of the statements that a
command and its relay pass run (load, append, pending events, mark published), for SQLite
(pysqlite) and PostgreSQL (psycopg), and writes them down as data. ``sql_driver`` runs them.
``tests/unit/test_compiled_sql.py`` fails when the module differs from a fresh compilation.

After changing a statement or the schema::

    python -m eventualshop.adapters.compile_sql && ruff format shared/eventualshop/adapters
"""

from __future__ import annotations

import pprint
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.sql.selectable import ExecutableReturnsRows

from eventualshop.adapters import event_store_sql as statements
from eventualshop.adapters.schema import UtcDateTime

TARGET = Path(__file__).with_name("sql_compiled.py")

#: The dialects that have a driver path, by ``sql_driver``'s name for them.
DIALECTS: dict[str, Dialect] = {
    "sqlite": sqlite.pysqlite.dialect(),
    "postgresql": postgresql.psycopg.dialect(),  # type: ignore[no-untyped-call]
}


def _kind(type_: sa.types.TypeEngine[Any]) -> str:
    """Which of ``sql_driver``'s hand-written converters stands in for the type's processor."""
    if isinstance(type_, UtcDateTime):
        return "utc_datetime"
    if isinstance(type_, sa.Uuid):
        return "uuid"
    raise TypeError(f"no converter in sql_driver for {type_!r}; write one and test it")


def compile_statement(
    statement: ExecutableReturnsRows | TextClause,
    dialect: Dialect,
    column_keys: Sequence[str] | None = None,
) -> dict[str, Any]:
    """One statement as the driver receives it: its text, the order of its positional parameters
    (``None`` for named ones), the values it binds itself, and which parameters and result
    columns SQLAlchemy would convert (by the kind of converter)."""
    compiled = statement.compile(
        dialect=dialect,
        column_keys=list(column_keys) if column_keys is not None else None,
        # As for a batch: no implicit RETURNING of the new key that nobody reads.
        for_executemany=True,
    )
    binds = {
        name: _kind(compiled.binds[name].type)
        for name in compiled.params
        if compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) is not None
    }
    results: dict[int, str] = {}
    if isinstance(statement, ExecutableReturnsRows):
        for index, column in enumerate(statement.exported_columns):
            if column.type.dialect_impl(dialect).result_processor(dialect, None) is not None:
                results[index] = _kind(column.type)
    required = {name for name in compiled.params if compiled.binds[name].required}
    return {
        "sql": compiled.string,
        "order": tuple(compiled.positiontup or ()) if compiled.positional else None,
        "constants": {
            name: value
            for name, value in compiled.params.items()
            if name not in required and value is not None
        },
        "binds": binds,
        "results": results,
    }


def compiled_statements() -> dict[str, dict[str, dict[str, Any]]]:
    """Every command-path statement for every dialect, freshly compiled by SQLAlchemy."""
    columns = statements.APPEND_COLUMNS
    compiled: dict[str, dict[str, dict[str, Any]]] = {}
    for name, dialect in DIALECTS.items():
        lock = statements.append_lock(dialect)
        found = {
            "load": compile_statement(statements.LOAD, dialect),
            "guard_inbox": compile_statement(statements.GUARD_INBOX, dialect),
            "insert_events": compile_statement(
                statements.INSERT_EVENTS, dialect, columns["events"]
            ),
            "insert_snapshots": compile_statement(
                statements.INSERT_SNAPSHOTS, dialect, columns["snapshots"]
            ),
            "insert_scheduled": compile_statement(
                statements.INSERT_SCHEDULED, dialect, columns["scheduled"]
            ),
            "pending_outbox": compile_statement(statements.PENDING_OUTBOX_PAGE, dialect),
            "mark_published": compile_statement(statements.MARK_PUBLISHED, dialect),
            "schema_revision": compile_statement(statements.SCHEMA_REVISION, dialect),
        }
        if lock is not None:
            found["append_lock"] = compile_statement(lock, dialect)
        compiled[name] = found
    return compiled


def render() -> str:
    body = pprint.pformat(compiled_statements(), width=96, sort_dicts=True)
    return (
        '"""Generated by ``python -m eventualshop.adapters.compile_sql`` from the SQLAlchemy\n'
        "statements of ``event_store_sql``: do not edit (a test compares it with a fresh\n"
        'compilation). Per dialect, per statement: ``compile_sql.compile_statement``."""\n\n'
        "from typing import Any\n\n"
        f"STATEMENTS: dict[str, dict[str, dict[str, Any]]] = {body}\n"
    )


def main() -> None:
    TARGET.write_text(render(), encoding="utf-8")
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()

"""The command path of the SQL event store straight on the DB-API driver (sqlite3, psycopg 3).

Every command loads one aggregate and appends one batch. Through SQLAlchemy each statement costs
around 100 µs of Python on top of the database's own work (connection wrapper, execution context,
result object, event dispatch), several times what SQLite needs for the statement itself; here the
same SQL runs on the driver's connection:

- The SQL is the text SQLAlchemy compiles from the statements of
  :mod:`eventualshop.adapters.event_store_sql`,
  once per engine, and values go through the type processors SQLAlchemy itself applies (on SQLite a
  UUID is stored as 32 hex digits and a timestamp as UTC text), so either path reads what the
  other one wrote.
- Connections come from the engine's pool, so its ``connect`` hook has set the SQLite pragmas and
  ``engine.dispose()`` closes them; one that the driver reports broken is invalidated.
- Appends are serialised exactly as on the SQLAlchemy path: ``BEGIN IMMEDIATE`` on SQLite,
  ``LOCK TABLE events IN EXCLUSIVE MODE`` on PostgreSQL, and run the same statements in the same
  order (the inbox guard first) in one transaction. On PostgreSQL that transaction is sent as one
  query, so it costs one round trip (see :class:`PostgresDriverPath`).
- Driver errors are wrapped in SQLAlchemy's exception classes, as the SQLAlchemy path raises them.

MSSQL, and any other driver, keeps the SQLAlchemy path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.selectable import ExecutableReturnsRows

Row = Sequence[Any]
Values = Mapping[str, Any]
Converter = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class AppendRows:
    """The rows one append inserts, as SQLAlchemy parameter dictionaries keyed by column.

    ``inbox`` is the command's inbox row: its consumer and message id are checked against the
    stored rejections (the outcome itself rides on the first event row).
    """

    inbox: Values | None
    events: Sequence[Values]
    snapshots: Sequence[Values] = ()


@dataclass(frozen=True, slots=True)
class AppendStatements:
    """The SQLAlchemy statements an append runs, with the columns it gives values for."""

    guard_inbox: sa.Insert
    insert_events: sa.Insert
    insert_snapshots: sa.Insert
    event_columns: Sequence[str]
    snapshot_columns: Sequence[str]
    lock: sa.TextClause | None = None


class CompiledStatement:
    """One SQLAlchemy statement as the driver receives it, compiled once for one dialect.

    ``parameters`` turns values keyed by bind name into what the driver takes (a tuple for
    positional paramstyles such as SQLite's ``?``, a dict for psycopg's ``%(name)s``), with the
    constants the statement binds itself (``LIMIT 1``) and each value converted by its type's bind
    processor; ``row`` converts a result row by the result processors of the selected columns.
    """

    def __init__(
        self,
        statement: ExecutableReturnsRows,
        dialect: Dialect,
        column_keys: Sequence[str] | None = None,
    ) -> None:
        compiled = statement.compile(
            dialect=dialect,
            column_keys=list(column_keys) if column_keys is not None else None,
            # As for a batch: no implicit RETURNING of the new key that nobody reads.
            for_executemany=True,
        )
        self.sql = compiled.string
        self._constants = {
            name: value for name, value in compiled.params.items() if value is not None
        }
        self._converters: tuple[tuple[str, Converter], ...] = tuple(
            (name, convert)
            for name in compiled.params
            if (convert := _bind_converter(compiled.binds[name].type, dialect)) is not None
        )
        self._order = tuple(compiled.positiontup or ()) if compiled.positional else None
        self._results: tuple[tuple[int, Converter], ...] = tuple(
            (index, convert)
            for index, column in enumerate(statement.exported_columns)
            if (convert := _result_converter(column.type, dialect)) is not None
        )

    def parameters(self, values: Values) -> Any:
        bound = {**self._constants, **values}
        for name, convert in self._converters:
            bound[name] = convert(bound[name])
        if self._order is None:
            return bound
        return tuple(bound[name] for name in self._order)

    def row(self, row: Row) -> Row:
        if not self._results:
            return row
        converted = list(row)
        for index, convert in self._results:
            converted[index] = convert(converted[index])
        return converted


def _bind_converter(type_: sa.types.TypeEngine[Any], dialect: Dialect) -> Converter | None:
    converter: Converter | None = type_.dialect_impl(dialect).bind_processor(dialect)
    return converter


def _result_converter(type_: sa.types.TypeEngine[Any], dialect: Dialect) -> Converter | None:
    converter: Converter | None = type_.dialect_impl(dialect).result_processor(dialect, None)
    return converter


class DriverPath(Protocol):
    def load(self, aggregate_id: UUID) -> list[Row]:
        """The rows of ``sql.LOAD`` for one aggregate, converted as SQLAlchemy converts them."""
        ...

    def append(self, rows: AppendRows) -> list[Row]:
        """Insert the rows in one serialised transaction; the (position, event id) of events."""
        ...


def driver_path(
    engine: Engine, load: ExecutableReturnsRows, statements: AppendStatements
) -> DriverPath | None:
    """The driver path for this engine, or ``None`` when its driver has none (MSSQL)."""
    if engine.dialect.name == "sqlite" and engine.dialect.driver == "pysqlite":
        return SqliteDriverPath(engine, load, statements)
    if engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
        return PostgresDriverPath(engine, load, statements)
    return None


@dataclass
class _Compiled:
    load: CompiledStatement
    guard: CompiledStatement
    events: CompiledStatement
    snapshots: CompiledStatement
    lock: str | None = None


@dataclass
class _BaseDriverPath:
    engine: Engine
    load_statement: ExecutableReturnsRows
    statements: AppendStatements
    _compiled: _Compiled | None = field(default=None, init=False)

    def _statements(self) -> _Compiled:
        # Compiled on first use, once a connection has initialised the dialect (server version).
        if self._compiled is None:
            dialect, s = self.engine.dialect, self.statements
            self._compiled = _Compiled(
                load=CompiledStatement(self.load_statement, dialect),
                guard=CompiledStatement(s.guard_inbox, dialect),
                events=CompiledStatement(s.insert_events, dialect, s.event_columns),
                snapshots=CompiledStatement(s.insert_snapshots, dialect, s.snapshot_columns),
                lock=str(s.lock.compile(dialect=dialect)) if s.lock is not None else None,
            )
        return self._compiled

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        """A connection of the engine's pool; a driver error comes out as SQLAlchemy's."""
        proxy = self.engine.raw_connection()
        try:
            yield self._checked_out(proxy)
        except self.engine.dialect.loaded_dbapi.Error as error:
            raise self._wrapped(proxy, error) from error
        finally:
            self._check_in(proxy)

    def _checked_out(self, proxy: PoolProxiedConnection) -> Any:
        return proxy.driver_connection

    def _check_in(self, proxy: PoolProxiedConnection) -> None:
        proxy.close()

    def _wrapped(self, proxy: PoolProxiedConnection, error: Any) -> sa.exc.StatementError:
        dialect = self.engine.dialect
        invalidated = dialect.is_disconnect(error, proxy.dbapi_connection, None)
        if invalidated:
            proxy.invalidate(error)
        wrapped: sa.exc.StatementError = sa.exc.DBAPIError.instance(
            None,
            None,
            error,
            dialect.loaded_dbapi.Error,
            connection_invalidated=invalidated,
            dialect=dialect,
        )
        return wrapped


class SqliteDriverPath(_BaseDriverPath):
    """sqlite3, in autocommit mode as ``create_engine`` leaves it: a read takes no lock."""

    def load(self, aggregate_id: UUID) -> list[Row]:
        load = self._statements().load
        with self._connection() as connection:
            rows = connection.execute(load.sql, load.parameters({"aggregate_id": aggregate_id}))
            return [load.row(row) for row in rows.fetchall()]

    def append(self, rows: AppendRows) -> list[Row]:
        s = self._statements()
        with self._connection() as connection:
            cursor = connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                if rows.inbox is not None:
                    cursor.execute(s.guard.sql, s.guard.parameters(_message_key(rows.inbox)))
                inserted = [
                    s.events.row(cursor.execute(s.events.sql, s.events.parameters(row)).fetchone())
                    for row in rows.events
                ]
                if rows.snapshots:
                    cursor.executemany(
                        s.snapshots.sql, [s.snapshots.parameters(row) for row in rows.snapshots]
                    )
                cursor.execute("COMMIT")
            except BaseException:
                connection.rollback()
                raise
            finally:
                cursor.close()
        return inserted


class PostgresDriverPath(_BaseDriverPath):
    """psycopg 3, in autocommit mode while checked out, so a read is one round trip (and its
    statement is prepared on the server by psycopg after a few runs, as on the SQLAlchemy path).

    An append is one query of several statements, ``BEGIN; LOCK TABLE ...; INSERT ...; COMMIT``,
    its values bound on the client (``ClientCursor.mogrify``: quoted by libpq's rules): one round
    trip, where statement by statement there are six. A pipeline would save the round trips too,
    but pays psycopg's per-statement machinery and measured slower. The statements run in order
    and the first one that fails ends the query (the transaction is then rolled back), so the
    error names the same constraint as it would statement by statement.
    """

    def _checked_out(self, proxy: PoolProxiedConnection) -> Any:
        connection = proxy.driver_connection
        assert connection is not None
        connection.autocommit = True
        return connection

    def _check_in(self, proxy: PoolProxiedConnection) -> None:
        from psycopg.pq import TransactionStatus

        connection = proxy.driver_connection
        if proxy.is_valid and connection is not None and not connection.closed:
            if connection.info.transaction_status == TransactionStatus.IDLE:
                # The SQLAlchemy path expects the pool's connections out of autocommit mode.
                connection.autocommit = False
            else:  # pragma: no cover - a failed rollback; do not hand the connection out again
                proxy.invalidate()
        proxy.close()

    def load(self, aggregate_id: UUID) -> list[Row]:
        load = self._statements().load
        with self._connection() as connection:
            rows = connection.execute(load.sql, load.parameters({"aggregate_id": aggregate_id}))
            return [load.row(row) for row in rows.fetchall()]

    def append(self, rows: AppendRows) -> list[Row]:
        from psycopg import ClientCursor

        s = self._statements()
        with self._connection() as connection, ClientCursor(connection) as cursor:
            bind = cursor.mogrify
            statements = ["BEGIN"] if s.lock is None else ["BEGIN", s.lock]
            if rows.inbox is not None:
                statements.append(bind(s.guard.sql, s.guard.parameters(_message_key(rows.inbox))))
            first_event = len(statements)
            statements += [bind(s.events.sql, s.events.parameters(row)) for row in rows.events]
            statements += [bind(s.snapshots.sql, s.snapshots.parameters(r)) for r in rows.snapshots]
            statements.append("COMMIT")
            try:
                cursor.execute(";\n".join(statements))
            except BaseException:
                connection.rollback()
                raise
            # The cursor holds one result per statement, in order, and starts on the first.
            events = range(first_event, first_event + len(rows.events))
            inserted: list[Row] = []
            index = 0
            while True:
                if index in events:
                    returned = cursor.fetchone()
                    assert returned is not None
                    inserted.append(s.events.row(returned))
                if not cursor.nextset():
                    break
                index += 1
        return inserted


def _message_key(inbox: Values) -> dict[str, Any]:
    return {"consumer": inbox["consumer"], "message_id": inbox["message_id"]}

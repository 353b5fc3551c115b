"""The command path of the SQL event store straight on the DB-API driver (sqlite3, psycopg 3),
without importing SQLAlchemy.

Every command loads one aggregate and appends one batch, and its relay pass reads the pending
events and moves the relay position. Through SQLAlchemy each statement costs around 100 µs of
Python on top of the database's own work, and importing SQLAlchemy and building the tables cost a
cold function most of its first request. Here:

- The SQL is the text SQLAlchemy compiled from the statements of
  :mod:`eventualshop.adapters.event_store_sql`, generated ahead of time into
  :mod:`eventualshop.adapters.sql_compiled` (see :mod:`~eventualshop.adapters.compile_sql`; a test
  compares the two), except PostgreSQL's append: the same statements written into the function
  of migration 0006 (a test compares what both paths store). Values go through small converters
  that do what SQLAlchemy's type processors do (on SQLite a UUID is stored as 32 hex digits and a
  timestamp as UTC text); a test holds them to SQLAlchemy's on sample values, so either path
  reads what the other one wrote.
- Connections come from a :class:`ConnectionSource`: the engine's pool when the store has an
  engine, or :class:`DirectConnections` (the driver's own connections, set up as ``create_engine``
  sets them up) for a store opened cold from a URL.
- Appends are serialised exactly as on the SQLAlchemy path: ``BEGIN IMMEDIATE`` on SQLite,
  ``LOCK TABLE events IN EXCLUSIVE MODE`` on PostgreSQL, and run the same statements in the same
  order (the inbox guard first) in one transaction. On PostgreSQL that transaction is one call of
  the ``eventualshop_append`` function (migration 0006): one round trip of one prepared statement
  (see :class:`PostgresDriverPath`).
- Driver errors come out as SQLAlchemy's exception classes, as on the SQLAlchemy path (SQLAlchemy
  is imported then, on the error path only).

MSSQL, and any other driver, keeps the SQLAlchemy path.
"""

from __future__ import annotations

import json
import logging
import re
import select
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit
from uuid import UUID

from eventualshop.adapters.postgres_bounds import bounded_libpq_uri
from eventualshop.adapters.sql_compiled import STATEMENTS
from eventualshop.kernel.environment import private_folder
from eventualshop.kernel.messages import to_utc

Row = Sequence[Any]
Values = Mapping[str, Any]
Converter = Callable[[Any], Any]

#: The newest migration's revision. A test checks it against Alembic's script head; it lets a
#: warm database be recognised without importing Alembic or SQLAlchemy.
HEAD_REVISION = "0007"

log = logging.getLogger(__name__)

#: How long a SQLite connection waits for another writer's lock before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 30_000


@dataclass(frozen=True, slots=True)
class AppendRows:
    """The rows one append inserts, as parameter dictionaries keyed by column.

    ``inbox`` is the command's inbox row: its consumer and message id are checked against the
    stored rejections (the outcome itself rides on the first event row).
    """

    inbox: Values | None
    events: Sequence[Values]
    snapshots: Sequence[Values] = ()
    #: Durable timers (``kernel.timers``), inserted in the same transaction as the events.
    scheduled: Sequence[Values] = ()


# --- values, converted as SQLAlchemy's type processors convert them -----------------------------


# Each converter passes ``None`` through itself: a wrapper that did so cost a Python call per
# value, about ten per command.


def _uuid_hex(value: UUID | None) -> str | None:
    return None if value is None else value.hex


def _uuid_of(text: str | None) -> UUID | None:
    return None if text is None else UUID(text)


def _sqlite_datetime(value: datetime | None) -> str | None:
    # SQLAlchemy's SQLite DATETIME storage format (UTC, no offset, always six digits of
    # microseconds), after UtcDateTime made the value UTC; a naive value is taken to be UTC.
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


def _from_sqlite_datetime(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).replace(tzinfo=UTC)


def _to_utc(value: datetime | None) -> datetime | None:
    return None if value is None else to_utc(value)


def _from_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    if value.utcoffset():
        return value.astimezone(UTC)
    return value if value.tzinfo is UTC else value.replace(tzinfo=UTC)


#: Per dialect, per kind (``compile_sql._kind``): (bind converter, result converter).
CONVERTERS: dict[str, dict[str, tuple[Converter, Converter]]] = {
    "sqlite": {
        "uuid": (_uuid_hex, _uuid_of),
        "utc_datetime": (_sqlite_datetime, _from_sqlite_datetime),
    },
    "postgresql": {
        "utc_datetime": (_to_utc, _from_utc),
    },
}


def _picker(order: tuple[str, ...]) -> Callable[[Values], tuple[Any, ...]]:
    if not order:
        return lambda _: ()
    pick = itemgetter(*order)
    if len(order) == 1:
        return lambda bound: (pick(bound),)  # itemgetter of one name returns the bare value
    return pick


class Statement:
    """One compiled statement of ``sql_compiled`` for one dialect, ready for the driver.

    ``parameters`` turns values keyed by bind name into what the driver takes (a tuple for
    SQLite's ``?``, a dict for psycopg's ``%(name)s``), with the constants the statement binds
    itself and each value converted; ``row`` converts a result row.
    """

    def __init__(self, dialect: str, compiled: Mapping[str, Any]) -> None:
        converters = CONVERTERS[dialect]
        self.sql: str = compiled["sql"]
        self._constants: dict[str, Any] = dict(compiled["constants"])
        self._converters = tuple(
            (name, converters[kind][0]) for name, kind in compiled["binds"].items()
        )
        order: tuple[str, ...] | None = compiled["order"]
        # One C call picks the values in the placeholders' order (a generator cost a call per
        # value: about 35 per command).
        self._pick: Callable[[Values], tuple[Any, ...]] | None = (
            None if order is None else _picker(order)
        )
        self._results = tuple(
            (index, converters[kind][1]) for index, kind in compiled["results"].items()
        )

    def parameters(self, values: Values) -> Any:
        bound = {**self._constants, **values}
        for name, convert in self._converters:
            bound[name] = convert(bound[name])
        if self._pick is None:
            return bound
        return self._pick(bound)

    def row(self, row: Row) -> Row:
        if not self._results:
            return row
        converted = list(row)
        for index, convert in self._results:
            converted[index] = convert(converted[index])
        return converted


class Statements:
    """The command path's statements for one dialect (``sqlite`` or ``postgresql``)."""

    def __init__(self, dialect: str) -> None:
        compiled = STATEMENTS[dialect]
        self.load = Statement(dialect, compiled["load"])
        self.guard = Statement(dialect, compiled["guard_inbox"])
        self.events = Statement(dialect, compiled["insert_events"])
        self.snapshots = Statement(dialect, compiled["insert_snapshots"])
        self.scheduled = Statement(dialect, compiled["insert_scheduled"])
        self.pending = Statement(dialect, compiled["pending_outbox"])
        self.mark = Statement(dialect, compiled["mark_published"])
        self.revision = Statement(dialect, compiled["schema_revision"])
        lock = compiled.get("append_lock")
        self.lock: str | None = lock["sql"] if lock is not None else None


# --- connections ---------------------------------------------------------------------------------


class ConnectionSource(Protocol):
    def connection(self) -> AbstractContextManager[Any]:
        """A DB-API connection in autocommit mode, for one unit of work; a driver error comes
        out as SQLAlchemy's exception class."""
        ...

    def close(self) -> None: ...


def configure_sqlite(connection: sqlite3.Connection) -> None:
    """Every SQLite connection of the event store: WAL, ``synchronous=FULL``, a busy timeout, and
    no transaction handling of pysqlite's own (BEGIN is ours; see ``database.create_engine``)."""
    connection.isolation_level = None
    cursor = connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous = FULL")
    finally:
        cursor.close()


def _use_wal(cursor: Any) -> None:
    # WAL is a property of the file, set once. Switching needs a moment of exclusive access and
    # SQLite answers "database is locked" at once, busy timeout or not, while another connection
    # reads: processes that open a new file together retry until one of them has switched it.
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        (mode,) = cursor.execute("PRAGMA journal_mode").fetchone()
        if mode in ("wal", "memory"):
            return
        try:
            (mode,) = cursor.execute("PRAGMA journal_mode = WAL").fetchone()
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
        else:
            if mode == "wal":
                return
        if time.monotonic() > deadline:
            raise sqlite3.OperationalError(f"could not switch to WAL (journal_mode={mode})")
        time.sleep(0.005)


def wrapped(error: Exception, base: type[Exception], *, invalidated: bool) -> Exception:
    """A driver error as SQLAlchemy raises it (``IntegrityError``, ``OperationalError``)."""
    from sqlalchemy.exc import DBAPIError

    found: Exception = DBAPIError.instance(
        None, None, error, base, connection_invalidated=invalidated
    )
    return found


#: libpq's ``password`` connection parameter in a URI's query.
_PASSWORD_PARAMETER = re.compile(r"([?&]password=)[^&]*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class DriverUrl:
    """What :class:`DirectConnections` needs of a store URL: the dialect and how to connect."""

    dialect: str
    target: str  # a file path (SQLite) or a libpq connection URI (PostgreSQL)

    @classmethod
    def parse(cls, url: str) -> DriverUrl | None:
        """``sqlite:///file`` and ``postgresql[+psycopg]://…``; ``None`` for any other URL (an
        in-memory or URI-style SQLite database, another driver), which SQLAlchemy handles."""
        scheme, separator, rest = url.partition("://")
        if not separator:
            return None
        if scheme in ("sqlite", "sqlite+pysqlite"):
            path = rest.removeprefix("/")
            if not path or path == ":memory:" or path.startswith("file:") or "?" in path:
                return None
            return cls("sqlite", path)
        if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
            return cls("postgresql", f"postgresql://{rest}")
        return None

    def __repr__(self) -> str:  # a traceback's locals, a debugger: never the password
        return f"DriverUrl({self.dialect!r}, {self.shown()!r})"

    def shown(self) -> str:
        """The target as a message may show it (messages reach logs): a PostgreSQL URI's
        password, in its user part or as its ``password`` parameter, as ``***``."""
        if self.dialect != "postgresql":
            return self.target
        shown = self.target
        authority = urlsplit(shown).netloc
        credentials, at, host = authority.rpartition("@")
        if at and ":" in credentials:
            masked = f"{credentials.partition(':')[0]}:***@{host}"
            shown = shown.replace(authority, masked, 1)
        return _PASSWORD_PARAMETER.sub(r"\1***", shown)


#: Idle connections kept per dialect. A SQLite connection is a file handle: keep one per thread
#: of a busy server (``serve`` runs 16), since each new one costs its set-up (WAL, pragmas) on
#: the request that opens it. A PostgreSQL connection is a server process: keep a few.
KEEP_IDLE = {"sqlite": 32, "postgresql": 5}


class DirectConnections:
    """The driver's own connections, kept for reuse (a warm function keeps its few); no
    SQLAlchemy. A connection the driver reports broken is closed instead of kept."""

    def __init__(self, url: DriverUrl, *, keep: int | None = None) -> None:
        self.url = url
        self._keep = KEEP_IDLE[url.dialect] if keep is None else keep
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._closed = False
        self._error = self._driver_error()

    def _open(self) -> Any:
        if self.url.dialect == "sqlite":
            private_folder(Path(self.url.target).expanduser().parent)
            sqlite_connection = sqlite3.connect(
                self.url.target, check_same_thread=False, isolation_level=None
            )
            configure_sqlite(sqlite_connection)
            return sqlite_connection
        import psycopg

        # The bounds SQLAlchemy's engines have too (connect and statement timeouts, keepalives):
        # a server that took the connection and never answered hung a command for good.
        return psycopg.connect(bounded_libpq_uri(self.url.target), autocommit=True)

    def _driver_error(self) -> type[Exception]:
        if self.url.dialect == "sqlite":
            return sqlite3.Error
        import psycopg

        return psycopg.Error

    def connection(self) -> AbstractContextManager[Any]:
        return _Lease(self)

    def _take(self) -> Any:
        while True:
            with self._lock:
                found = self._idle.pop() if self._idle else None
            if found is None:
                break
            if not server_hung_up(found):
                return found
            # The server ended it while it was idle (a restart, a failover, an idle timeout):
            # a command on it would fail, answering 503 with the database up again.
            found.close()
        try:
            return self._open()
        except self._error as error:
            raise wrapped(error, self._error, invalidated=False) from error

    def _forget_idle(self) -> None:
        """Close every idle connection: one turned out broken, and a server that dropped one
        has most likely dropped them all (every later request would fail on the next)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _give_back(self, connection: Any, keep: bool) -> None:
        with self._lock:
            if keep and not self._closed and len(self._idle) < self._keep:
                self._idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle, self._closed = self._idle, [], True
        for connection in idle:
            connection.close()


def own_or_shared(
    url: DriverUrl, shared: DirectConnections | None, *, keep: int | None = None
) -> tuple[DirectConnections, bool]:
    """The connections a store on ``url`` uses, and whether it owns them (closes them): its own
    by default, else ``shared`` ones, which whoever handed them over owns (the composition root
    shares one set per database). Shared connections to another database are refused."""
    if shared is None:
        return DirectConnections(url, keep=keep), True
    if shared.url != url:
        raise ValueError(f"connections to {shared.url.shown()} given for a store at {url.shown()}")
    return shared, False


class _Lease:
    """One connection of a :class:`DirectConnections` for a ``with`` block: back to the idle ones
    after it, closed instead when the block failed on anything but a sound driver error. A class
    rather than a ``@contextmanager`` generator: two are taken per command, and the generator's
    wrapper costs more Python calls than the work it wraps. One lease serves one ``with`` block:
    ``connection()`` makes a new one each time."""

    __slots__ = ("_connection", "_connections")

    def __init__(self, connections: DirectConnections) -> None:
        self._connections = connections

    def __enter__(self) -> Any:
        self._connection = self._connections._take()
        return self._connection

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: Any
    ) -> None:
        connections, connection = self._connections, self._connection
        if error is None:
            connections._give_back(connection, keep=True)
            return
        base = connections._error
        if isinstance(error, base):
            broken = True  # closed, should asking the driver fail too
            try:
                broken = _broken(connection)
            finally:
                connections._give_back(connection, keep=not broken)
                if broken:
                    connections._forget_idle()
            raise wrapped(error, base, invalidated=broken) from error
        connections._give_back(connection, keep=False)


def _broken(connection: Any) -> bool:
    if isinstance(connection, sqlite3.Connection):
        return False
    return bool(connection.closed or connection.broken)


def server_hung_up(connection: Any) -> bool:
    """Whether the server has ended an idle PostgreSQL connection, asked without a round trip.

    An idle connection in autocommit mode has nothing to read: the server speaks only when
    asked. Something to read means the server has said goodbye (``terminating connection due to
    administrator command`` on a restart or ``pg_terminate_backend``, an idle-session timeout)
    or closed the socket. A poll of the socket answers that in one system call, where a ping
    (SQLAlchemy's ``pool_pre_ping``) would cost a command a round trip. A server that vanished
    without a word is not seen here: the command fails, and every idle connection is dropped
    with the broken one (``_Lease``). SQLite connections never go stale."""
    if isinstance(connection, sqlite3.Connection):
        return False
    if connection.closed or connection.broken:
        return True
    try:
        readable, _, _ = select.select([connection.fileno()], [], [], 0)
    except (OSError, ValueError):  # no socket any more
        return True
    return bool(readable)


# --- the paths -----------------------------------------------------------------------------------


class DriverPath(Protocol):
    def load(self, aggregate_id: UUID, aggregate_type: str) -> list[Row]:
        """The rows of ``LOAD`` for one aggregate, converted as SQLAlchemy converts them."""
        ...

    def append(self, rows: AppendRows) -> list[Row]:
        """Insert the rows in one serialised transaction; the (position, event id) of events."""
        ...

    def pending(self, limit: int) -> list[Row]:
        """The rows of ``PENDING_OUTBOX`` (event columns, then its context), at most ``limit``."""
        ...

    def mark_published(self, through: int, now: datetime) -> int:
        """Move the relay position forward to ``through``; how many rows moved (0 or 1)."""
        ...

    def schema_revision(self) -> list[str] | None:
        """The Alembic revisions the database is at (``None``: no ``alembic_version`` table)."""
        ...


def driver_path(dialect: str, source: ConnectionSource) -> DriverPath | None:
    """The driver path for a dialect (``engine.dialect.name``), or ``None`` when it has none."""
    if dialect == "sqlite":
        return SqliteDriverPath(Statements("sqlite"), source)
    if dialect == "postgresql":
        return PostgresDriverPath(Statements("postgresql"), source)
    return None


class _BaseDriverPath:
    def __init__(self, statements: Statements, source: ConnectionSource) -> None:
        self.s = statements
        self.source = source

    def _query(self, statement: Statement, values: Values) -> list[Row]:
        with self.source.connection() as connection:
            rows = connection.execute(statement.sql, statement.parameters(values)).fetchall()
            return [statement.row(row) for row in rows]

    def load(self, aggregate_id: UUID, aggregate_type: str) -> list[Row]:
        values = {"aggregate_id": aggregate_id, "aggregate_type": aggregate_type}
        return self._query(self.s.load, values)

    def pending(self, limit: int) -> list[Row]:
        return self._query(self.s.pending, {"limit": limit})

    def mark_published(self, through: int, now: datetime) -> int:
        with self.source.connection() as connection:
            cursor = connection.execute(
                self.s.mark.sql, self.s.mark.parameters({"through": through, "now": now})
            )
            return int(cursor.rowcount)

    def schema_revision(self) -> list[str] | None:
        with self.source.connection() as connection:
            try:
                rows = connection.execute(self.s.revision.sql).fetchall()
            except Exception as error:
                if "alembic_version" not in str(error):
                    raise
                return None  # no alembic_version table: the schema was never migrated
            return [str(row[0]) for row in rows]


class SqliteDriverPath(_BaseDriverPath):
    """sqlite3 in autocommit mode (``isolation_level=None``): a read takes no lock."""

    def append(self, rows: AppendRows) -> list[Row]:
        s = self.s
        with self.source.connection() as connection:
            cursor = connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                if rows.inbox is not None:
                    cursor.execute(s.guard.sql, s.guard.parameters(_message_key(rows.inbox)))
                inserted = [
                    s.events.row(cursor.execute(s.events.sql, s.events.parameters(row)).fetchone())
                    for row in rows.events
                ]
                for statement, values in (
                    (s.snapshots, rows.snapshots),
                    (s.scheduled, rows.scheduled),
                ):
                    if values:
                        cursor.executemany(statement.sql, [statement.parameters(r) for r in values])
                cursor.execute("COMMIT")
            except BaseException:
                connection.rollback()
                raise
            finally:
                cursor.close()
        return inserted


def _json_value(value: Any) -> str:
    """What the JSON encoder cannot write itself: ids as text, timestamps as ISO 8601 in UTC (as
    the statements bind them), each parsed by the server into its column's type."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return to_utc(value).isoformat()
    raise TypeError(f"no JSON form for {type(value).__name__}")


#: The batch document of ``eventualshop_append``. The C encoder: a batch is encoded per append.
_BATCH_JSON = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, check_circular=False, default=_json_value
)
_APPEND_CALL = "SELECT new_position, new_event_id FROM eventualshop_append(%s::json)"


class PostgresDriverPath(_BaseDriverPath):
    """psycopg 3 in autocommit mode, so a read is one round trip (and its statement is prepared
    on the server by psycopg after a few runs, as on the SQLAlchemy path).

    An append is one call of ``eventualshop_append`` (migration 0006), which runs the SQLAlchemy
    path's statements in its order under its lock: one round trip of one statement that psycopg
    prepares, with the batch as its one JSON parameter, and whose own statements PL/pgSQL plans
    once per connection. Sent as text, the same statements cost the server a parse and a plan
    each on every append and the client the quoting of every value (measured, interleaved in one
    process: 2,113 -> 1,880 µs per command, client CPU 1,033 -> 888 µs; an array parameter per
    column instead of the document was slower than the text). A database without the function
    (not migrated yet, or downgraded) gets the statements as one query of several
    (``_append_statements``, with a warning): one round trip too, under the same lock, so
    instances that were running before the migration keep appending beside new ones.
    """

    #: How long a database that said it has no function is taken at its word (then asked again:
    #: a migration may have run in another process meanwhile).
    RECHECK_FUNCTION_S = 60.0

    def __init__(self, statements: Statements, source: ConnectionSource) -> None:
        super().__init__(statements, source)
        #: When the database last said it has no function (``None``: it has, as far as known).
        self._missing_since: float | None = None

    def append(self, rows: AppendRows) -> list[Row]:
        missing_since = self._missing_since
        if missing_since is not None and time.monotonic() - missing_since < self.RECHECK_FUNCTION_S:
            return self._append_statements(rows)
        from psycopg.errors import UndefinedFunction

        inbox = rows.inbox
        batch = _BATCH_JSON.encode(
            {
                "consumer": None if inbox is None else inbox["consumer"],
                "message_id": None if inbox is None else inbox["message_id"],
                "events": rows.events,
                "snapshots": rows.snapshots,
                "scheduled": rows.scheduled,
            }
        )
        with self.source.connection() as connection:
            try:
                # Autocommit: the call is its own transaction, committed when it returns.
                found = connection.execute(_APPEND_CALL, (batch,)).fetchall()
            except UndefinedFunction:
                if self._missing_since is None:
                    log.warning(
                        "the database has no eventualshop_append (migration 0006): appending "
                        "with separate statements, slower; run `eventualshop migrate`"
                    )
                self._missing_since = time.monotonic()
            else:
                self._missing_since = None
                return [self.s.events.row(row) for row in found]
        return self._append_statements(rows)

    def _append_statements(self, rows: AppendRows) -> list[Row]:
        """The append as one query of several statements, ``BEGIN; LOCK TABLE ...; INSERT ...;
        COMMIT``, its values bound on the client (``ClientCursor.mogrify``: quoted by libpq's
        rules). The statements run in order and the first one that fails ends the query (the
        transaction is then rolled back), so the error names the same constraint as it would
        statement by statement."""
        from psycopg import ClientCursor

        s = self.s
        with self.source.connection() as connection, ClientCursor(connection) as cursor:
            bind = cursor.mogrify
            statements = ["BEGIN"] if s.lock is None else ["BEGIN", s.lock]
            if rows.inbox is not None:
                statements.append(bind(s.guard.sql, s.guard.parameters(_message_key(rows.inbox))))
            first_event = len(statements)
            statements += [bind(s.events.sql, s.events.parameters(row)) for row in rows.events]
            statements += [bind(s.snapshots.sql, s.snapshots.parameters(r)) for r in rows.snapshots]
            statements += [bind(s.scheduled.sql, s.scheduled.parameters(r)) for r in rows.scheduled]
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

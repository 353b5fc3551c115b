"""Engines and schema migrations for the SQL adapters: one code path for SQLite, PostgreSQL, MSSQL.

``create_engine`` turns a URL from the environment into a configured engine; ``migrate`` brings a
database to the newest Alembic revision. Alembic is imported only when migrating, so a function
that never migrates does not pay for it at cold start.

The Alembic environment lives in ``migrations/`` next to this module; no alembic.ini is needed.
A new revision, after changing ``schema.py``::

    from alembic import command
    from eventualshop.adapters.database import alembic_config
    command.revision(alembic_config("sqlite:///var/dev.sqlite3"), "what changed", autogenerate=True)
"""

from __future__ import annotations

import io
import json
import logging
import zlib
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Dialect, Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry

# Defined beside the driver path, which must not import this module (it imports SQLAlchemy).
from eventualshop.adapters.postgres_bounds import postgres_connect_defaults
from eventualshop.adapters.sql_driver import (
    HEAD_REVISION,
    configure_sqlite,
    server_hung_up,
)
from eventualshop.kernel.environment import private_folder

log = logging.getLogger("eventualshop.migrations")

#: Execution option read by the SQLite "begin" hook: ``"IMMEDIATE"`` takes the write lock when the
#: transaction starts, ``"DEFERRED"`` (the default) on the first write, ``None`` emits no BEGIN at
#: all so a single SELECT runs in SQLite's own statement transaction (no lock held in between).
SQLITE_BEGIN = "eventualshop_sqlite_begin"

# A server that is down must fail a request in bounded time (then answered 503), not hang it.
#: Every server: seconds a request waits for a pooled connection when all are busy.
POOL_TIMEOUT_S = 5

MIGRATIONS = Path(__file__).with_name("migrations")

_MIGRATION_LOCK_KEY = zlib.crc32(b"eventualshop.kernel.migrations")  # the key of the first release


def normalize_url(url: str | URL) -> URL:
    """Pick this project's driver when a URL names only the database.

    ``postgresql://`` (and ``postgres://``) become ``postgresql+psycopg://`` (psycopg 3),
    ``mssql://`` becomes ``mssql+pyodbc://``; an explicit driver is kept.
    """
    parsed = make_url(url)
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "postgres":
        backend = "postgresql"
    if backend == "postgresql" and not driver:
        driver = "psycopg"
    elif backend == "mssql" and not driver:
        driver = "pyodbc"
    drivername = f"{backend}+{driver}" if driver else backend
    return parsed if drivername == parsed.drivername else parsed.set(drivername=drivername)


def create_engine(url: str | URL, **options: Any) -> Engine:
    """An engine for ``url``, configured for the event store; ``options`` go to SQLAlchemy.

    SQLite: WAL (readers never block the writer) with ``synchronous=FULL``, so a committed append
    survives a power loss, not only a crash of the process (WAL's ``NORMAL`` would not fsync at
    every commit). pysqlite's own transaction handling is switched off and SQLAlchemy emits BEGIN
    itself (the recipe of SQLAlchemy's SQLite dialect documentation), so writers can ask for
    ``BEGIN IMMEDIATE`` with the :data:`SQLITE_BEGIN` execution option and take the write lock up
    front, instead of failing to upgrade a read lock under contention. Every connection waits up
    to :data:`SQLITE_BUSY_TIMEOUT_MS` for the lock. The parent directory of the file is created.

    PostgreSQL runs on psycopg 3, MSSQL on pyodbc (``NVARCHAR(max)`` text, see ``schema``).
    """
    parsed = normalize_url(url)
    # An error's message never quotes the statement's values (an event's payload, a read model's
    # document, a password's hash): such messages reach logs and, shortened, the command line.
    options = {"hide_parameters": True, **options}
    if parsed.get_backend_name() == "postgresql":
        options.setdefault("json_serializer", json_for_postgres)
        engine = sa.create_engine(parsed, **_bounded_postgres(parsed, options))
        event.listen(engine, "checkout", _refuse_hung_up)
        return engine
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, **options)
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        private_folder(Path(database).expanduser().parent)
    engine = sa.create_engine(parsed, **options)
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def _bounded_postgres(url: URL, options: dict[str, Any]) -> dict[str, Any]:
    """Connect, statement and pool timeouts (see the constants), unless the URL or the caller
    sets its own; TCP keepalives so a connection to a vanished host is noticed."""
    connect_args = dict(options.get("connect_args", {}))
    for name, value in postgres_connect_defaults().items():
        if name not in url.query:
            connect_args.setdefault(name, value)
    bounded = {**options, "connect_args": connect_args}
    if options.get("poolclass") is None:
        bounded.setdefault("pool_timeout", POOL_TIMEOUT_S)
    return bounded


def json_for_postgres(value: Any) -> str:
    """JSON for a ``JSON``/``JSONB`` value on PostgreSQL, whose ``jsonb`` holds no NUL character
    (``\\u0000 cannot be converted to text``): one in a text is stored as U+FFFD. The HTTP edge
    refuses text with a NUL now; an event stored before that would otherwise fail its projection
    into a read model on PostgreSQL for good. The event keeps the NUL; only the view differs."""
    text = json.dumps(value)
    if "\\u0000" not in text:
        return text
    return json.dumps(_without_nul(value))


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nul(item) for item in value]
    return value


def _refuse_hung_up(dbapi_connection: Any, _record: ConnectionPoolEntry, _proxy: Any) -> None:
    # A pooled connection the server ended while it was idle (see ``server_hung_up``): the pool
    # opens a fresh one in its place instead of failing the request on it.
    if server_hung_up(dbapi_connection):
        raise DisconnectionError("the server closed this idle connection")


def _configure_sqlite_connection(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # pysqlite would BEGIN (deferred) lazily before the first write and never before a read;
    # with its handling off, the "begin" hook below decides how each transaction starts. The
    # same set-up as the driver path's own connections, so it lives there.
    configure_sqlite(dbapi_connection)


def _begin_sqlite_transaction(connection: Connection) -> None:
    mode = connection.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
    if mode is not None:
        connection.exec_driver_sql(f"BEGIN {mode}")


def mssql_applock(resource: str) -> sa.TextClause:
    """MSSQL: wait for an exclusive lock on ``resource`` held until the transaction ends."""
    return sa.text(
        "DECLARE @granted INT; "
        f"EXEC @granted = sp_getapplock @Resource = N'{resource}', @LockMode = 'Exclusive', "
        "@LockOwner = 'Transaction', @LockTimeout = -1; "
        f"IF @granted < 0 THROW 51000, 'could not lock {resource}', 1;"
    )


def alembic_config(url: str | URL | None = None) -> Any:
    """An ``alembic.config.Config`` for the event store's migrations; no alembic.ini needed.

    Typed ``Any`` so that importing this module does not import Alembic.
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        # ConfigParser interpolates '%': escape it, or a percent-encoded password breaks.
        rendered = normalize_url(url).render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def migrate(target: Engine | str | URL) -> list[str]:
    """Run ``alembic upgrade head`` on an engine or a URL, in one transaction; the revisions it
    applied (none when the schema was current).

    Safe to call from every process at start-up: an exclusive lock (``BEGIN IMMEDIATE`` on SQLite,
    an advisory lock on PostgreSQL, an application lock on MSSQL) makes concurrent callers wait,
    and whoever comes second finds the schema current and does nothing.
    """
    engine = target if isinstance(target, Engine) else create_engine(target)
    try:
        if is_current(engine):
            return []
        from alembic import command

        writer = engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        with writer.begin() as connection:
            lock = _migration_lock(connection.dialect)
            if lock is not None:
                connection.execute(lock)
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        applied: list[str] = config.attributes.get("applied") or []
        if applied:
            # One line per database, not Alembic's two and one per revision (35 lines on a first
            # `make run`); naming no password or query of the URL, which may hold one.
            log.info(
                "migrated the %s database %s to revision %s (applied %s)",
                engine.url.get_backend_name(),
                engine.url.database,
                HEAD_REVISION,
                ", ".join(applied),
            )
        return applied
    finally:
        if engine is not target:
            engine.dispose()


def _migration_lock(dialect: Dialect) -> sa.TextClause | None:
    if dialect.name == "postgresql":
        return sa.text(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})")
    if dialect.name == "mssql":
        return mssql_applock("eventualshop.migrations")
    return None


def schema_differences(engine: Engine) -> list[Any]:
    """What Alembic's autogenerate finds between the database and ``schema.metadata``.

    Empty when the migrations produced exactly the tables, columns, types, constraints and
    indexes the code expects; a deployment can check it before it serves.
    """
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from eventualshop.adapters.schema import metadata

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts=comparison_options(engine.dialect))
        return list(compare_metadata(context, metadata))


def comparison_options(dialect: Dialect) -> dict[str, Any]:
    """Alembic ``context.configure`` options for comparing the database with the metadata."""
    if dialect.name == "sqlite":
        return {"compare_type": True, "compare_server_default": _sqlite_compare_server_default}
    return {"compare_type": True, "compare_server_default": True}


def _sqlite_compare_server_default(
    _context: Any,
    _inspected_column: sa.Column[Any],
    _metadata_column: sa.Column[Any],
    inspected_default: str | None,
    metadata_default: Any,
    _rendered_metadata_default: str | None,
) -> bool | None:
    # SQLite has no identity columns (INTEGER PRIMARY KEY AUTOINCREMENT stands in for one), so a
    # declared Identity() reflects as no default at all: not a difference. Alembic judges the rest.
    if isinstance(metadata_default, sa.Identity) and inspected_default is None:
        return False
    return None


def migration_script(url: str | URL) -> str:
    """The SQL that ``migrate`` would run, for a DBA to review or apply (Alembic offline mode).

    Needs no connection and no driver, only the dialect: ``migration_script("mssql://")``.
    """
    from alembic import command

    output = io.StringIO()
    config = alembic_config(url)
    config.output_buffer = output
    command.upgrade(config, "head", sql=True)
    return output.getvalue()


def is_current(engine: Engine) -> bool:
    """Whether the schema is already at ``HEAD_REVISION`` (one cheap query, no Alembic)."""
    try:
        with engine.connect() as connection:
            found = connection.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    except sa.exc.DBAPIError:
        return False  # no alembic_version table yet
    return [row[0] for row in found] == [HEAD_REVISION]


def needs_migration(engine: Engine) -> bool:
    """Whether the schema lacks revisions this code has (none at all, or older ones). A store
    that does not answer raises the driver's error: it is not "unmigrated". A revision this code
    does not know is a later release's, which keeps the schema this one needs (roll forward)."""
    from alembic.script import ScriptDirectory

    with engine.connect() as connection:
        if not sa.inspect(connection).has_table("alembic_version"):
            return True
        found = [
            row[0] for row in connection.execute(sa.text("SELECT version_num FROM alembic_version"))
        ]
    if found == [HEAD_REVISION]:
        return False
    known = {
        script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()
    }
    return not found or all(revision in known for revision in found)

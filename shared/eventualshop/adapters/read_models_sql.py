"""SQL documents: the ``ReadModelStore`` port on SQLAlchemy Core (SQLite and PostgreSQL).

Layout: one table per collection, ``<prefix><collection>`` (lower-cased), with the columns
``id`` (primary key), ``version`` and ``body`` (the other fields: JSON text on SQLite, ``JSONB`` on
PostgreSQL). A table per collection rather than one shared ``documents`` table, because:

* an index on a field then covers that collection's rows only, so a bulk rebuild of one read model
  updates that read model's indexes and no other's (a shared table would maintain every
  collection's expression indexes on every insert, or need partial indexes that SQLite cannot
  match against a bound collection name);
* dropping or swapping a collection is a DDL statement, not a delete of all its rows.

Fields are compared and sorted through ``json_extract(body, '$.f')`` on SQLite and ``body -> 'f'``
(typed ``jsonb``: numbers compare as numbers, and sort numerically) on PostgreSQL, and
``ensure_indexes`` creates expression indexes on exactly those expressions, so the planners use
them. Field names are checked identifiers, spliced in as literals: an expression index is only
matched by a query that spells the same literal path, never by a bound parameter.

Tables are created on first write, not by Alembic: a collection's table is derived data named at
run time (a rebuild creates and swaps tables as it goes), so there is no fixed schema to migrate.
DDL runs under one lock per database (``BEGIN IMMEDIATE`` on SQLite, an advisory transaction lock
on PostgreSQL), so processes that start together do not race to create the same table or index.

``swap`` renames tables in one transaction (both databases have transactional DDL): readers of the
live table see the old rows until the commit and the new ones after; a PostgreSQL reader waiting
on the swap's lock looks the name up again once it gets the lock. ``swap_many`` renames all of
its pairs in that one transaction. The database resolves the names at every statement, so there
is no cache to settle after a swap (``swap_settle_seconds`` is 0). ``pinned`` opens one
transaction for the calling thread's operations inside it: a projector's cursor read, document
writes and cursor write for one delivery commit once, and a swap's DDL waits for that
transaction's locks instead of landing between its statements. A projector holding the cursors
and a swap holding the documents can each wait for the other: PostgreSQL then fails one of
them; a failed swap runs again (it wrote nothing), a failed delivery is retried.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError

from eventualshop.adapters.database import SQLITE_BEGIN, create_engine
from eventualshop.adapters.read_models_driver import TABLE_PREFIX, missing_table
from eventualshop.adapters.read_models_driver import table_name as collection_table
from eventualshop.adapters.sql_driver import KEEP_IDLE
from eventualshop.kernel.readmodel_checks import (
    check_changes,
    check_filters,
    check_indexes,
    check_page,
    check_sort,
    check_swaps,
    check_version,
    newest_per_id,
    split_document,
)
from eventualshop.kernel.readmodels import (
    Document,
    Filters,
    Scalar,
    Sort,
    said_of_read_models,
)

__all__ = ["SqlReadModelStore"]

_T = TypeVar("_T")

_DDL_LOCK_KEY = zlib.crc32(b"eventualshop.kernel.readmodels")
_PREFIX = re.compile(r"[a-z][a-z0-9_]{0,14}")
#: Every index this store creates is named ``rmx_<fields tag>_<suffix>``.
_INDEX_PREFIX = "rmx_"
#: Rows per statement batch in ``bulk_upsert`` (one transaction for the whole call).
_BATCH = 5_000
#: SQLite page cache during ``bulk_upsert``, in KiB (negative: a size, not a page count).
_BULK_CACHE_KIB = -65_536

#: Tries of a swap that PostgreSQL failed to break a lock cycle with a projector's transaction.
_SWAP_ATTEMPTS = 5
_BODY = sa.JSON().with_variant(JSONB(), "postgresql")


@dataclass(frozen=True, slots=True)
class _Collection:
    """A collection's table and the statements on it, built once per process."""

    table_name: str
    table: sa.Table
    get: sa.Select[Any]
    upsert: sa.Insert
    delete: sa.Delete


def _fields_tag(fields: Sequence[str]) -> str:
    return hashlib.sha1(",".join(fields).encode()).hexdigest()[:10]


def _deadlock(error: DBAPIError) -> bool:
    return getattr(error.orig, "sqlstate", None) == "40P01"


def _missing_table(error: DBAPIError) -> bool:
    return error.orig is not None and missing_table(error.orig)


@contextmanager
def _ours() -> Iterator[None]:
    """SQLAlchemy's errors out of this store say so: an outage of the database that holds the
    read models is the read-model store's (``read-model-store-unavailable``), as on MongoDB,
    not the event store's ``database-unavailable``, which SQLAlchemy's classes alone would
    make it. Only what the runtime counts as an outage is answered so; other errors keep
    their answer."""
    try:
        yield
    except sa.exc.SQLAlchemyError as error:
        said_of_read_models(error)
        raise


#: How many advisory locks the projectors' keys share (``SqlReadModelStore.hold``).
HOLD_BUCKETS = 64
#: The first half of their two-part keys: two-part advisory locks are a space of their own,
#: apart from the one-part locks of the migrations and the read models' DDL.
_HOLD_SPACE = zlib.crc32(b"eventualshop.kernel.projection.hold") & 0x7FFFFFFF
#: The transaction's locks of the keys' buckets, in bucket order (``hashtextextended``:
#: PostgreSQL 11 and later).
_HOLD = sa.text(
    "SELECT pg_advisory_xact_lock(:space, bucket) FROM (SELECT DISTINCT "
    "CAST(mod(hashtextextended(key, 0), :buckets) AS integer) AS bucket "
    "FROM unnest(CAST(:keys AS text[])) AS key ORDER BY bucket) AS held"
)


class SqlReadModelStore:
    """``ReadModelStore`` on a SQLAlchemy engine (create it with ``database.create_engine``)."""

    def __init__(
        self, engine: Engine, *, prefix: str = TABLE_PREFIX, owns_engine: bool = False
    ) -> None:
        if engine.dialect.name not in ("sqlite", "postgresql"):
            raise ValueError(f"read models live on SQLite or PostgreSQL, not {engine.dialect.name}")
        if not _PREFIX.fullmatch(prefix):
            raise ValueError(f"invalid table prefix {prefix!r}")
        self.engine = engine
        #: Of every collection's table name (``adapters.read_models_driver`` reads the same).
        self.prefix = prefix
        self._owns_engine = owns_engine
        self._postgres = engine.dialect.name == "postgresql"
        self._quote = engine.dialect.identifier_preparer.quote
        self._reader: Engine
        self._writer: Engine
        if self._postgres:
            self._reader = engine.execution_options(isolation_level="AUTOCOMMIT")
            self._writer = engine
        else:
            self._reader = engine.execution_options(**{SQLITE_BEGIN: None})
            self._writer = engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        self._lock = threading.Lock()
        self._collections: dict[str, _Collection] = {}
        #: Compiled finds by shape (see ``_compiled_find``).
        self._finds: dict[tuple[Any, ...], tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}
        #: Tables this process created or found; a swap or drop elsewhere is noticed on use.
        self._created: set[str] = set()
        #: The connection of the transaction a thread opened with ``pinned()``, if any.
        self._pinned = threading.local()

    @classmethod
    def from_url(
        cls, url: str | URL, *, prefix: str = TABLE_PREFIX, **engine_options: Any
    ) -> SqlReadModelStore:
        """A store on its own engine (SQLite in WAL mode, PostgreSQL on psycopg 3).

        On SQLite the pool keeps a connection per thread of a busy server: SQLAlchemy's default
        (5 kept, 10 more opened and closed as needed) made a listing under load open and set up
        a connection on most requests (a profile of the storefront listing under 12 clients)."""
        parsed = make_url(url)
        in_a_file = parsed.database not in (None, "", ":memory:")
        pooled = "poolclass" not in engine_options
        if parsed.get_backend_name() == "sqlite" and in_a_file and pooled:
            keep = KEEP_IDLE["sqlite"]
            engine_options = {"pool_size": keep, "max_overflow": keep, **engine_options}
        return cls(create_engine(url, **engine_options), prefix=prefix, owns_engine=True)

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    # --- reads -----------------------------------------------------------------------------------

    def get(self, collection: str, id: str) -> Document | None:
        target = self._collection(collection)
        row = self._read(lambda c: c.execute(target.get, {"id": id}).first(), None, target)
        if row is None:
            return None
        version, body = row
        return {"id": id, "version": version, **body}

    def find(
        self,
        collection: str,
        filters: Filters | None = None,
        *,
        sort: Sort | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Document]:
        checked = check_filters(filters)
        order = check_sort(sort)
        check_page(limit, offset)
        if limit == 0:
            return []
        target = self._collection(collection)
        if getattr(self._pinned, "connection", None) is not None:
            statement = self._find_statement(target.table, checked, order, limit, offset)
            rows: Sequence[Any] = self._read(lambda c: list(c.execute(statement).all()), [], target)
            return [{"id": row[0], "version": row[1], **row[2]} for row in rows]
        # The busiest reads (the storefront listing) run SQL compiled once per shape of query,
        # straight on the driver: building and compiling the statement and processing its
        # results through SQLAlchemy cost several times what the database does.
        sql, names, constants = self._compiled_find(
            target, tuple(checked.items()), order, limit, offset
        )
        values = constants | self._find_values(checked, limit, offset)
        parameters: Any = values if names is None else tuple(values[n] for n in names)
        found: list[Any] = self._read(
            lambda c: list(c.exec_driver_sql(sql, parameters).all()), [], target
        )
        return [
            {
                "id": row[0],
                "version": row[1],
                **(json.loads(row[2]) if isinstance(row[2], str) else row[2]),
            }
            for row in found
        ]

    def _find_statement(
        self,
        table: sa.Table,
        filters: Mapping[str, Scalar],
        order: Sequence[tuple[str, str]],
        limit: int | None,
        offset: int,
        *,
        named: bool = False,
    ) -> sa.Select[Any]:
        statement = sa.select(table.c.id, table.c.version, table.c.body).where(
            *self._conditions(table, filters, named=named)
        )
        for field, direction in order:
            statement = statement.order_by(self._ordering(table, field, direction))
        if ("id", "asc") not in order and ("id", "desc") not in order:
            statement = statement.order_by(table.c.id)
        if limit is not None:
            statement = statement.limit(sa.bindparam("limit", type_=sa.Integer) if named else limit)
        if offset:
            statement = statement.offset(
                sa.bindparam("offset", type_=sa.Integer) if named else offset
            )
        return statement

    def _compiled_find(
        self,
        target: _Collection,
        filters: tuple[tuple[str, Scalar], ...],
        order: Sequence[tuple[str, str]],
        limit: int | None,
        offset: int,
    ) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
        """The SQL of a find of this shape (fields filtered and their values' types, the order,
        whether it has a limit and an offset), for a positional driver its parameters' order, and
        the values the statement binds itself (SQLite's ``OFFSET`` after a ``LIMIT``); the
        other values are bound at each call."""
        shape = (
            target.table_name,
            # A value's type picks its bind's type (and PostgreSQL's cast of it).
            tuple((field, type(value).__name__) for field, value in filters),
            tuple(order),
            limit is not None,
            bool(offset),
        )
        found = self._finds.get(shape)
        if found is None:
            # The values are bound parameters, never part of the compiled text.
            statement = self._find_statement(
                target.table, dict(filters), order, limit, offset, named=True
            )
            compiled = statement.compile(dialect=self.engine.dialect)
            positions = compiled.positiontup
            names = tuple(positions) if compiled.positional and positions is not None else None
            ours = re.compile(r"filter_\d+|limit|offset")
            constants = {k: v for k, v in compiled.params.items() if not ours.fullmatch(k)}
            found = (compiled.string, names, constants)
            with self._lock:
                self._finds[shape] = found
        return found

    def _find_values(
        self, filters: Mapping[str, Scalar], limit: int | None, offset: int
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for index, (field, value) in enumerate(filters.items()):
            if value is None:
                continue
            jsonb = self._postgres and field not in ("id", "version")
            values[f"filter_{index}"] = json.dumps(value) if jsonb else value
        if limit is not None:
            values["limit"] = limit
        if offset:
            values["offset"] = offset
        return values

    def count(self, collection: str, filters: Filters | None = None) -> int:
        checked = check_filters(filters)
        target = self._collection(collection)
        table = target.table
        statement = (
            sa.select(sa.func.count()).select_from(table).where(*self._conditions(table, checked))
        )
        return int(self._read(lambda c: c.execute(statement).scalar_one(), 0, target))

    # --- writes ----------------------------------------------------------------------------------

    def upsert_if_newer(self, collection: str, document: Mapping[str, Any]) -> bool:
        id_, version, body = split_document(document)
        row = {"id": id_, "version": version, "body": body}
        # ON CONFLICT ... WHERE: the guard and the write are one statement, so an insert race
        # needs no catching: the second writer turns into a guarded update.
        return self._write(collection, lambda c, t: c.execute(t.upsert, row).rowcount == 1)

    def bulk_upsert(self, collection: str, documents: Iterable[Mapping[str, Any]]) -> int:
        rows = [
            {"id": id_, "version": version, "body": body}
            for id_, version, body in newest_per_id(documents)
        ]
        if not rows:
            return 0

        def upsert_all(connection: Connection, target: _Collection) -> int:
            written = 0
            with self._bulk_cache(connection):
                for start in range(0, len(rows), _BATCH):
                    batch = rows[start : start + _BATCH]
                    written += connection.execute(target.upsert, batch).rowcount
            return written

        return self._write(collection, upsert_all)

    def update_if_version(
        self,
        collection: str,
        id: str,
        expected_version: int,
        changes: Mapping[str, Any],
        new_version: int,
    ) -> bool:
        check_version(expected_version)
        return self._update(
            collection, id, changes, new_version, lambda t: t.c.version == expected_version
        )

    def update_if_older(
        self, collection: str, id: str, changes: Mapping[str, Any], new_version: int
    ) -> bool:
        return self._update(
            collection, id, changes, new_version, lambda t: t.c.version < new_version
        )

    def _update(
        self,
        collection: str,
        id_: str,
        changes: Mapping[str, Any],
        new_version: int,
        guard: Callable[[sa.Table], sa.ColumnElement[bool]],
    ) -> bool:
        check_version(new_version)
        patch = check_changes(changes)

        def update(connection: Connection, target: _Collection) -> bool:
            table = target.table
            values: dict[str, Any] = {"version": new_version}
            if patch:
                values["body"] = self._patched_body(table, patch)
            statement = sa.update(table).where(table.c.id == id_, guard(table)).values(values)
            return connection.execute(statement).rowcount == 1

        return self._write(collection, update)

    def delete(self, collection: str, id: str) -> bool:
        return self._write(collection, lambda c, t: c.execute(t.delete, {"id": id}).rowcount == 1)

    def delete_many(self, collection: str, filters: Filters) -> int:
        checked = check_filters(filters)

        def delete(connection: Connection, target: _Collection) -> int:
            table = target.table
            statement = sa.delete(table).where(*self._conditions(table, checked))
            return int(connection.execute(statement).rowcount)

        return self._write(collection, delete)

    # --- collections -----------------------------------------------------------------------------

    def ensure_indexes(self, collection: str, indexes: Sequence[Sequence[str]]) -> None:
        wanted = [fields for fields in check_indexes(indexes) if fields != ("id",)]
        target = self._collection(collection)
        with self._ddl() as connection:
            target.table.create(connection, checkfirst=True)
            existing = self._index_tables(connection)
            on_table = {name for name, table in existing.items() if table == target.table_name}
            for fields in wanted:
                tag = f"{_INDEX_PREFIX}{_fields_tag(fields)}_"
                if any(name.startswith(tag) for name in on_table):
                    continue
                # Named after its table when it is created; a table renamed by a swap keeps its
                # indexes, so a later table of that name may find the name taken: then a random one.
                name = tag + hashlib.sha1(target.table_name.encode()).hexdigest()[:8]
                if name in existing:
                    name = tag + secrets.token_hex(4)
                connection.exec_driver_sql(self._create_index(name, target.table_name, fields))
                existing[name] = target.table_name
                on_table.add(name)
        with self._lock:
            self._created.add(target.table_name)

    def drop(self, collection: str) -> None:
        target = self._collection(collection)
        with self._ddl() as connection:
            target.table.drop(connection, checkfirst=True)
        with self._lock:
            self._created.discard(target.table_name)

    def swap(self, fresh: str, live: str) -> None:
        self.swap_many([(fresh, live)])

    def swap_many(self, pairs: Sequence[tuple[str, str]]) -> None:
        tables = [
            (self._collection(fresh), self._collection(live)) for fresh, live in check_swaps(pairs)
        ]
        names = [t.table_name for pair in tables for t in pair]
        if len(set(names)) != len(names):  # names differing in case only: one table
            raise ValueError(f"cannot swap {list(pairs)!r}: two names of one table")
        for attempt in range(_SWAP_ATTEMPTS):
            try:
                self._swap(tables)
                break
            except DBAPIError as error:
                # A projector's transaction (``pinned``) may hold one of the tables and wait for
                # another this swap holds: PostgreSQL breaks that cycle by failing one side. The
                # swap wrote nothing then, and runs again once the projector has committed.
                if not _deadlock(error) or attempt == _SWAP_ATTEMPTS - 1:
                    raise
        with self._lock:
            for source, target in tables:
                self._created.discard(source.table_name)
                self._created.add(target.table_name)

    def _swap(self, tables: Sequence[tuple[_Collection, _Collection]]) -> None:
        # One transaction: readers see every pair swapped or none.
        with self._ddl() as connection:
            for source, target in tables:
                source.table.create(connection, checkfirst=True)
                target.table.drop(connection, checkfirst=True)
                connection.exec_driver_sql(
                    f"ALTER TABLE {self._quote(source.table_name)} "
                    f"RENAME TO {self._quote(target.table_name)}"
                )

    @property
    def swap_settle_seconds(self) -> float:
        """0: names are table names, resolved by the database at every statement."""
        return 0.0

    def pinned(self) -> AbstractContextManager[None]:
        """One transaction for the thread's operations inside: a projector's cursor read, its
        document writes and its cursor write for one delivery commit together (one commit
        instead of one per write), and a swap waits for it instead of landing in between.
        Nested blocks join the outer one."""
        if getattr(self._pinned, "connection", None) is not None:
            return nullcontext()
        return self._transaction()

    def hold(self, *keys: str) -> None:
        """PostgreSQL: transaction-level advisory locks, released at the block's commit. Two
        deliveries of one inventory, each filling a gap, wrote its item documents in different
        orders and deadlocked (a probe under load: 293 in a minute, each a 500 the broker
        retried). SQLite has one writer at a time already.

        The keys share ``HOLD_BUCKETS`` locks, taken in one statement and in one order: a
        catch-up run of 500 aggregates takes at most that many (each lock is a slot of the
        server's shared lock table, ``max_locks_per_transaction`` x connections), two runs
        cannot wait on each other, and unrelated aggregates meet in a bucket rarely."""
        connection: Connection | None = getattr(self._pinned, "connection", None)
        if connection is not None and self._postgres and keys:
            held = {"space": _HOLD_SPACE, "keys": sorted(set(keys)), "buckets": HOLD_BUCKETS}
            with _ours():
                connection.execute(_HOLD, held)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """The pinned transaction. Its begin and commit are this store's; what fails in the
        block is whoever's it is (a projector's event store, a store method that said so)."""
        inside: list[BaseException] = []
        try:
            with self._writer.begin() as connection:
                self._pinned.connection = connection
                try:
                    yield
                except BaseException as error:
                    inside.append(error)
                    raise
                finally:
                    self._pinned.connection = None
        except sa.exc.SQLAlchemyError as error:
            if not any(error is raised for raised in inside):
                said_of_read_models(error)
            raise

    # --- helpers ---------------------------------------------------------------------------------

    def _collection(self, name: str) -> _Collection:
        found = self._collections.get(name)
        if found is not None:
            return found
        table_name = collection_table(self.prefix, name)
        table = sa.Table(
            table_name,
            sa.MetaData(),
            sa.Column("id", sa.String, primary_key=True),
            sa.Column("version", sa.BigInteger, nullable=False),
            sa.Column("body", _BODY, nullable=False),
        )
        insert = (postgresql.insert if self._postgres else sqlite.insert)(table)
        upsert = insert.on_conflict_do_update(
            index_elements=[table.c.id],
            set_={"version": insert.excluded.version, "body": insert.excluded.body},
            where=insert.excluded.version > table.c.version,
        ).execution_options(
            # SQLAlchemy reads the row count of UPDATE and DELETE only, unless asked: it tells
            # whether the guard let the write through.
            preserve_rowcount=True
        )
        id_ = sa.bindparam("id", type_=sa.String)
        built = _Collection(
            table_name=table_name,
            table=table,
            get=sa.select(table.c.version, table.c.body).where(table.c.id == id_),
            upsert=upsert,
            delete=sa.delete(table).where(table.c.id == id_),
        )
        with self._lock:
            return self._collections.setdefault(name, built)

    @_ours()
    def _read(self, action: Callable[[Connection], _T], default: _T, target: _Collection) -> _T:
        pinned: Connection | None = getattr(self._pinned, "connection", None)
        if pinned is not None:
            # A failed statement spoils a PostgreSQL transaction, so the table is made sure of
            # first instead of reading a missing one as empty.
            self._ensure_table(target)
            return self._in_pinned(pinned, target, action)
        try:
            with self._reader.connect() as connection:
                return action(connection)
        except DBAPIError as error:
            # A collection nobody wrote yet (or dropped) is empty, not an error.
            if _missing_table(error):
                return default
            raise

    @_ours()
    def _write(self, collection: str, action: Callable[[Connection, _Collection], _T]) -> _T:
        target = self._collection(collection)
        self._ensure_table(target)
        pinned: Connection | None = getattr(self._pinned, "connection", None)
        if pinned is not None:
            return self._in_pinned(pinned, target, lambda c: action(c, target))
        try:
            with self._writer.begin() as connection:
                return action(connection, target)
        except DBAPIError as error:
            if not _missing_table(error):
                raise
        # Another process dropped or swapped the table away since this one last saw it.
        with self._lock:
            self._created.discard(target.table_name)
        self._ensure_table(target)
        with self._writer.begin() as connection:
            return action(connection, target)

    def _in_pinned(
        self, connection: Connection, target: _Collection, action: Callable[[Connection], _T]
    ) -> _T:
        """Run in the pinned transaction. A table dropped or swapped away by another process
        fails the whole transaction (nothing half-written); the next attempt creates it."""
        try:
            return action(connection)
        except DBAPIError as error:
            if _missing_table(error):
                with self._lock:
                    self._created.discard(target.table_name)
            raise

    def _ensure_table(self, target: _Collection) -> None:
        if target.table_name in self._created:
            return
        with self._ddl() as connection:
            target.table.create(connection, checkfirst=True)
        with self._lock:
            self._created.add(target.table_name)

    @contextmanager
    def _ddl(self) -> Iterator[Connection]:
        """A connection for DDL; the block inside is this store's own statements."""
        pinned: Connection | None = getattr(self._pinned, "connection", None)
        with _ours():
            if pinned is not None:
                # Inside the pinned transaction: another connection would wait for its lock
                # (SQLite).
                self._lock_ddl(pinned)
                yield pinned
                return
            with self._writer.begin() as connection:
                self._lock_ddl(connection)
                yield connection

    def _lock_ddl(self, connection: Connection) -> None:
        if self._postgres:
            lock = sa.text("SELECT pg_advisory_xact_lock(:key)")
            connection.execute(lock, {"key": _DDL_LOCK_KEY})

    @contextmanager
    def _bulk_cache(self, connection: Connection) -> Iterator[None]:
        """SQLite: a larger page cache while a batch goes in, the connection's own one after.

        Ids arrive in random order, so every row lands on some page of the primary key and of each
        index; with SQLite's default 2 MiB cache those pages are read again and again once a
        collection outgrows it (measured: 60 % faster replay at 100,000 documents).
        """
        if self._postgres:
            yield
            return
        (previous,) = connection.exec_driver_sql("PRAGMA cache_size").one()
        connection.exec_driver_sql(f"PRAGMA cache_size = {_BULK_CACHE_KIB}")
        try:
            yield
        finally:
            # Never let the reset hide the batch's own error: at worst the cache stays large.
            with suppress(DBAPIError):
                connection.exec_driver_sql(f"PRAGMA cache_size = {int(previous)}")

    def _index_tables(self, connection: Connection) -> dict[str, str]:
        """This store's indexes in the database (any table), by name: the table of each."""
        if self._postgres:
            query = sa.text(
                "SELECT indexname, tablename FROM pg_indexes WHERE schemaname = current_schema()"
            )
        else:
            query = sa.text("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index'")
        rows = connection.execute(query).all()
        return {name: table for name, table in rows if name.startswith(_INDEX_PREFIX)}

    def _field_sql(self, field: str) -> str:
        if field in ("id", "version"):
            return field
        if self._postgres:
            return f"(body -> '{field}')"
        return f"json_extract(body, '$.{field}')"

    def _create_index(self, name: str, table_name: str, fields: Sequence[str]) -> str:
        # PostgreSQL: NULLS FIRST, so the index scans in the order ``find`` asks for (ascending
        # with nulls first like MongoDB and SQLite; read backwards, descending with nulls last).
        suffix = " NULLS FIRST" if self._postgres else ""
        columns = ", ".join(self._field_sql(f) + suffix for f in fields)
        return f"CREATE INDEX {self._quote(name)} ON {self._quote(table_name)} ({columns})"

    def _field(self, table: sa.Table, field: str) -> sa.ColumnElement[Any]:
        if field in ("id", "version"):
            column: sa.ColumnElement[Any] = table.c[field]
            return column
        if self._postgres:
            return table.c.body.op("->")(sa.literal_column(f"'{field}'"))
        return sa.func.json_extract(table.c.body, sa.literal_column(f"'$.{field}'"))

    def _conditions(
        self, table: sa.Table, filters: Mapping[str, Scalar], *, named: bool = False
    ) -> list[sa.ColumnElement[bool]]:
        """``named``: bound parameters ``filter_<n>`` without values, for a compiled find."""
        conditions: list[sa.ColumnElement[bool]] = []
        for index, (field, value) in enumerate(filters.items()):
            key = f"filter_{index}" if named else None
            expression = self._field(table, field)
            if value is None:
                # Missing and null alike, as in MongoDB (SQLite's json_extract gives NULL for both).
                condition: sa.ColumnElement[bool] = expression.is_(None)
                if self._postgres and field not in ("id", "version"):
                    condition = sa.or_(condition, expression == sa.literal_column("'null'::jsonb"))
                conditions.append(condition)
            elif self._postgres and field not in ("id", "version"):
                conditions.append(expression == sa.bindparam(key, value, type_=JSONB))
            else:
                conditions.append(expression == sa.bindparam(key, value))
        return conditions

    def _ordering(self, table: sa.Table, field: str, direction: str) -> sa.ColumnElement[Any]:
        expression = self._field(table, field)
        if direction == "asc":
            ordered = expression.asc()
            # PostgreSQL puts nulls last when ascending; everyone else first.
            return ordered.nulls_first() if self._postgres and field != "id" else ordered
        ordered = expression.desc()
        return ordered.nulls_last() if self._postgres and field != "id" else ordered

    def _patched_body(self, table: sa.Table, patch: Mapping[str, Any]) -> sa.ColumnElement[Any]:
        if self._postgres:
            # jsonb || jsonb replaces top-level keys and keeps JSON nulls as values.
            return table.c.body.op("||")(sa.bindparam(None, dict(patch), type_=JSONB))
        # json_set, not json_patch: a merge patch would delete a key set to null.
        arguments: list[Any] = []
        for field, value in patch.items():
            arguments.append(sa.literal_column(f"'$.{field}'"))
            arguments.append(sa.func.json(sa.bindparam(None, json.dumps(value), type_=sa.String)))
        return sa.func.json_set(table.c.body, *arguments)

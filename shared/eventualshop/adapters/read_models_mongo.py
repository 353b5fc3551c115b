"""MongoDB documents: the ``ReadModelStore`` port on pymongo.

One MongoDB collection per read model, ``_id`` = the document id, the other fields as they are.
Every version guard is part of the write's filter, so the check and the write are one atomic
document operation: ``replace_one({"_id": id, "version": {"$lt": v}}, doc, upsert=True)`` replaces
an older document or inserts a new one; when a document with an equal or higher version exists, the
upsert's insert fails with a duplicate key, which means "not newer" and is ignored.

The code keeps to what the ``nx-27017`` test server serves faithfully: ``_id`` always inside
replacement documents, plain ``$set`` updates without booleans (a change that sets one replaces
the document instead: ``_replace_matching``), no ``Decimal128`` (money is a string anyway), no
``$push`` with ``$each``. A filter on null is spelled ``{"$eq": None}``: nx-27017 counts
``{"f": None}`` wrongly (it misses explicit nulls in ``count_documents``), ``$eq`` is the same
query on a real server.

Swapping: ``renameCollection`` with ``dropTarget`` would be the native move, but it runs against
the ``admin`` database and nx-27017 neither does that correctly (it renames inside ``admin``) nor
supports ``dropTarget``. So read-model names resolve through aliases, all kept in one document of
``_readmodel_aliases``::

    {"_id": "_table", "seq": 7, "names": {name: {"target": collection, "retired": collection}}}

(no entry = the name itself). A swap (``swap_many`` too, whatever the number of pairs) is one
replace of that document, guarded by ``seq`` and retried when another store changed it first:
whoever reads the document sees all of the pairs swapped or none, so a projection's documents
and its cursors always belong to one generation. The collection a swap replaces is kept as
``retired`` until the next swap of that name (or a drop), so a reader that still uses the old
alias reads whole, old documents rather than a dropped, empty collection. (Stores before the
table kept one document per name, ``{"_id": name, "target": …, "retired": …}``: those are still
read, the table's entries win, and the first swap folds them into the table.)

Resolving, and why a rebuild waits after its swap:

* A store reads the whole table at once (one ``find``) and uses that snapshot for ``alias_ttl``
  seconds (1 by default): operations cost no look-up of their own, a store sends one per
  ``alias_ttl`` at most. The store that swaps installs the table it wrote at once.
* Any other store goes on using the replaced collection until its snapshot expires; what it
  writes there meanwhile lands in the retired collection, which is no longer live: it is lost,
  and the rebuild's catch-up pass applies those events again (their cursors went the same way,
  so the live cursors do not count them as applied). That is why the catch-up waits
  ``swap_settle_seconds`` (2 x ``alias_ttl``) after the swap: from then on, no operation that
  starts in any store uses names read before the swap.
* ``pinned()`` holds one snapshot for the calling thread for the block (a projector handles
  each event in one): were the snapshot renewed between reading a cursor and writing the
  documents, one delivery could read its cursor in one generation and write its documents (or
  its cursor) in the other, which neither the cursors nor the catch-up can repair. A snapshot
  is at most ``alias_ttl`` old when a block takes it; an operation in the block that would use
  it once it is ``swap_settle_seconds`` old raises :class:`StaleAliases` instead (the delivery
  fails and is redelivered), which is what bounds ``swap_settle_seconds``.

Ages are measured on each process's monotonic clock from the moment the ``find`` was sent, so
a snapshot is never younger than the table it holds. Every store on one database must use the
same ``alias_ttl``: a rebuild waits for its own store's ``swap_settle_seconds``.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pymongo import ASCENDING, DESCENDING, MongoClient, ReplaceOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError

from eventualshop.kernel.readmodel_checks import (
    check_changes,
    check_collection,
    check_filters,
    check_indexes,
    check_page,
    check_sort,
    check_swaps,
    check_version,
    newest_per_id,
    split_document,
)
from eventualshop.kernel.readmodels import Document, Filters, Scalar, Sort

__all__ = ["ALIASES", "MongoReadModelStore", "StaleAliases"]

#: The alias documents (the leading underscore keeps the name out of the read models' names).
ALIASES = "_readmodel_aliases"
#: The ``_id`` of the alias table (no collection can be named so: names start with a letter).
TABLE = "_table"
#: Seconds a store uses a snapshot of the alias table before reading it again.
ALIAS_TTL = 1.0
_DUPLICATE_KEY = 11000
#: How often a change of the alias table is tried when other stores keep changing it first.
_CHANGE_ATTEMPTS = 20

_Raw = dict[str, Any]
#: name -> {"target": collection, "retired": collection (optional)}
_Names = dict[str, dict[str, str]]


class StaleAliases(RuntimeError):
    """A pinned block outlived its aliases (see the module's docstring): deliver the event again."""


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """The alias table as read at ``read_at`` (``time.monotonic()`` when the read was sent)."""

    seq: int  # 0: no table document yet
    names: Mapping[str, Mapping[str, str]]
    read_at: float

    def physical(self, name: str) -> str:
        entry = self.names.get(name)
        return name if entry is None else entry["target"]


class _Pin(threading.local):
    depth = 0
    snapshot: _Snapshot | None = None


def _key(field: str) -> str:
    return "_id" if field == "id" else field


def _query(filters: Mapping[str, Scalar]) -> _Raw:
    return {_key(f): {"$eq": None} if v is None else v for f, v in filters.items()}


def _document(raw: Mapping[str, Any]) -> Document:
    fields = dict(raw)
    return {"id": fields.pop("_id"), **fields}


#: pymongo client timeouts (milliseconds) this adapter sets unless told otherwise.
MONGO_TIMEOUTS_MS = {
    "serverSelectionTimeoutMS": 3_000,
    "connectTimeoutMS": 3_000,
    "socketTimeoutMS": 15_000,
}


@dataclass
class _Flight:
    """One read of the alias table, and its answer once ``done`` is set."""

    done: threading.Event = field(default_factory=threading.Event)
    snapshot: _Snapshot | None = None
    error: Exception | None = None


class MongoReadModelStore:
    """``ReadModelStore`` on a pymongo database."""

    def __init__(
        self,
        database: Database[_Raw],
        *,
        client: MongoClient[_Raw] | None = None,
        alias_ttl: float = ALIAS_TTL,
    ):
        if alias_ttl <= 0:
            raise ValueError(f"alias_ttl must be positive, got {alias_ttl}")
        self.database = database
        self._client = client
        self._aliases: Collection[_Raw] = database[ALIASES]
        self.alias_ttl = alias_ttl
        self._snapshot: _Snapshot | None = None
        #: Held while the table is read or changed, so a refresh never replaces a newer table.
        self._table_lock = threading.Lock()
        #: The read of the table under way, whose answer every thread that needs one takes.
        self._flight: _Flight | None = None
        self._flight_lock = threading.Lock()
        self._pin = _Pin()

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        database: str | None = None,
        alias_ttl: float = ALIAS_TTL,
        **client_options: Any,
    ) -> MongoReadModelStore:
        """A store on its own client; the database is ``database``, the URL's, or "eventualshop".

        Timeouts are bounded unless the URL or the caller sets them (pymongo waits 30 s to find a
        server and forever for a reply by default): an unreachable server fails a request in a
        few seconds, answered 503 instead of hanging it.
        """
        for option, value in MONGO_TIMEOUTS_MS.items():
            if option.lower() not in url.lower():
                client_options.setdefault(option, value)
        client: MongoClient[_Raw] = MongoClient(url, **client_options)
        chosen = client[database] if database else client.get_default_database("eventualshop")
        return cls(chosen, client=client, alias_ttl=alias_ttl)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    # --- reads -----------------------------------------------------------------------------------

    def get(self, collection: str, id: str) -> Document | None:
        raw = self._collection(collection).find_one({"_id": id})
        return None if raw is None else _document(raw)

    def find(
        self,
        collection: str,
        filters: Filters | None = None,
        *,
        sort: Sort | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Document]:
        query = _query(check_filters(filters))
        order = [(_key(f), ASCENDING if d == "asc" else DESCENDING) for f, d in check_sort(sort)]
        check_page(limit, offset)
        if limit == 0:  # pymongo reads a limit of 0 as "no limit"
            return []
        if not any(key == "_id" for key, _ in order):
            order.append(("_id", ASCENDING))
        cursor = self._collection(collection).find(query, sort=order, skip=offset, limit=limit or 0)
        return [_document(raw) for raw in cursor]

    def count(self, collection: str, filters: Filters | None = None) -> int:
        return self._collection(collection).count_documents(_query(check_filters(filters)))

    # --- writes ----------------------------------------------------------------------------------

    def upsert_if_newer(self, collection: str, document: Mapping[str, Any]) -> bool:
        id_, version, body = split_document(document)
        try:
            result = self._collection(collection).replace_one(
                {"_id": id_, "version": {"$lt": version}},
                {"_id": id_, "version": version, **body},
                upsert=True,
            )
        except DuplicateKeyError:
            return False  # stored version >= version, or another writer inserted first
        return result.matched_count == 1 or result.upserted_id is not None

    def bulk_upsert(self, collection: str, documents: Iterable[Mapping[str, Any]]) -> int:
        requests = [
            ReplaceOne(
                {"_id": id_, "version": {"$lt": version}},
                {"_id": id_, "version": version, **body},
                upsert=True,
            )
            for id_, version, body in newest_per_id(documents)
        ]
        if not requests:
            return 0
        try:
            result = self._collection(collection).bulk_write(requests, ordered=False)
        except BulkWriteError as error:
            details: Mapping[str, Any] = error.details
            errors = details.get("writeErrors", [])
            if details.get("writeConcernErrors") or any(
                e.get("code") != _DUPLICATE_KEY for e in errors
            ):
                raise
            return int(details.get("nMatched", 0)) + int(details.get("nUpserted", 0))
        return result.matched_count + result.upserted_count

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
            collection, {"_id": id, "version": expected_version}, changes, new_version
        )

    def update_if_older(
        self, collection: str, id: str, changes: Mapping[str, Any], new_version: int
    ) -> bool:
        return self._update(
            collection, {"_id": id, "version": {"$lt": new_version}}, changes, new_version
        )

    def _update(
        self, collection: str, query: _Raw, changes: Mapping[str, Any], new_version: int
    ) -> bool:
        check_version(new_version)
        fields = {**check_changes(changes), "version": new_version}
        if any(isinstance(value, bool) for value in fields.values()):
            return self._replace_matching(collection, query, fields)
        result = self._collection(collection).update_one(query, {"$set": fields})
        return result.matched_count == 1

    def _replace_matching(self, collection: str, query: _Raw, fields: Mapping[str, Any]) -> bool:
        """The update, as a replace of the document ``query`` matches: nx-27017 stores a boolean
        that ``$set`` writes as 1 or 0 (one in a replacement document stays a boolean), so an
        activated catalog answered ``"isActive": 1``. The replace is guarded by the version the
        document was read at: a write in between makes it miss, and ``query`` is asked again
        (each miss means the version moved on, so this ends). Only changes with a boolean pay
        the second round trip; a real MongoDB would need none of it."""
        target = self._collection(collection)
        while True:
            found = target.find_one(query)
            if found is None:
                return False
            guard = {"_id": found["_id"], "version": found["version"]}
            if target.replace_one(guard, {**found, **fields}).matched_count == 1:
                return True

    def delete(self, collection: str, id: str) -> bool:
        return self._collection(collection).delete_one({"_id": id}).deleted_count == 1

    def delete_many(self, collection: str, filters: Filters) -> int:
        query = _query(check_filters(filters))
        return self._collection(collection).delete_many(query).deleted_count

    # --- collections -----------------------------------------------------------------------------

    def ensure_indexes(self, collection: str, indexes: Sequence[Sequence[str]]) -> None:
        wanted = [fields for fields in check_indexes(indexes) if fields != ("id",)]
        if not wanted:
            return
        target = self._collection(collection)
        for fields in wanted:
            # create_index is idempotent for the same keys (and name): no need to look first.
            target.create_index([(_key(f), ASCENDING) for f in fields])

    def drop(self, collection: str) -> None:
        entry = self._read_table().names.get(check_collection(collection))
        if entry is None:
            self.database.drop_collection(collection)
            return
        self.database.drop_collection(entry["target"])
        if entry.get("retired"):

            def forget_retired(names: _Names) -> list[str]:
                retired = names[collection].pop("retired", None)
                return [retired] if retired else []

            self._change_table(forget_retired)

    def swap(self, fresh: str, live: str) -> None:
        self.swap_many([(fresh, live)])

    def swap_many(self, pairs: Sequence[tuple[str, str]]) -> None:
        checked = check_swaps(pairs)

        def swap_all(names: _Names) -> list[str]:
            doomed = []
            for fresh, live in checked:
                source = names.get(fresh, {}).get("target", fresh)
                current = names.get(live, {})
                replaced = current.get("target", live)
                retired = current.get("retired")
                # `fresh` moves on to a new, empty collection, so that nothing written to `fresh`
                # from now on lands in what `live` is about to show.
                names[fresh] = {"target": f"{fresh}__{secrets.token_hex(6)}"}
                names[live] = {"target": source, "retired": replaced}
                if retired and retired not in (source, replaced):
                    doomed.append(retired)
            return doomed

        self._change_table(swap_all)

    @property
    def swap_settle_seconds(self) -> float:
        """2 x ``alias_ttl``: see the module's docstring."""
        return 2 * self.alias_ttl

    @contextmanager
    def pinned(self) -> Iterator[None]:
        pin = self._pin
        outermost = pin.depth == 0
        pin.depth += 1
        try:
            yield
        finally:
            pin.depth -= 1
            if outermost:
                pin.snapshot = None

    def hold(self, *keys: str) -> None:
        del keys  # single-document writes guarded by version: no transaction to deadlock in

    def physical_name(self, name: str) -> str:
        """The collection that holds ``name``'s documents now (read from the table, not cached)."""
        return self._read_table().physical(check_collection(name))

    # --- helpers ---------------------------------------------------------------------------------

    def _physical(self, name: str) -> str:
        return self._current().physical(check_collection(name))

    def _collection(self, name: str) -> Collection[_Raw]:
        return self.database[self._physical(name)]

    def _current(self) -> _Snapshot:
        """The snapshot this operation uses: the pinned one in a pinned block, else one that is
        younger than ``alias_ttl`` (read again if needed)."""
        pin = self._pin
        if pin.depth:
            pinned = pin.snapshot
            if pinned is None:
                pinned = pin.snapshot = self._fresh_enough()
            elif time.monotonic() - pinned.read_at >= self.swap_settle_seconds:
                raise StaleAliases(
                    f"a pinned block used aliases for {self.swap_settle_seconds} s or more"
                )
            return pinned
        return self._fresh_enough()

    def _fresh_enough(self) -> _Snapshot:
        snapshot = self._snapshot
        if snapshot is not None and time.monotonic() - snapshot.read_at < self.alias_ttl:
            return snapshot
        # One read of the table at a time, and whoever needs it meanwhile takes its answer, a
        # failure included. Each thread used to read it in turn behind the lock, so with the
        # server stopped a request waited one server selection timeout (3 s) per thread ahead
        # of it: under serve's deliveries and retries, minutes, where the README gives 3 s.
        with self._flight_lock:
            flight, leading = self._flight, self._flight is None
            if flight is None:
                flight = self._flight = _Flight()
        if not leading:
            flight.done.wait()
            if flight.error is not None:
                raise copy.copy(flight.error)
            assert flight.snapshot is not None
            return flight.snapshot
        try:
            with self._table_lock:
                snapshot = self._snapshot  # another thread may have read it meanwhile
                if snapshot is None or time.monotonic() - snapshot.read_at >= self.alias_ttl:
                    snapshot = self._snapshot = self._read_table()
            flight.snapshot = snapshot
            return snapshot
        except Exception as error:  # a server that is down, or whatever else failed the read
            flight.error = error
            raise
        finally:
            with self._flight_lock:
                self._flight = None
            flight.done.set()

    def _read_table(self) -> _Snapshot:
        """The alias table as stored now: one ``find`` (legacy per-name documents included)."""
        read_at = time.monotonic()
        names: _Names = {}
        table: Mapping[str, Any] | None = None
        for raw in self._aliases.find({}):
            if raw["_id"] == TABLE:
                table = raw
            elif raw.get("target"):
                names[str(raw["_id"])] = _entry(raw)
        if table is None:
            return _Snapshot(0, names, read_at)
        names.update({str(name): _entry(entry) for name, entry in table["names"].items()})
        return _Snapshot(int(table["seq"]), names, read_at)

    def _change_table(self, change: Callable[[_Names], list[str]]) -> None:
        """Apply ``change`` to the alias table (which returns the collections to drop once the
        table no longer names them), as one guarded write; this store uses the result at once."""
        with self._table_lock:
            for _ in range(_CHANGE_ATTEMPTS):
                current = self._read_table()
                names = {name: dict(entry) for name, entry in current.names.items()}
                doomed = change(names)
                seq = current.seq + 1
                table = {"_id": TABLE, "seq": seq, "names": names}
                written_at = time.monotonic()
                if not self._write_table(current.seq, table):
                    continue  # another store changed the table since it was read
                self._snapshot = _Snapshot(seq, names, written_at)
                # The pinned snapshots of this store's other threads keep the old names until
                # their blocks end: like other stores', they are why a rebuild settles.
                for collection in doomed:
                    self.database.drop_collection(collection)
                return
        raise RuntimeError(f"the read-model alias table kept changing: {_CHANGE_ATTEMPTS} tries")

    def _write_table(self, read_seq: int, table: _Raw) -> bool:
        """Write ``table`` if the stored one is still at ``read_seq`` (0: none); whether it was."""
        if read_seq == 0:
            try:
                self._aliases.insert_one(table)
            except DuplicateKeyError:
                return False
            return True
        result = self._aliases.replace_one({"_id": TABLE, "seq": read_seq}, table)
        return result.matched_count == 1


def _entry(raw: Mapping[str, Any]) -> dict[str, str]:
    entry = {"target": str(raw["target"])}
    if raw.get("retired"):
        entry["retired"] = str(raw["retired"])
    return entry

"""The read-model store port: flat JSON documents, keyed by ``id``, guarded by ``version``.

A projector writes one collection (one read model); every document carries the version of the
last event applied to it, and every write is guarded by that version, so duplicates and late
arrivals are ignored instead of overwriting newer state:

* ``upsert_if_newer`` inserts, or replaces only a document with a lower version. Two writers racing
  to insert the same id are not an error: the loser's write is ignored unless it is newer.
* ``update_if_version`` changes fields only when the stored version is exactly the one expected
  (event version - 1), and bumps it: a projector sees a gap (the event before has not been applied
  yet) as ``False`` with nothing written, and answers non-2xx so the broker redelivers later.

A rebuild writes a fresh collection (``bulk_upsert``), gives it its indexes, then ``swap``s it in:
readers of the live collection see the old documents until the swap and the rebuilt ones after it,
never a mix and never an empty collection in between. ``swap_many`` swaps several collections as
one (a projection's documents and its cursors must never be seen from different generations).

An adapter may resolve collection names through a cache (MongoDB: aliases, see
``readmodels_mongo``), so that another process goes on using the collection a swap replaced for a
while; ``swap_settle_seconds`` bounds that while: an operation that starts that long after a swap
returned uses the swapped-in collection, in every process (0 for the adapters without a cache).
Within ``pinned()``, a thread's operations resolve every name as of one moment, so the cursor
and the documents a projector writes for one event belong to one generation of collections.

Documents are plain JSON (UUIDs and money are strings, written so by the callers) and flat: filters,
sorts and indexes name top-level fields only. Adapters: :class:`InMemoryReadModelStore` (below, for
unit tests), ``readmodels_sql.SqlReadModelStore`` (SQLite, PostgreSQL) and
``readmodels_mongo.MongoReadModelStore`` (MongoDB); all pass one contract suite.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Literal, Protocol

__all__ = [
    "Document",
    "Filters",
    "InMemoryReadModelStore",
    "ReadModelStore",
    "Scalar",
    "Sort",
    "SortOrder",
    "open_read_model_store",
]

#: A stored document: ``{"id": str, "version": int, ...flat JSON fields}``.
Document = dict[str, Any]
#: What an equality filter may compare a field with.
Scalar = str | int | float | bool | None
#: Equality on every named field (``None`` matches a null or a missing field).
Filters = Mapping[str, Scalar]
SortOrder = Literal["asc", "desc"]
#: Fields to order by, most significant first; ties are always broken by ``id`` ascending.
Sort = Sequence[tuple[str, SortOrder]]


class ReadModelStore(Protocol):
    """Named collections of flat JSON documents, each keyed by ``id`` with a ``version``."""

    def get(self, collection: str, id: str) -> Document | None:
        """The document with this id, or ``None``."""
        ...

    def upsert_if_newer(self, collection: str, document: Mapping[str, Any]) -> bool:
        """Insert ``document``, or replace the stored one if its version is lower.

        Returns whether it wrote; an equal or higher stored version (a duplicate, a late event, the
        loser of an insert race) leaves the store unchanged and returns ``False``.
        """
        ...

    def bulk_upsert(self, collection: str, documents: Iterable[Mapping[str, Any]]) -> int:
        """``upsert_if_newer`` for many documents in batched writes (rebuild replay).

        Of several documents with one id only the highest version counts. Returns how many
        documents were written.
        """
        ...

    def update_if_version(
        self,
        collection: str,
        id: str,
        expected_version: int,
        changes: Mapping[str, Any],
        new_version: int,
    ) -> bool:
        """Set ``changes`` and ``version = new_version`` if the stored version is as expected.

        ``False`` (nothing written) when the document is missing or has another version than
        ``expected_version``.
        """
        ...

    def update_if_older(
        self, collection: str, id: str, changes: Mapping[str, Any], new_version: int
    ) -> bool:
        """Set ``changes`` and ``version = new_version`` if the stored version is lower."""
        ...

    def delete(self, collection: str, id: str) -> bool:
        """Remove one document (a hard delete); whether it existed."""
        ...

    def delete_many(self, collection: str, filters: Filters) -> int:
        """Remove every document matching ``filters`` (all of them for ``{}``); how many."""
        ...

    def find(
        self,
        collection: str,
        filters: Filters | None = None,
        *,
        sort: Sort | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Document]:
        """Documents matching ``filters``, ordered by ``sort`` then by ``id``.

        ``offset`` documents are skipped, then at most ``limit`` are returned. Ascending order
        puts null and missing values first, descending order last.
        """
        ...

    def count(self, collection: str, filters: Filters | None = None) -> int:
        """How many documents match ``filters``."""
        ...

    def ensure_indexes(self, collection: str, indexes: Sequence[Sequence[str]]) -> None:
        """Create the (single or compound, equality and sort) indexes that are missing.

        Idempotent and safe to run from every process at start-up.
        """
        ...

    def drop(self, collection: str) -> None:
        """Remove the collection with its documents and indexes (a later write starts it anew)."""
        ...

    def swap(self, fresh: str, live: str) -> None:
        """Make ``live`` answer with what ``fresh`` holds (documents and indexes).

        The former ``live`` documents are discarded and ``fresh`` is left empty. Readers of
        ``live`` see either all the old documents or all the new ones. A write to ``live`` that
        races the swap, or that comes from another process up to ``swap_settle_seconds`` after
        it, may land in the discarded collection: a rebuild catches up once that time is over.
        """
        ...

    def swap_many(self, pairs: Sequence[tuple[str, str]]) -> None:
        """``swap(fresh, live)`` for every pair, as one change: an operation (or a ``pinned``
        block) sees all of the pairs swapped or none. No name may appear twice."""
        ...

    @property
    def swap_settle_seconds(self) -> float:
        """How long after ``swap`` returned another process may still use the replaced
        collection: an operation that starts later uses the swapped-in one (0: never)."""
        ...

    def pinned(self) -> AbstractContextManager[None]:
        """A block in which the calling thread resolves every collection name as of one moment.

        A projector handles each event in one: its cursor and its documents are then never read
        or written in collections of two generations (one before a swap, one after). The block
        may refuse with an error, for a redelivery, when it lasts so long that the names it
        resolved could be older than ``swap_settle_seconds``. No-op without a name cache.
        """
        ...

    def close(self) -> None:
        """Release connections the store opened itself."""
        ...


def open_read_model_store(url: str) -> ReadModelStore:
    """The adapter for ``url``: ``sqlite:///…``, ``postgresql://…``, ``mongodb://…`` or ``memory:``.

    Adapters are imported here, so a function pays at cold start only for the one it uses.
    """
    scheme = url.partition(":")[0].partition("+")[0].lower()
    if scheme == "memory":
        return InMemoryReadModelStore()
    if scheme in ("mongodb", "mongodb+srv"):
        from eventualshop.kernel.readmodels_mongo import MongoReadModelStore

        return MongoReadModelStore.from_url(url)
    from eventualshop.kernel.readmodels_sql import SqlReadModelStore

    return SqlReadModelStore.from_url(url)


# --- validation shared by the adapters -----------------------------------------------------------

#: Collection names become table names (with a prefix) and Mongo collection names: keep them
#: plain, and short enough for PostgreSQL's 63-byte identifiers.
_COLLECTION = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,47}")
#: Field names are spliced into JSON paths and index expressions: identifiers only.
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_SCALARS = (str, int, float, bool, type(None))
_JSON_VALUES = (*_SCALARS, list, dict)
KEYS = frozenset({"id", "version"})
_KNOWN_FIELDS: set[str] = set()


def check_collection(name: str) -> str:
    if not isinstance(name, str) or not _COLLECTION.fullmatch(name):
        raise ValueError(f"invalid collection name {name!r}: letters, digits, '_', at most 48")
    return name


def check_field(name: str) -> str:
    if name in _KNOWN_FIELDS:
        return name
    if not isinstance(name, str) or not _FIELD.fullmatch(name) or name == "_id":
        raise ValueError(f"invalid field name {name!r}: a top-level identifier is expected")
    if len(_KNOWN_FIELDS) < 10_000:  # documents share their field names: check each name once
        _KNOWN_FIELDS.add(name)
    return name


def check_swaps(pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The ``(fresh, live)`` pairs of a ``swap_many``, checked: valid names, none of them twice."""
    checked: list[tuple[str, str]] = []
    seen: set[str] = set()
    for fresh, live in pairs:
        if check_collection(fresh) == check_collection(live):
            raise ValueError(f"cannot swap {fresh!r} with itself")
        for name in (fresh, live):
            if name in seen:
                raise ValueError(f"{name!r} appears in two swaps at once")
            seen.add(name)
        checked.append((fresh, live))
    return checked


def check_version(version: int) -> int:
    if isinstance(version, bool) or not isinstance(version, int):
        raise TypeError(f"a version is an int, got {version!r}")
    return version


def split_document(document: Mapping[str, Any]) -> tuple[str, int, dict[str, Any]]:
    """``(id, version, the other fields)`` of a document about to be written."""
    try:
        id_ = document["id"]
        version = document["version"]
    except KeyError as missing:
        raise ValueError(f"a read-model document needs {missing}") from None
    if not isinstance(id_, str) or not id_:
        raise TypeError(f"a document id is a non-empty string, got {id_!r}")
    check_version(version)
    body: dict[str, Any] = {}
    for key, value in document.items():
        if key in KEYS:
            continue
        if key not in _KNOWN_FIELDS:
            check_field(key)
        if not isinstance(value, _JSON_VALUES):
            raise TypeError(f"field {key!r} is not JSON ({type(value).__name__}): store a string")
        body[key] = value
    return id_, version, body


def check_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    checked = {}
    for key, value in changes.items():
        if check_field(key) in KEYS:
            raise ValueError(f"{key!r} cannot be changed by an update")
        if not isinstance(value, _JSON_VALUES):
            raise TypeError(f"field {key!r} is not JSON ({type(value).__name__}): store a string")
        checked[key] = value
    return checked


def check_filters(filters: Filters | None) -> dict[str, Scalar]:
    checked: dict[str, Scalar] = {}
    for key, value in (filters or {}).items():
        if not isinstance(value, _SCALARS):
            raise TypeError(f"filter on {key!r}: equality with a JSON scalar only, got {value!r}")
        checked[check_field(key)] = value
    return checked


def check_sort(sort: Sort | None) -> list[tuple[str, SortOrder]]:
    checked: list[tuple[str, SortOrder]] = []
    for field, order in sort or ():
        if order not in ("asc", "desc"):
            raise ValueError(f"sort order of {field!r} is 'asc' or 'desc', got {order!r}")
        checked.append((check_field(field), order))
    return checked


def check_page(limit: int | None, offset: int) -> None:
    if limit is not None and limit < 0:
        raise ValueError(f"limit must not be negative, got {limit}")
    if offset < 0:
        raise ValueError(f"offset must not be negative, got {offset}")


def check_indexes(indexes: Sequence[Sequence[str]]) -> list[tuple[str, ...]]:
    checked: list[tuple[str, ...]] = []
    for index in indexes:
        if isinstance(index, str) or not index:
            raise ValueError(f"an index is a non-empty sequence of field names, got {index!r}")
        fields = tuple(check_field(f) for f in index)
        if len(set(fields)) != len(fields):
            raise ValueError(f"an index names a field twice: {fields}")
        if fields not in checked:
            checked.append(fields)
    return checked


def newest_per_id(documents: Iterable[Mapping[str, Any]]) -> list[tuple[str, int, dict[str, Any]]]:
    """Split documents, keep the highest version of each id, in id order.

    One row per id keeps a batched upsert from touching a row twice in one statement; the id order
    makes concurrent batches lock rows in the same order (no deadlocks).
    """
    newest: dict[str, tuple[str, int, dict[str, Any]]] = {}
    for document in documents:
        split = split_document(document)
        kept = newest.get(split[0])
        if kept is None or kept[1] < split[1]:
            newest[split[0]] = split
    return [newest[id_] for id_ in sorted(newest)]


# --- the in-memory fake --------------------------------------------------------------------------


def _sort_key(value: Any) -> tuple[int, Any]:
    # MongoDB's order of types: null (and missing) < numbers < strings < the rest.
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (3, value)
    if isinstance(value, int | float):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (4, json.dumps(value, sort_keys=True))


def _field_sort_key(field: str) -> Callable[[Document], tuple[int, Any]]:
    return lambda document: _sort_key(document.get(field))


def _copy(document: Mapping[str, Any]) -> Document:
    # A JSON round trip: what the fake returns is as detached, and as JSON, as a database row.
    copied: Document = json.loads(json.dumps(document))
    return copied


def _matches(document: Mapping[str, Any], filters: Mapping[str, Scalar]) -> bool:
    return all(document.get(key) == value for key, value in filters.items())


class InMemoryReadModelStore:
    """The ``ReadModelStore`` fake: dictionaries behind a lock, held to the same contract suite."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._collections: dict[str, dict[str, Document]] = {}
        self._indexes: dict[str, list[tuple[str, ...]]] = {}

    def indexes(self, collection: str) -> list[tuple[str, ...]]:
        """The indexes ensured on ``collection`` (the fake only records them)."""
        with self._lock:
            return list(self._indexes.get(check_collection(collection), ()))

    def get(self, collection: str, id: str) -> Document | None:
        with self._lock:
            stored = self._collections.get(check_collection(collection), {}).get(id)
            return None if stored is None else _copy(stored)

    def upsert_if_newer(self, collection: str, document: Mapping[str, Any]) -> bool:
        id_, version, body = split_document(document)
        fresh = _copy({"id": id_, "version": version, **body})
        with self._lock:
            documents = self._collections.setdefault(check_collection(collection), {})
            stored = documents.get(id_)
            if stored is not None and stored["version"] >= version:
                return False
            documents[id_] = fresh
            return True

    def bulk_upsert(self, collection: str, documents: Iterable[Mapping[str, Any]]) -> int:
        written = 0
        for id_, version, body in newest_per_id(documents):
            written += self.upsert_if_newer(collection, {"id": id_, "version": version, **body})
        return written

    def update_if_version(
        self,
        collection: str,
        id: str,
        expected_version: int,
        changes: Mapping[str, Any],
        new_version: int,
    ) -> bool:
        check_version(expected_version)
        return self._update(collection, id, changes, new_version, lambda v: v == expected_version)

    def update_if_older(
        self, collection: str, id: str, changes: Mapping[str, Any], new_version: int
    ) -> bool:
        return self._update(collection, id, changes, new_version, lambda v: v < new_version)

    def _update(
        self,
        collection: str,
        id_: str,
        changes: Mapping[str, Any],
        new_version: int,
        guard: Callable[[int], bool],
    ) -> bool:
        check_version(new_version)
        patch = _copy(check_changes(changes))
        with self._lock:
            stored = self._collections.get(check_collection(collection), {}).get(id_)
            if stored is None or not guard(stored["version"]):
                return False
            stored.update(patch)
            stored["version"] = new_version
            return True

    def delete(self, collection: str, id: str) -> bool:
        with self._lock:
            documents = self._collections.get(check_collection(collection), {})
            return documents.pop(id, None) is not None

    def delete_many(self, collection: str, filters: Filters) -> int:
        checked = check_filters(filters)
        with self._lock:
            documents = self._collections.get(check_collection(collection), {})
            doomed = [i for i, d in documents.items() if _matches(d, checked)]
            for id_ in doomed:
                del documents[id_]
            return len(doomed)

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
        with self._lock:
            documents = self._collections.get(check_collection(collection), {})
            found = [_copy(d) for d in documents.values() if _matches(d, checked)]
        # Stable sorts (reversed ones too), least significant key first: the id, then the fields.
        found.sort(key=lambda d: str(d["id"]))
        for field, direction in reversed(order):
            found.sort(key=_field_sort_key(field), reverse=direction == "desc")
        end = None if limit is None else offset + limit
        return found[offset:end]

    def count(self, collection: str, filters: Filters | None = None) -> int:
        checked = check_filters(filters)
        with self._lock:
            documents = self._collections.get(check_collection(collection), {})
            return sum(1 for d in documents.values() if _matches(d, checked))

    def ensure_indexes(self, collection: str, indexes: Sequence[Sequence[str]]) -> None:
        checked = check_indexes(indexes)
        with self._lock:
            known = self._indexes.setdefault(check_collection(collection), [])
            known.extend(i for i in checked if i not in known)

    def drop(self, collection: str) -> None:
        with self._lock:
            self._collections.pop(check_collection(collection), None)
            self._indexes.pop(collection, None)

    def swap(self, fresh: str, live: str) -> None:
        self.swap_many([(fresh, live)])

    def swap_many(self, pairs: Sequence[tuple[str, str]]) -> None:
        check_swaps(pairs)
        with self._lock:
            for fresh, live in pairs:
                self._collections[live] = self._collections.pop(fresh, {})
                self._indexes[live] = self._indexes.pop(fresh, [])

    @property
    def swap_settle_seconds(self) -> float:
        return 0.0

    def pinned(self) -> AbstractContextManager[None]:
        return nullcontext()

    def close(self) -> None:
        pass

"""The read-model store port: flat JSON documents, keyed by ``id``, guarded by ``version``.

A projector writes one collection (one read model); every document carries the version of the
last event applied to it, and every write is guarded by that version, so duplicates and late
arrivals are ignored instead of overwriting newer state:

* ``upsert_if_newer`` inserts, or replaces only a document with a lower version. Two writers racing
  to insert the same id are not an error: the loser's write is ignored unless it is newer.
* ``update_if_older`` changes fields of a document whose version is lower, and bumps it.
* ``update_if_version`` changes fields only when the stored version is exactly the one expected,
  and bumps it: a compare-and-set for callers that read, decide and write (spending a refresh
  token). Projectors do not need it: they apply an aggregate's events in version order, filling a
  gap from the event store first (``kernel.projection``).

A rebuild writes a fresh collection (``bulk_upsert``), gives it its indexes, then ``swap``s it in:
readers of the live collection see the old documents until the swap and the rebuilt ones after it,
never a mix and never an empty collection in between. ``swap_many`` swaps several collections as
one (a projection's documents and its cursors must never be seen from different generations).

An adapter may resolve collection names through a cache (MongoDB: aliases, see
``adapters.read_models_mongo``), so that another process goes on using the collection a swap
replaced for a while; ``swap_settle_seconds`` bounds that while: an operation that starts that
long after a swap returned uses the swapped-in collection, in every process (0 for the adapters
without a cache).
Within ``pinned()``, a thread's operations resolve every name as of one moment, so the cursor
and the documents a projector writes for one event belong to one generation of collections.

Documents are plain JSON (UUIDs and money are strings, written so by the callers) and flat: filters,
sorts and indexes name top-level fields only. Adapters: ``readmodels_memory.InMemoryReadModelStore``
(unit tests, rebuild scratch space), ``adapters.read_models_sql.SqlReadModelStore`` (SQLite,
PostgreSQL) and ``adapters.read_models_mongo.MongoReadModelStore`` (MongoDB); all pass one
contract suite. The composition root picks one from a URL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Literal, Protocol

__all__ = [
    "DEPENDENCY_ATTRIBUTE",
    "Document",
    "Filters",
    "ReadModelStore",
    "Scalar",
    "Sort",
    "SortOrder",
    "said_of_read_models",
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

#: The attribute by which a store names itself on a driver error it lets through, where the
#: error's class cannot tell: SQLAlchemy's and the DB-API drivers' errors come from the event
#: store and the SQL read models alike, and a client keys on one code for "the read models are
#: down", whatever holds them (``runtime.unavailable`` reads it).
DEPENDENCY_ATTRIBUTE = "eventualshop_dependency"


def said_of_read_models(error: BaseException) -> None:
    """Name ``error`` the read-model store's (unless a store nearer to it named it first)."""
    if not hasattr(error, DEPENDENCY_ATTRIBUTE):
        setattr(error, DEPENDENCY_ATTRIBUTE, "read-model store")


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

    def hold(self, *keys: str) -> None:
        """Inside a ``pinned`` block, once, before its writes: every other block that holds one
        of ``keys`` waits until this one ends. A projector holds the aggregates it applies, so
        two deliveries of one aggregate (a redelivery beside a gap's filling) write its
        documents one after the other, not interleaved, where a database could deadlock them.
        A no-op where nothing interleaves (one writer at a time, or no transaction)."""
        ...

    def close(self) -> None:
        """Release connections the store opened itself."""
        ...

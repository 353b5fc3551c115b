"""Rebuilding read models: replay the event store into fresh collections, then swap them in."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from eventualshop.kernel.collector import PausedCollection
from eventualshop.kernel.eventstore import EventStore, StoredEvent
from eventualshop.kernel.messages import RecordedEvent
from eventualshop.kernel.projection import (
    CURSOR_INDEXES,
    Documents,
    OutOfOrder,
    Projection,
    Projector,
    cursor_collection,
    cursor_of,
    is_next,
)
from eventualshop.kernel.readmodel_checks import KEYS, check_filters
from eventualshop.kernel.readmodels import Document, Filters, ReadModelStore, Sort
from eventualshop.kernel.readmodels_memory import InMemoryReadModelStore


@dataclass(frozen=True, slots=True)
class RebuildReport:
    projection: str
    events: int
    documents: int
    last_position: int


def rebuild(
    event_store: EventStore,
    decode: Callable[[Any], RecordedEvent],
    store: ReadModelStore,
    projections: Iterable[Projection],
    *,
    page: int = 5000,
    sleep: Callable[[float], object] = time.sleep,
) -> list[RebuildReport]:
    """Replay the event store into fresh collections, then swap them in.

    The replay runs against an in-memory scratch store (the same projection code, no round trips,
    see :class:`_Replay`), and the result is written with batched ``bulk_upsert`` into
    ``<collection>_r<run>`` (names of this run only); only when all of it is written does one
    ``swap_many`` make the live collections (documents and cursors of every projection) answer
    with it. Queries keep answering from the old documents meanwhile.

    Then a catch-up pass applies the events written since the replay's last page to the live
    collections (duplicates are ignored by the cursors). Those events may have been delivered
    to the old collections already: before the swap, or after it by a process whose store still
    resolves the old names (``store.swap_settle_seconds``, 0 when names are never cached). Such
    a delivery wrote its documents and its cursor there together (one ``pinned`` block), so the
    live cursors do not count it: the catch-up applies it again, and runs only once that time
    is over (``sleep``), when no process writes to the old collections any more.

    Each pass reads up to the last position there was when it began, not until a page comes
    back empty: while the shop writes faster than the catch-up applies (a live write per event
    and projection), that page never comes. What is written after the catch-up began is
    delivered to the live collections, which the swap has settled by then.
    """
    projections = list(projections)
    # No cyclic collection while the replay builds up its documents: the scratch store grows to
    # every document of every read model, and each full collection walked all of them (a third
    # of a 100,000-event replay). Nothing it allocates forms cycles (plain dicts, frozen events),
    # so reference counting frees it all the same.
    with PausedCollection():
        reports, position = _replay_and_swap(event_store, decode, store, projections, page)
    settle = store.swap_settle_seconds
    if settle > 0:
        sleep(settle)
    # Catch up with what was written while the rebuild ran, and delivered elsewhere meanwhile.
    live_projectors = [Projector(store, p) for p in projections]
    wanted = {p.aggregate_type for p in projections}
    for rows, _ in _pages(event_store, position, page):
        for row in rows:
            if row.aggregate_type not in wanted:
                continue
            event = decode(row)
            for projector in live_projectors:
                # Read in position order, an aggregate's events follow what the replay applied,
                # so none should be out of order here. If one is (the live projector moved the
                # cursor meanwhile), the projector function's own delivery of it, which fills a
                # gap from the event store, applies it.
                with contextlib.suppress(OutOfOrder):
                    projector.handle(event)
    return reports


def _pages(
    event_store: EventStore, after: int, page: int
) -> Iterator[tuple[Sequence[StoredEvent], int]]:
    """The events after position ``after`` up to the last one there is now, a page at a time,
    each with the position it reaches."""
    end = event_store.last_position()
    position = after
    while position < end:
        rows = event_store.read_all(position, page)
        if not rows:
            return
        position = rows[-1].position or position + len(rows)
        yield rows, position


def _replay_and_swap(
    event_store: EventStore,
    decode: Callable[[Any], RecordedEvent],
    store: ReadModelStore,
    projections: Sequence[Projection],
    page: int,
) -> tuple[list[RebuildReport], int]:
    """The replay into the scratch store, written into fresh collections and swapped in; the
    reports and the last position replayed."""
    scratch = _ScratchStore()
    replays = [_Replay(scratch, p) for p in projections]
    # A store shared by several contexts holds events these projections never read (and whose
    # types their registry cannot decode): skip them before decoding.
    wanted = {p.aggregate_type for p in projections}
    position = 0
    for rows, through in _pages(event_store, position, page):
        for row in rows:
            if row.aggregate_type not in wanted:
                continue
            event = decode(row)
            key = str(event.aggregate_id)
            for replay in replays:
                replay.handle(event, key)
        position = through
    reports = []
    swaps: list[tuple[str, str, Sequence[Sequence[str]]]] = []  # (fresh, live, indexes)
    # Fresh names of this run only: two rebuilds at once each swap in a complete set of their
    # own, never one the other has emptied (the later swap simply wins).
    run = uuid4().hex[:8]
    for replay in replays:
        projection = replay.projection
        documents = 0
        written: dict[str, tuple[list[Document], Sequence[Sequence[str]]]] = {
            name: (scratch.stored(name), indexes)
            for name, indexes in projection.collections.items()
        }
        written[cursor_collection(projection)] = (replay.cursor_documents(), CURSOR_INDEXES)
        for live, (contents, indexes) in written.items():
            fresh = f"{live[:37]}_r{run}"
            store.drop(fresh)
            documents += store.bulk_upsert(fresh, contents)
            store.ensure_indexes(fresh, indexes)
            swaps.append((fresh, live, indexes))
        reports.append(RebuildReport(projection.name, replay.applied, documents, position))
    # All at once: no pinned block (a delivery) sees one generation's documents with another's
    # cursors.
    store.swap_many([(fresh, live) for fresh, live, _ in swaps])
    for _, live, indexes in swaps:
        store.ensure_indexes(live, indexes)
    return reports, position


class _ScratchStore(InMemoryReadModelStore):
    """The rebuild's in-memory store: the fake's documents and semantics, made fast for one
    thread replaying a whole event store.

    * Documents are copied one level deep (a new top-level dict on every write and read) instead
      of through JSON text, and not validated here: everything written ends in the real store's
      ``bulk_upsert``, which validates it. Nested values (money, addresses) are shared, which is
      safe because nothing changes one in place: projections build new values from each event,
      and an update replaces top-level fields. In a replay every event is applied once, in
      order, so no version guard ever refuses a write whose values a projection had built.
    * An equality ``find`` (``patch_all``: a discarded cart tombstones its items) looks up a hash
      index on its first field instead of scanning the collection; a scan per discard would make a
      replay quadratic in the number of carts. Indexes are built on first use and kept up to date
      by every write; the fake's other methods (delete, drop, swap) simply forget them.

    No lock: a replay has a single thread.
    """

    def __init__(self) -> None:
        super().__init__()
        # collection -> field -> value -> ids
        self._by_field: dict[str, dict[str, dict[Any, set[str]]]] = {}

    def stored(self, collection: str) -> list[Document]:
        """The documents themselves, not copies: for the final ``bulk_upsert`` only."""
        return list(self._collections.get(collection, {}).values())

    def get(self, collection: str, id: str) -> Document | None:
        stored = self._collections.get(collection, {}).get(id)
        return None if stored is None else dict(stored)

    def upsert_if_newer(self, collection: str, document: Mapping[str, Any]) -> bool:
        id_, version = document["id"], document["version"]
        documents = self._collections.setdefault(collection, {})
        stored = documents.get(id_)
        if stored is not None and stored["version"] >= version:
            return False
        fresh = dict(document)
        documents[id_] = fresh
        indexed = self._by_field.get(collection)
        if indexed:
            self._reindex(collection, id_, stored, fresh, indexed)
        return True

    def update_if_version(
        self,
        collection: str,
        id: str,
        expected_version: int,
        changes: Mapping[str, Any],
        new_version: int,
    ) -> bool:
        return self._change(collection, id, changes, new_version, lambda v: v == expected_version)

    def update_if_older(
        self, collection: str, id: str, changes: Mapping[str, Any], new_version: int
    ) -> bool:
        return self._change(collection, id, changes, new_version, lambda v: v < new_version)

    def _change(
        self,
        collection: str,
        id_: str,
        changes: Mapping[str, Any],
        new_version: int,
        guard: Callable[[int], bool],
    ) -> bool:
        stored = self._collections.get(collection, {}).get(id_)
        if stored is None or not guard(stored["version"]):
            return False
        if not KEYS.isdisjoint(changes):  # the one check that cannot wait for the final write
            raise ValueError(f"{sorted(KEYS & set(changes))} cannot be changed by an update")
        indexed = self._by_field.get(collection)
        touched = [f for f in indexed if f in changes] if indexed else []
        before = {f: stored.get(f) for f in touched}
        stored.update(changes)
        stored["version"] = new_version
        if touched:
            self._reindex(collection, id_, before, stored, touched)
        return True

    def find(
        self,
        collection: str,
        filters: Filters | None = None,
        *,
        sort: Sort | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Document]:
        if not filters or sort or limit is not None or offset:
            return super().find(collection, filters, sort=sort, limit=limit, offset=offset)
        checked = check_filters(filters)
        field, value = next(iter(checked.items()))
        documents = self._collections.get(collection, {})
        ids = self._index(collection, field).get(value, ())
        # In id order, like the fake.
        found = (documents[i] for i in sorted(ids))
        return [dict(d) for d in found if all(d.get(k) == v for k, v in checked.items())]

    def _index(self, collection: str, field: str) -> dict[Any, set[str]]:
        fields = self._by_field.setdefault(collection, {})
        index = fields.get(field)
        if index is None:
            index = fields[field] = {}
            for id_, document in self._collections.get(collection, {}).items():
                value = document.get(field)
                if isinstance(value, _HASHABLE):
                    index.setdefault(value, set()).add(id_)
        return index

    def _reindex(
        self,
        collection: str,
        id_: str,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any],
        fields: Iterable[str],
    ) -> None:
        """Move ``id_`` in the indexes on ``fields`` from its values ``before`` to ``after``."""
        indexes = self._by_field[collection]
        for field in fields:
            index = indexes[field]
            old = None if before is None else before.get(field)
            new = after.get(field)
            if before is not None and old == new and type(old) is type(new):
                continue
            if before is not None and isinstance(old, _HASHABLE):
                index.get(old, set()).discard(id_)
            if isinstance(new, _HASHABLE):
                index.setdefault(new, set()).add(id_)

    def delete(self, collection: str, id: str) -> bool:
        self._by_field.pop(collection, None)
        return super().delete(collection, id)

    def delete_many(self, collection: str, filters: Filters) -> int:
        self._by_field.pop(collection, None)
        return super().delete_many(collection, filters)

    def drop(self, collection: str) -> None:
        self._by_field.pop(collection, None)
        super().drop(collection)

    def swap_many(self, pairs: Sequence[tuple[str, str]]) -> None:
        for fresh, live in pairs:
            self._by_field.pop(fresh, None)
            self._by_field.pop(live, None)
        super().swap_many(pairs)


#: Values a filter can name (JSON scalars): only these are indexed.
_HASHABLE = (str, int, float, bool, type(None))


class _Replay:
    """:meth:`Projector.handle` for a rebuild: the same checks and the same documents, but the
    cursors live in a plain dictionary until the replay is over (two store operations fewer per
    event and projection), then become documents like the live ones."""

    def __init__(self, store: _ScratchStore, projection: Projection) -> None:
        self.projection = projection
        self.documents = {name: Documents(store, name) for name in projection.collections}
        #: aggregate -> the last event applied: what its cursor document will say
        self.cursors: dict[str, RecordedEvent] = {}
        self.applied = 0

    def handle(self, event: RecordedEvent, key: str) -> None:
        """``key``: the aggregate id as text (made once per event for all the replays)."""
        if event.aggregate_type != self.projection.aggregate_type:
            return
        cursor = self.cursors.get(key)
        if not is_next(self.projection, cursor.version if cursor else 0, event, key):
            return
        self.projection.apply(self.documents, event)
        self.cursors[key] = event
        self.applied += 1

    def cursor_documents(self) -> list[Document]:
        return [cursor_of(key, event) for key, event in self.cursors.items()]

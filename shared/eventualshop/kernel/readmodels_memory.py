"""The read-model store in memory: the unit tests' fake, and the rebuild's scratch space."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from eventualshop.kernel.readmodel_checks import (
    check_changes,
    check_collection,
    check_filters,
    check_indexes,
    check_page,
    check_sort,
    check_swaps,
    check_version,
    copy_document,
    field_sort_key,
    matches_filters,
    newest_per_id,
    split_document,
)
from eventualshop.kernel.readmodels import Document, Filters, Sort


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
            return None if stored is None else copy_document(stored)

    def upsert_if_newer(self, collection: str, document: Mapping[str, Any]) -> bool:
        id_, version, body = split_document(document)
        fresh = copy_document({"id": id_, "version": version, **body})
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
        patch = copy_document(check_changes(changes))
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
            doomed = [i for i, d in documents.items() if matches_filters(d, checked)]
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
            found = [copy_document(d) for d in documents.values() if matches_filters(d, checked)]
        # Stable sorts (reversed ones too), least significant key first: the id, then the fields.
        found.sort(key=lambda d: str(d["id"]))
        for field, direction in reversed(order):
            found.sort(key=field_sort_key(field), reverse=direction == "desc")
        end = None if limit is None else offset + limit
        return found[offset:end]

    def count(self, collection: str, filters: Filters | None = None) -> int:
        checked = check_filters(filters)
        with self._lock:
            documents = self._collections.get(check_collection(collection), {})
            return sum(1 for d in documents.values() if matches_filters(d, checked))

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

    def hold(self, *keys: str) -> None:
        del keys  # one process's dictionaries: no transaction to deadlock in

    def close(self) -> None:
        pass

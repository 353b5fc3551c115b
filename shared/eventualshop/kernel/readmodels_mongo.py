"""MongoDB documents: the ``ReadModelStore`` port on pymongo.

One MongoDB collection per read model, ``_id`` = the document id, the other fields as they are.
Every version guard is part of the write's filter, so the check and the write are one atomic
document operation: ``replace_one({"_id": id, "version": {"$lt": v}}, doc, upsert=True)`` replaces
an older document or inserts a new one; when a document with an equal or higher version exists, the
upsert's insert fails with a duplicate key, which means "not newer" and is ignored.

The code keeps to what the ``nx-27017`` test server serves faithfully: ``_id`` always inside
replacement documents, plain ``$set`` updates, no ``Decimal128`` (money is a string anyway), no
``$push`` with ``$each``. A filter on null is spelled ``{"$eq": None}``: nx-27017 counts
``{"f": None}`` wrongly (it misses explicit nulls in ``count_documents``), ``$eq`` is the same
query on a real server.

Swapping: ``renameCollection`` with ``dropTarget`` would be the native move, but it runs against
the ``admin`` database and nx-27017 neither does that correctly (it renames inside ``admin``) nor
supports ``dropTarget``. So read-model names resolve through alias documents in
``_readmodel_aliases`` (``{"_id": name, "target": collection}``; no alias = the name itself). A
swap is one single-document write of ``live``'s alias. The collection it replaces is kept as
``retired`` until the next swap of that name (or a drop), so a reader that resolved the old alias
just before the swap still reads whole, old documents rather than a dropped, empty collection.
The price is one alias look-up per operation.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING, MongoClient, ReplaceOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError

from eventualshop.kernel.readmodels import (
    Document,
    Filters,
    Scalar,
    Sort,
    check_changes,
    check_collection,
    check_filters,
    check_indexes,
    check_page,
    check_sort,
    check_version,
    newest_per_id,
    split_document,
)

__all__ = ["ALIASES", "MongoReadModelStore"]

#: The alias documents (the leading underscore keeps the name out of the read models' names).
ALIASES = "_readmodel_aliases"
_DUPLICATE_KEY = 11000

_Raw = dict[str, Any]


def _key(field: str) -> str:
    return "_id" if field == "id" else field


def _query(filters: Mapping[str, Scalar]) -> _Raw:
    return {_key(f): {"$eq": None} if v is None else v for f, v in filters.items()}


def _document(raw: Mapping[str, Any]) -> Document:
    fields = dict(raw)
    return {"id": fields.pop("_id"), **fields}


class MongoReadModelStore:
    """``ReadModelStore`` on a pymongo database."""

    def __init__(self, database: Database[_Raw], *, client: MongoClient[_Raw] | None = None):
        self.database = database
        self._client = client
        self._aliases: Collection[_Raw] = database[ALIASES]

    @classmethod
    def from_url(
        cls, url: str, *, database: str | None = None, **client_options: Any
    ) -> MongoReadModelStore:
        """A store on its own client; the database is ``database``, the URL's, or "eventualshop"."""
        client: MongoClient[_Raw] = MongoClient(url, **client_options)
        chosen = client[database] if database else client.get_default_database("eventualshop")
        return cls(chosen, client=client)

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
        result = self._collection(collection).update_one(query, {"$set": fields})
        return result.matched_count == 1

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
        alias = self._aliases.find_one({"_id": check_collection(collection)})
        if alias is None:
            self.database.drop_collection(collection)
            return
        self.database.drop_collection(str(alias["target"]))
        if alias.get("retired"):
            self.database.drop_collection(str(alias["retired"]))
            self._aliases.replace_one(
                {"_id": collection}, {"_id": collection, "target": alias["target"]}
            )

    def swap(self, fresh: str, live: str) -> None:
        if check_collection(fresh) == check_collection(live):
            raise ValueError(f"cannot swap {fresh!r} with itself")
        source = self._physical(fresh)
        current = self._aliases.find_one({"_id": live}) or {}
        replaced = str(current.get("target", live))
        retired = current.get("retired")
        # First `fresh` moves on to a new, empty collection, so that nothing written to `fresh`
        # from now on lands in what `live` is about to show.
        emptied = f"{fresh}__{secrets.token_hex(6)}"
        self._aliases.replace_one({"_id": fresh}, {"_id": fresh, "target": emptied}, upsert=True)
        # The swap itself: one single-document write.
        self._aliases.replace_one(
            {"_id": live}, {"_id": live, "target": source, "retired": replaced}, upsert=True
        )
        if retired and retired not in (source, replaced):
            self.database.drop_collection(str(retired))

    # --- helpers ---------------------------------------------------------------------------------

    def _physical(self, name: str) -> str:
        alias = self._aliases.find_one({"_id": check_collection(name)}, {"target": 1})
        return name if alias is None else str(alias["target"])

    def _collection(self, name: str) -> Collection[_Raw]:
        return self.database[self._physical(name)]

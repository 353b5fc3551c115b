"""What every read-model adapter checks before it touches its store, so that all of them refuse
the same input with the same error (the contract suite holds them to it)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from eventualshop.kernel.readmodels import Document, Filters, Scalar, Sort, SortOrder

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


def sort_key(value: Any) -> tuple[int, Any]:
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


def field_sort_key(field: str) -> Callable[[Document], tuple[int, Any]]:
    return lambda document: sort_key(document.get(field))


def copy_document(document: Mapping[str, Any]) -> Document:
    # A JSON round trip: what the fake returns is as detached, and as JSON, as a database row.
    copied: Document = json.loads(json.dumps(document))
    return copied


def matches_filters(document: Mapping[str, Any], filters: Mapping[str, Scalar]) -> bool:
    return all(document.get(key) == value for key, value in filters.items())

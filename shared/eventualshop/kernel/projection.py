"""Projections: how events become read-model documents, correct under duplicates and reordering.

Each projector keeps, per aggregate, a cursor: the version of the last event it applied. An event
at or below the cursor is a duplicate and is ignored; an event beyond ``cursor + 1`` arrived
before its predecessor, so :class:`OutOfOrder` is raised and the function answers non-2xx: the
broker redelivers it later, after the missing one. Applying events strictly in version order per
aggregate is what makes the final documents equal to those of in-order delivery, whatever the
broker does. Every projector therefore receives *every* event of its aggregate type, ignoring
those that do not concern its read model (they still move the cursor).

The cursor is written after the documents. If a process dies in between, the event is delivered
again and applied again: every document write is guarded by the event's version (``put`` and
``patch`` below), so that second application changes nothing. One event is handled in one
``store.pinned()`` block, so its cursor and its documents are read and written in collections of
one generation even when a rebuild swaps them meanwhile (see ``rebuild``).

The cursor also names the event that moved it last and that event's time
(``{"id": aggregate, "version": v, "eventId": …, "eventTime": µs since the epoch}``: a number,
so it sorts alike in every store). That is all the lag needs: the newest ``eventTime`` of a
projection's cursors is the newest event it applied, found with one indexed ``find``; no
document besides the cursor is written per event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

from eventualshop.kernel.messages import DomainEvent, RecordedEvent
from eventualshop.kernel.readmodels import Document, Filters, ReadModelStore, Sort

#: The cursor collection's index, for the lag's newest-first look-up. (Not with ``id`` in it:
#: nx-27017 fails every write to a collection with a compound index on ``_id``.)
CURSOR_INDEXES: tuple[tuple[str, ...], ...] = (("eventTime",),)
#: Newest applied event first (ties: the lowest id, as every ``find`` breaks them).
NEWEST_FIRST: Sort = (("eventTime", "desc"),)


class OutOfOrder(Exception):
    """The event's predecessor has not been applied yet; deliver it again later."""


class Documents:
    """One collection as a projection writes it: every write carries the event's version."""

    def __init__(self, store: ReadModelStore, collection: str) -> None:
        self.store = store
        self.collection = collection

    def get(self, id: str) -> Document | None:
        return self.store.get(self.collection, id)

    def find(self, filters: Filters) -> list[Document]:
        return self.store.find(self.collection, filters)

    def put(self, document: Mapping[str, Any], version: int) -> None:
        """Insert or replace, unless the stored document is as new already."""
        self.store.upsert_if_newer(self.collection, {**document, "version": version})

    def patch(self, id: str, changes: Mapping[str, Any], version: int) -> None:
        """Change some fields, unless the stored document is as new already (or missing)."""
        self.store.update_if_older(self.collection, id, changes, version)

    def patch_all(self, filters: Filters, changes: Mapping[str, Any], version: int) -> None:
        for document in self.find(filters):
            self.patch(document["id"], changes, version)


class Projection(Protocol):
    """One read model: its collections with their indexes, and how each event changes them."""

    @property
    def name(self) -> str: ...

    @property
    def aggregate_type(self) -> str: ...

    @property
    def handles(self) -> frozenset[type[DomainEvent]]:
        """The events of its aggregate that change its documents."""
        ...

    @property
    def ignores(self) -> frozenset[type[DomainEvent]]:
        """The events of its aggregate it deliberately leaves alone (only its cursor moves).
        ``handles`` and ``ignores`` together are every event of the stream: the model check
        (``eventualshop check``) fails for an event a projection says nothing about."""
        ...

    @property
    def collections(self) -> Mapping[str, Sequence[Sequence[str]]]:
        """collection -> indexes (each a sequence of fields); the first is the read model."""
        ...

    def apply(self, documents: Mapping[str, Documents], event: RecordedEvent) -> None: ...


class Projector:
    def __init__(self, store: ReadModelStore, projection: Projection) -> None:
        self.store = store
        self.projection = projection
        self.cursors = cursor_collection(projection)
        self.documents = {name: Documents(store, name) for name in projection.collections}

    def ensure_indexes(self) -> None:
        for collection, indexes in self.projection.collections.items():
            self.store.ensure_indexes(collection, indexes)
        self.store.ensure_indexes(self.cursors, CURSOR_INDEXES)

    def handle(self, event: RecordedEvent) -> Literal["applied", "duplicate", "ignored"]:
        if event.aggregate_type != self.projection.aggregate_type:
            return "ignored"
        key = str(event.aggregate_id)
        with self.store.pinned():
            cursor = self.store.get(self.cursors, key)
            if not is_next(self.projection, cursor["version"] if cursor else 0, event, key):
                return "duplicate"
            self.projection.apply(self.documents, event)
            self.store.upsert_if_newer(
                self.cursors,
                cursor_document(key, event.version, str(event.metadata.event_id), moment_of(event)),
            )
        return "applied"


def is_next(projection: Projection, applied: int, event: RecordedEvent, key: str) -> bool:
    """Whether ``event`` follows the cursor (``False``: a duplicate); raises if it is early."""
    if event.version <= applied:
        return False
    if event.version != applied + 1:
        raise OutOfOrder(
            f"{projection.name}: {event.event_type} v{event.version} of {key} arrived "
            f"before v{applied + 1}"
        )
    return True


def moment_of(event: RecordedEvent) -> int:
    """The event's time in microseconds since the epoch (a cursor's ``eventTime``)."""
    return int(event.metadata.timestamp.timestamp() * 1_000_000)


def cursor_document(key: str, version: int, event_id: str, moment: int) -> Document:
    """The cursor of aggregate ``key`` once the event ``event_id`` (``version``, at ``moment``
    µs) is applied."""
    return {"id": key, "version": version, "eventId": event_id, "eventTime": moment}


def cursor_collection(projection: Projection) -> str:
    return f"{next(iter(projection.collections))}_cursors"

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
``patch`` below), so that second application changes nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from uuid import UUID

from eventualshop.kernel.eventstore import EventStore
from eventualshop.kernel.messages import RecordedEvent
from eventualshop.kernel.readmodels import Document, Filters, InMemoryReadModelStore, ReadModelStore

STATUS = "projection_status"


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
    def collections(self) -> Mapping[str, Sequence[Sequence[str]]]:
        """collection -> indexes (each a sequence of fields); the first is the read model."""
        ...

    def apply(self, documents: Mapping[str, Documents], event: RecordedEvent) -> None: ...


@dataclass(frozen=True, slots=True)
class Lag:
    projection: str
    last_applied_event_id: str | None
    last_applied_position: int | None
    last_written_position: int

    @property
    def behind(self) -> int | None:
        """Events written after the last one applied (``None`` if that one is unknown)."""
        if self.last_applied_position is None:
            return None if self.last_applied_event_id else self.last_written_position
        return max(0, self.last_written_position - self.last_applied_position)


class Projector:
    def __init__(self, store: ReadModelStore, projection: Projection) -> None:
        self.store = store
        self.projection = projection
        self.cursors = cursor_collection(projection)
        self.documents = {name: Documents(store, name) for name in projection.collections}

    def ensure_indexes(self) -> None:
        for collection, indexes in self.projection.collections.items():
            self.store.ensure_indexes(collection, indexes)

    def handle(self, event: RecordedEvent) -> Literal["applied", "duplicate", "ignored"]:
        if event.aggregate_type != self.projection.aggregate_type:
            return "ignored"
        key = str(event.aggregate_id)
        cursor = self.store.get(self.cursors, key)
        applied = cursor["version"] if cursor else 0
        if event.version <= applied:
            return "duplicate"
        if event.version != applied + 1:
            raise OutOfOrder(
                f"{self.projection.name}: {event.event_type} v{event.version} of {key} arrived "
                f"before v{applied + 1}"
            )
        self.projection.apply(self.documents, event)
        self.store.upsert_if_newer(self.cursors, {"id": key, "version": event.version})
        self._record_status(event)
        return "applied"

    def _record_status(self, event: RecordedEvent) -> None:
        # Newest event time wins, so a late duplicate never moves the status backwards.
        moment = event.metadata.timestamp
        self.store.upsert_if_newer(
            STATUS,
            {
                "id": self.projection.name,
                "version": int(moment.timestamp() * 1_000_000),
                "lastEventId": str(event.metadata.event_id),
                "lastEventTime": moment.isoformat(),
            },
        )


def cursor_collection(projection: Projection) -> str:
    return f"{next(iter(projection.collections))}_cursors"


def lag(store: ReadModelStore, projection: Projection, event_store: EventStore) -> Lag:
    """How far a projection is behind the event store (pitfall: lag that nobody sees)."""
    status = store.get(STATUS, projection.name)
    event_id = status["lastEventId"] if status else None
    return Lag(
        projection=projection.name,
        last_applied_event_id=event_id,
        last_applied_position=event_store.position_of(UUID(event_id)) if event_id else 0,
        last_written_position=event_store.last_position(),
    )


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
) -> list[RebuildReport]:
    """Replay the event store into fresh collections, then swap them in.

    The replay runs against an in-memory store (the same projection code, no round trips), and the
    result is written with batched ``bulk_upsert`` into ``<collection>_rebuild``; only when that is
    complete does ``swap`` make the live collections answer with it. Queries keep answering from
    the old documents meanwhile. Events written during the rebuild are then applied to the live
    collections by a catch-up pass (duplicates are ignored by the cursors).
    """
    projections = list(projections)
    memory = InMemoryReadModelStore()
    projectors = [Projector(memory, p) for p in projections]
    counts = dict.fromkeys((p.name for p in projections), 0)
    position = 0
    while True:
        rows = event_store.read_all(position, page)
        if not rows:
            break
        for row in rows:
            event = decode(row)
            for projector in projectors:
                if projector.handle(event) == "applied":
                    counts[projector.projection.name] += 1
        position = rows[-1].position or position + len(rows)
    reports = []
    for projector in projectors:
        documents = 0
        names = [*projector.projection.collections, projector.cursors]
        for live in names:
            fresh = f"{live}_rebuild"[:48]
            store.drop(fresh)
            documents += store.bulk_upsert(fresh, memory.find(live))
            indexes = projector.projection.collections.get(live, ())
            store.ensure_indexes(fresh, indexes)
            store.swap(fresh, live)
            store.ensure_indexes(live, indexes)
        status = memory.get(STATUS, projector.projection.name)
        if status is not None:
            store.upsert_if_newer(STATUS, status)
        reports.append(
            RebuildReport(
                projector.projection.name, counts[projector.projection.name], documents, position
            )
        )
    # Catch up with what was written while the rebuild ran.
    live_projectors = [Projector(store, p) for p in projections]
    while True:
        rows = event_store.read_all(position, page)
        if not rows:
            return reports
        for row in rows:
            event = decode(row)
            for projector in live_projectors:
                # An OutOfOrder here means the broker owes the live collection an earlier event;
                # its redelivery brings this one in order.
                with contextlib.suppress(OutOfOrder):
                    projector.handle(event)
        position = rows[-1].position or position + len(rows)

"""Projections: how events become read-model documents, correct whatever the broker does.

Each projector keeps, per aggregate, a cursor: the version of the last event it applied. An event
at or below the cursor is a duplicate and is ignored. An event beyond ``cursor + 1`` arrived
before its predecessors (shuffled, delayed, or lost and dead-lettered): the delivered event is a
notification, the context's event store is the truth, so the projector reads the missing events
of that aggregate from the store (``history``) and applies them in version order before it.
Convergence therefore never waits on broker retries: whatever arrives, in whatever order, the
documents end equal to those of in-order delivery. :meth:`Projector.catch_up` does the same for
an aggregate whose last events never arrived at all (the sweep runs it). Without a history (unit
tests; a rebuild's catch-up, which reads in position order) an early event raises
:class:`OutOfOrder` and the broker retries it.

Every projector receives *every* event of its aggregate type (one Trigger on the stream),
ignoring those that do not concern its read model (they still move the cursor).

The cursor is written after the documents. If a process dies in between, the event is delivered
again and applied again: every document write is guarded by the event's version (``put`` and
``patch`` below), so that second application changes nothing. One delivery is handled in one
``store.pinned()`` block, so its cursor and its documents are read and written in collections of
one generation even when a rebuild swaps them meanwhile (see ``rebuild``).

The cursor also names the event that moved it last, that event's time and its global position:
``{"id": aggregate, "version": v, "eventId": …, "eventTime": µs, "position": p}``; the lag
(``eventualshop.kernel.lag``) compares cursors with the heads of the streams.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Protocol
from uuid import UUID

from eventualshop.kernel.errors import DeliverLater
from eventualshop.kernel.messages import DomainEvent, RecordedEvent
from eventualshop.kernel.readmodels import Document, Filters, ReadModelStore

#: The cursor collection's index, for the lag's newest-first look-up. (Not with ``id`` in it:
#: nx-27017 fails every write to a collection with a compound index on ``_id``.)
CURSOR_INDEXES: tuple[tuple[str, ...], ...] = (("eventTime",),)


class OutOfOrder(DeliverLater):
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


#: (aggregate id, after version, up to version) -> the events in between, oldest first: the
#: context's event store, decoded.
History = Callable[[UUID, int, int], Sequence[RecordedEvent]]


class Projector:
    def __init__(
        self, store: ReadModelStore, projection: Projection, history: History | None = None
    ) -> None:
        self.store = store
        self.projection = projection
        self.history = history
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
            self._hold(key)
            applied = self._applied(key)
            if event.version <= applied:
                return "duplicate"
            missing = self._missing(event.aggregate_id, applied, event.version - 1)
            self._apply(key, [*missing, event])
        return "applied"

    def handle_batch(self, events: Sequence[RecordedEvent]) -> int:
        """Apply a run of events read from the store (by position) in one ``pinned`` block: on
        a SQL store one transaction, each aggregate's cursor read once and all the cursors
        written in one statement at the end. Duplicates and gaps are handled as in ``handle``;
        how many events were applied. A failure applies nothing (the run is given again)."""
        applied: dict[str, int] = {}
        last: dict[str, RecordedEvent] = {}
        count = 0
        with self.store.pinned():
            # Every aggregate of the run held at once, in one statement and one order: two runs
            # (two sweeps) that held them as they met them could wait on each other.
            mine = self.projection.aggregate_type
            self._hold(*{str(e.aggregate_id) for e in events if e.aggregate_type == mine})
            for event in events:
                if event.aggregate_type != mine:
                    continue
                key = str(event.aggregate_id)
                if key not in applied:
                    applied[key] = self._applied(key)
                if event.version <= applied[key]:
                    continue
                run = [*self._missing(event.aggregate_id, applied[key], event.version - 1), event]
                for each in run:
                    self.projection.apply(self.documents, each)
                applied[key], last[key] = event.version, event
                count += len(run)
            if last:
                self.store.bulk_upsert(self.cursors, [cursor_of(k, e) for k, e in last.items()])
        return count

    def catch_up(self, aggregate_id: UUID, head: int) -> int:
        """Apply what the store holds of one aggregate up to version ``head`` and this
        projector has not applied (events the broker never brought); how many were applied."""
        if self.history is None:
            return 0
        key = str(aggregate_id)
        with self.store.pinned():
            self._hold(key)
            applied = self._applied(key)
            if head <= applied:
                return 0
            events = self._missing(aggregate_id, applied, head)
            self._apply(key, events)
        return len(events)

    def _hold(self, *keys: str) -> None:
        self.store.hold(*(f"{self.projection.name}:{key}" for key in keys))

    def _applied(self, key: str) -> int:
        cursor = self.store.get(self.cursors, key)
        return int(cursor["version"]) if cursor else 0

    def _missing(self, aggregate_id: UUID, applied: int, through: int) -> Sequence[RecordedEvent]:
        """The events after ``applied`` up to ``through``, from the store; all of them, or
        :class:`OutOfOrder` (no history, or the store does not hold them yet)."""
        if through <= applied:
            return ()
        where = f"{self.projection.name}: v{through + 1} of {aggregate_id}"
        if self.history is None:
            raise OutOfOrder(f"{where} arrived before v{applied + 1}")
        events = self.history(aggregate_id, applied, through)
        if [e.version for e in events] != list(range(applied + 1, through + 1)):
            raise OutOfOrder(f"{where} arrived before v{applied + 1}, which the store lacks")
        return events

    def _apply(self, key: str, events: Sequence[RecordedEvent]) -> None:
        for event in events:
            self.projection.apply(self.documents, event)
        last = events[-1]
        # One cursor write for the lot: the documents are guarded by version, so a crash before
        # this line only means the next delivery applies them again, changing nothing.
        self.store.upsert_if_newer(self.cursors, cursor_of(key, last))


def cursor_of(key: str, event: RecordedEvent) -> Document:
    """The cursor of aggregate ``key`` once ``event`` is applied."""
    document = cursor_document(key, event.version, str(event.metadata.event_id), moment_of(event))
    if event.position is not None:
        document["position"] = event.position
    return document


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

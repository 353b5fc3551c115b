"""In-memory event store: the fake behind unit tests, held to the same contract suite.

Events are published as the SQL store publishes them: each CloudEvent rendered from the stored
event, under the context ``cloudevents.published_contexts`` finds for it.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from uuid import UUID

from eventualshop.kernel import cloudevents
from eventualshop.kernel.errors import ConcurrencyConflict, DuplicateMessage
from eventualshop.kernel.eventstore import (
    AppendBatch,
    InboxRecord,
    OutboxEntry,
    SnapshotRecord,
    StoredEvent,
    Stream,
    check_command_ids,
)
from eventualshop.kernel.messages import to_utc
from eventualshop.kernel.timers import ScheduledMessage


class InMemoryEventStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[StoredEvent] = []
        # A stream is an aggregate type's and id's (see ``EventStore.load``).
        self._streams: dict[tuple[UUID, str], list[StoredEvent]] = {}
        self._event_ids: set[UUID] = set()
        self._snapshots: dict[tuple[UUID, str], list[SnapshotRecord]] = {}
        self._outbox: list[OutboxEntry] = []  # in position order
        self._relay_position = 0
        self._inbox: dict[tuple[str, str], str] = {}
        self._scheduled: dict[str, ScheduledMessage] = {}

    def _keys(self, aggregate_id: UUID, aggregate_type: str | None) -> list[tuple[UUID, str]]:
        if aggregate_type is not None:
            return [(aggregate_id, aggregate_type)]
        return [key for key in self._streams if key[0] == aggregate_id]

    def load(self, aggregate_id: UUID, aggregate_type: str | None = None) -> Stream:
        with self._lock:
            keys = self._keys(aggregate_id, aggregate_type)
            snapshots = [s for key in keys for s in self._snapshots.get(key, ())]
            snapshot = max(snapshots, key=lambda s: s.version) if snapshots else None
            after = snapshot.version if snapshot else 0
            events = [e for key in keys for e in self._streams.get(key, ()) if e.version > after]
        return Stream(snapshot, sorted(events, key=lambda e: (e.version, e.position or 0)))

    def load_events(
        self, aggregate_id: UUID, after_version: int = 0, aggregate_type: str | None = None
    ) -> Sequence[StoredEvent]:
        with self._lock:
            keys = self._keys(aggregate_id, aggregate_type)
            found = [
                e for key in keys for e in self._streams.get(key, ()) if e.version > after_version
            ]
        return sorted(found, key=lambda e: (e.version, e.position or 0))

    def append(self, batch: AppendBatch) -> Sequence[int]:
        check_command_ids(batch)
        contexts = cloudevents.published_contexts(batch)  # refuses a foreign entry, storing none
        with self._lock:
            if batch.inbox and (batch.inbox.consumer, batch.inbox.message_id) in self._inbox:
                raise DuplicateMessage(batch.inbox.consumer, batch.inbox.message_id)
            seen: set[tuple[UUID, str, int]] = set()
            for event in batch.events:
                stream = (event.aggregate_id, event.aggregate_type)
                versions = {e.version for e in self._streams.get(stream, ())}
                key = (event.aggregate_id, event.aggregate_type, event.version)
                if event.version in versions or key in seen or event.event_id in self._event_ids:
                    raise ConcurrencyConflict(event.aggregate_id, event.version)
                seen.add(key)
            positions: list[int] = []
            for event in batch.events:
                stored = replace(event, position=len(self._events) + 1)
                self._events.append(stored)
                self._streams.setdefault((event.aggregate_id, event.aggregate_type), []).append(
                    stored
                )
                self._event_ids.add(event.event_id)
                positions.append(len(self._events))
            for snapshot in batch.snapshots:
                key_of = (snapshot.aggregate_id, snapshot.aggregate_type)
                self._snapshots.setdefault(key_of, []).append(snapshot)
            for event, position in zip(batch.events, positions, strict=True):
                # Rendered from the stored event, as the SQL store does: its position included.
                context = contexts.get(event.event_id)
                if context is not None:
                    stored = replace(event, position=position)
                    payload = cloudevents.structured(context, stored)
                    self._outbox.append(
                        OutboxEntry(event.event_id, event.event_type, payload, id=position)
                    )
            if batch.inbox:
                self._inbox[(batch.inbox.consumer, batch.inbox.message_id)] = batch.inbox.outcome
            for message in batch.scheduled:
                # In UTC, as the SQL store keeps it (a naive time is taken to be UTC there too).
                self._scheduled[message.message_id] = replace(
                    message, due_at=to_utc(message.due_at)
                )
            return positions

    def outcome(self, consumer: str, message_id: str) -> str | None:
        with self._lock:
            return self._inbox.get((consumer, message_id))

    def record_outcome(self, record: InboxRecord) -> str:
        with self._lock:
            return self._inbox.setdefault((record.consumer, record.message_id), record.outcome)

    def read_all(self, after_position: int = 0, limit: int = 1000) -> Sequence[StoredEvent]:
        with self._lock:
            return self._events[after_position : after_position + limit]

    def last_position(self) -> int:
        with self._lock:
            return len(self._events)

    def aggregate_ids(self, aggregate_type: str) -> Iterator[UUID]:
        with self._lock:
            ids = [i for (i, t), s in self._streams.items() if s and t == aggregate_type]
        return iter(ids)

    def stream_heads(self, aggregate_type: str) -> dict[UUID, int]:
        with self._lock:
            return {
                i: s[-1].version for (i, t), s in self._streams.items() if s and t == aggregate_type
            }

    def pending_outbox(self, limit: int = 100) -> Sequence[OutboxEntry]:
        with self._lock:
            pending = [e for e in self._outbox if (e.id or 0) > self._relay_position]
            return pending[: max(limit, 0)]

    def mark_published_through(self, position: int) -> None:
        with self._lock:
            self._relay_position = max(self._relay_position, position)

    def due_messages(
        self, now: datetime, limit: int = 100, command_types: Collection[str] | None = None
    ) -> Sequence[ScheduledMessage]:
        with self._lock:
            due = sorted(
                (
                    m
                    for m in self._scheduled.values()
                    if m.due_at <= now
                    and (command_types is None or m.command_type in command_types)
                ),
                key=lambda m: (m.due_at, m.message_id),
            )
        return due[:limit]

    def forget_message(self, message_id: str) -> None:
        with self._lock:
            self._scheduled.pop(message_id, None)

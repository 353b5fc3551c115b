"""Loads aggregates from the event store and turns decisions into an append batch; the optional
in-process cache of aggregate states a warm function keeps between commands."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Generic
from uuid import UUID, uuid4

from pydantic import ValidationError

from eventualshop.kernel.aggregate import AggregateKind, S, Step, replay
from eventualshop.kernel.eventstore import (
    AppendBatch,
    EventStore,
    SnapshotRecord,
    StoredEvent,
)
from eventualshop.kernel.messages import EventMetadata, RecordedEvent, utc_now
from eventualshop.kernel.timers import ScheduledMessage, scheduled_messages


class Repository(Generic[S]):
    def __init__(
        self,
        store: EventStore,
        kind: AggregateKind[S],
        *,
        snapshot_interval: int | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store = store
        self.kind = kind
        self.snapshot_interval = snapshot_interval or kind.snapshot_interval
        self.clock = clock

    def load(self, aggregate_id: UUID) -> S | None:
        stream = self.store.load(aggregate_id, self.kind.name)
        state: S | None = None
        events = stream.events
        if stream.snapshot is not None:
            try:
                state = self.kind.state_type.model_validate_json(stream.snapshot.state)
            except ValidationError:
                # A snapshot written by an older state model: history is the truth, replay it all.
                events = self.store.load_events(aggregate_id, aggregate_type=self.kind.name)
        decode = self.kind.events.decode
        return replay(
            self.kind,
            state,
            ((e.version, decode(e.event_type, e.schema_version, e.payload)) for e in events),
        )

    def decode(self, event: StoredEvent) -> RecordedEvent:
        return RecordedEvent(
            event=self.kind.events.decode(event.event_type, event.schema_version, event.payload),
            aggregate_id=event.aggregate_id,
            aggregate_type=event.aggregate_type,
            version=event.version,
            metadata=EventMetadata(
                event_id=event.event_id,
                timestamp=event.timestamp,
                correlation_id=event.correlation_id,
                causation_id=event.causation_id,
                traceparent=event.traceparent,
            ),
            position=event.position,
        )

    def batch(
        self,
        aggregate_id: UUID,
        steps: Sequence[Step[S]],
        *,
        correlation_id: str,
        causation_id: str | None = None,
        traceparent: str | None = None,
        first_event_id: UUID | None = None,
    ) -> AppendBatch:
        """The rows one command writes; the caller adds the inbox record, which needs the
        outcome and so the event ids made here (the first one ``first_event_id`` when given:
        a command's, see ``command_event_id``). The batch names the context, so the relay
        publishes every event (it renders the CloudEvents from the stored events)."""
        now = self.clock()
        events: list[StoredEvent] = []
        snapshots: list[SnapshotRecord] = []
        scheduled: list[ScheduledMessage] = []
        encode = self.kind.events.encode
        for index, step in enumerate(steps):
            stored = StoredEvent(
                event_id=first_event_id if index == 0 and first_event_id else uuid4(),
                aggregate_id=aggregate_id,
                aggregate_type=self.kind.name,
                version=step.version,
                event_type=step.event.event_type(),
                schema_version=step.event.schema_version,
                payload=encode(step.event),
                timestamp=now,
                correlation_id=correlation_id,
                causation_id=causation_id,
                traceparent=traceparent,
            )
            events.append(stored)
            timers = self.kind.timers(step.event, now)
            if timers:
                scheduled += scheduled_messages(
                    str(stored.event_id),
                    timers,
                    correlation_id=correlation_id,
                    traceparent=traceparent,
                )
            if step.version % self.snapshot_interval == 0:
                # The state right after *this* event, so the label never lies about the content.
                snapshots.append(
                    SnapshotRecord(
                        aggregate_id, self.kind.name, step.version, step.state.model_dump_json()
                    )
                )
        return AppendBatch(
            events=events, snapshots=snapshots, context=self.kind.context, scheduled=scheduled
        )


class AggregateCache(Generic[S]):
    """The latest known state of recently used aggregates, least recently used out first.

    Nothing here is trusted blindly: a command decided on a cached state appends the next version,
    and if another process wrote that version meanwhile the append fails on the unique
    (aggregate id, version) check, exactly as after a load; the service then forgets the entry
    and loads. A rejection decided on a cached state is decided again on a loaded one before it
    is recorded. States are immutable, so sharing them between threads is safe.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("an aggregate cache holds at least one state")
        self.size = size
        self._states: OrderedDict[UUID, S] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, aggregate_id: UUID) -> S | None:
        with self._lock:
            state = self._states.get(aggregate_id)
            if state is not None:
                self._states.move_to_end(aggregate_id)
            return state

    def put(self, state: S) -> None:
        with self._lock:
            known = self._states.get(state.id)
            if known is not None and known.version > state.version:
                return  # another thread of this process stored a later version already
            self._states[state.id] = state
            self._states.move_to_end(state.id)
            while len(self._states) > self.size:
                self._states.popitem(last=False)

    def forget(self, aggregate_id: UUID) -> None:
        with self._lock:
            self._states.pop(aggregate_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._states)

"""Loads aggregates from the event store and turns decisions into an append batch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Generic
from uuid import UUID, uuid4

from pydantic import ValidationError

from eventualshop.kernel import cloudevents
from eventualshop.kernel.aggregate import AggregateKind, S, Step, replay
from eventualshop.kernel.eventstore import (
    AppendBatch,
    EventStore,
    OutboxEntry,
    SnapshotRecord,
    StoredEvent,
)
from eventualshop.kernel.messages import EventMetadata, RecordedEvent, utc_now


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
        stream = self.store.load(aggregate_id)
        state: S | None = None
        events = stream.events
        if stream.snapshot is not None:
            try:
                state = self.kind.state_type.model_validate_json(stream.snapshot.state)
            except ValidationError:
                # A snapshot written by an older state model: history is the truth, replay it all.
                events = self.store.load_events(aggregate_id)
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
    ) -> AppendBatch:
        """The rows one command writes; the caller adds the inbox record, which needs the
        outcome and so the event ids made here."""
        now = self.clock()
        events: list[StoredEvent] = []
        outbox: list[OutboxEntry] = []
        snapshots: list[SnapshotRecord] = []
        encode = self.kind.events.encode
        for step in steps:
            stored = StoredEvent(
                event_id=uuid4(),
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
            outbox.append(
                OutboxEntry(
                    event_id=stored.event_id,
                    event_type=stored.event_type,
                    payload=cloudevents.structured(self.kind.context, stored),
                )
            )
            if step.version % self.snapshot_interval == 0:
                # The state right after *this* event, so the label never lies about the content.
                snapshots.append(
                    SnapshotRecord(
                        aggregate_id, self.kind.name, step.version, step.state.model_dump_json()
                    )
                )
        return AppendBatch(events=events, snapshots=snapshots, outbox=outbox)

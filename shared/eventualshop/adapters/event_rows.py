"""Rows of the event store's tables to and from the kernel's records, for both of the SQL store's
paths (SQLAlchemy and the driver); imports no SQLAlchemy, so a command's path need not."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventualshop.adapters.sql_driver import AppendRows
from eventualshop.kernel import cloudevents
from eventualshop.kernel.eventstore import (
    AppendBatch,
    InboxRecord,
    OutboxEntry,
    SnapshotRecord,
    StoredEvent,
    Stream,
)

# Which constraint an IntegrityError names: PostgreSQL and MSSQL quote the constraint's name,
# SQLite lists the columns ("UNIQUE constraint failed: events.aggregate_id, events.aggregate_type,
# events.version"); the names before migration 0004 are kept for databases not yet upgraded.
VERSION_TAKEN = (
    "uq_events_stream_version",
    "events.aggregate_id, events.aggregate_type, events.version",
    "uq_events_aggregate_version",
    "uq_events_event_id",
    "events.aggregate_id, events.version",
    "events.event_id",
)
MESSAGE_PROCESSED = (
    "pk_processed_messages",
    "processed_messages.consumer, processed_messages.message_id",
    "uq_events_command",
    "events.command_consumer, events.command_id",
)


def violates(error: Exception, constraints: Sequence[str]) -> bool:
    cause = getattr(error, "orig", error)
    diag = getattr(cause, "diag", None)
    if diag is not None:
        # psycopg names the constraint; its message may quote SQL that names columns (the CONTEXT
        # of an error inside eventualshop_append quotes its INSERT ... RETURNING events.event_id).
        return diag.constraint_name in constraints
    message = str(cause)
    return any(name in message for name in constraints)


def stream_of(aggregate_id: UUID, rows: Sequence[Sequence[Any]]) -> Stream:
    """The rows of ``LOAD`` (the snapshot as kind 0, events as kind 1) as a ``Stream``."""
    snapshot: SnapshotRecord | None = None
    loaded: list[StoredEvent] = []
    for (
        kind,
        version,
        payload,
        aggregate_type,
        event_id,
        event_type,
        schema_version,
        occurred_at,
        correlation_id,
        causation_id,
        traceparent,
        position,
    ) in rows:
        if kind == 0:
            snapshot = SnapshotRecord(aggregate_id, aggregate_type, version, payload)
            continue
        loaded.append(
            StoredEvent(
                event_id=event_id,
                aggregate_id=aggregate_id,
                aggregate_type=aggregate_type,
                version=version,
                event_type=event_type,
                schema_version=schema_version,
                payload=payload,
                timestamp=occurred_at,
                correlation_id=correlation_id,
                causation_id=causation_id,
                traceparent=traceparent,
                position=position,
            )
        )
    return Stream(snapshot, loaded)


def outbox_entries(rows: Sequence[Sequence[Any]]) -> list[OutboxEntry]:
    """The rows of ``PENDING_OUTBOX`` (the event's columns, then its context) as CloudEvents."""
    entries: list[OutboxEntry] = []
    for row in rows:
        stored = stored_event(row[:-1])
        entries.append(
            OutboxEntry(
                event_id=stored.event_id,
                event_type=stored.event_type,
                payload=cloudevents.structured(row[-1], stored),
                id=stored.position,
            )
        )
    return entries


def stored_event(row: Sequence[Any]) -> StoredEvent:
    (
        event_id,
        aggregate_id,
        aggregate_type,
        version,
        event_type,
        schema_version,
        payload,
        occurred_at,
        correlation_id,
        causation_id,
        traceparent,
        position,
    ) = row
    return StoredEvent(
        event_id=event_id,
        aggregate_id=aggregate_id,
        aggregate_type=aggregate_type,
        version=version,
        event_type=event_type,
        schema_version=schema_version,
        payload=payload,
        timestamp=occurred_at,
        correlation_id=correlation_id,
        causation_id=causation_id,
        traceparent=traceparent,
        position=position,
    )


def _event_row(event: StoredEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "aggregate_id": event.aggregate_id,
        "aggregate_type": event.aggregate_type,
        "version": event.version,
        "event_type": event.event_type,
        "schema_version": event.schema_version,
        "payload": event.payload,
        "occurred_at": event.timestamp,
        "correlation_id": event.correlation_id,
        "causation_id": event.causation_id,
        "traceparent": event.traceparent,
    }


def append_rows(batch: AppendBatch, now: datetime) -> AppendRows:
    inbox = inbox_row(batch.inbox, now) if batch.inbox is not None else None
    contexts = cloudevents.published_contexts(batch)
    rows: list[dict[str, Any]] = []
    for event in batch.events:
        row = _event_row(event)
        row["context"] = contexts.get(event.event_id)
        row["command_consumer"] = row["command_id"] = row["outcome"] = None
        rows.append(row)
    if inbox is not None and rows:
        rows[0]["command_consumer"] = inbox["consumer"]
        rows[0]["command_id"] = inbox["message_id"]
        rows[0]["outcome"] = inbox["outcome"]
    return AppendRows(
        inbox=inbox,
        events=rows,
        snapshots=[
            {
                "aggregate_id": s.aggregate_id,
                "version": s.version,
                "aggregate_type": s.aggregate_type,
                "state": s.state,
                "created_at": now,
            }
            for s in batch.snapshots
        ],
        scheduled=[
            {
                "message_id": m.message_id,
                "due_at": m.due_at,
                "command_type": m.command_type,
                "payload": m.payload,
                "correlation_id": m.correlation_id,
                "causation_id": m.causation_id,
                "traceparent": m.traceparent,
                "created_at": now,
            }
            for m in batch.scheduled
        ],
    )


def message_key(inbox: Mapping[str, Any]) -> dict[str, Any]:
    return {"consumer": inbox["consumer"], "message_id": inbox["message_id"]}


def inbox_row(record: InboxRecord, now: datetime) -> dict[str, Any]:
    return {
        "consumer": record.consumer,
        "message_id": record.message_id,
        "outcome": record.outcome,
        "processed_at": now,
    }

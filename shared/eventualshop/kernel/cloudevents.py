"""Domain event -> CloudEvent 1.0 attributes, without any SDK.

The relay renders each event's structured-mode JSON from its stored row (the row names its
context: ``published_contexts``); the HTTP and AMQP bindings re-shape those attributes at the
edge.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventualshop.kernel.declaration import event_source
from eventualshop.kernel.eventstore import AppendBatch, OutboxEntry, StoredEvent
from eventualshop.kernel.messages import EventMetadata, RecordedEvent
from eventualshop.kernel.registry import EventRegistry

SPEC_VERSION = "1.0"


def event_type_name(context: str, event_type: str) -> str:
    """``eventualshop.<context>.<Event>``: stable across schema versions, so a schema bump changes
    no Trigger; the version travels in the ``schemaversion`` extension."""
    return f"eventualshop.{context}.{event_type}"


def attributes(context: str, event: StoredEvent) -> dict[str, Any]:
    """Context attributes plus the extensions every consumer relies on (all lower-case)."""
    attrs: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": str(event.event_id),
        "source": event_source(context),
        "type": event_type_name(context, event.event_type),
        "subject": str(event.aggregate_id),
        "time": event.timestamp.isoformat(),
        "datacontenttype": "application/json",
        "aggregatetype": event.aggregate_type,
        "aggregateversion": str(event.version),
        "correlationid": event.correlation_id,
        "schemaversion": str(event.schema_version),
    }
    if event.position is not None:  # where it stands in the store: cursors and lag keep it
        attrs["position"] = str(event.position)
    if event.causation_id:
        attrs["causationid"] = event.causation_id
    if event.traceparent:
        attrs["traceparent"] = event.traceparent
    return attrs


def structured(context: str, event: StoredEvent) -> str:
    """Structured-mode JSON; the stored payload text is spliced in as ``data`` unparsed."""
    head = json.dumps(attributes(context, event), separators=(",", ":"))
    return f'{head[:-1]},"data":{event.payload}}}'


def published_contexts(batch: AppendBatch) -> dict[UUID, str]:
    """The context each event of a batch is published as, by event id (an event not named is
    not published). Every store keeps only this and renders the CloudEvent from the stored event
    again, so ``AppendBatch.outbox`` entries say which events and which context, nothing more;
    the batch's ``context``, when given, wins."""
    if batch.context is not None:
        return {event.event_id: batch.context for event in batch.events}
    return {entry.event_id: _context_of(entry) for entry in batch.outbox}


def _context_of(entry: OutboxEntry) -> str:
    """The context an outbox entry's CloudEvent ``source`` names (the older batch form)."""
    try:
        source = json.loads(entry.payload)["source"]
    except (ValueError, KeyError, TypeError):
        source = None
    prefix = event_source("")
    if not isinstance(source, str) or not source.startswith(prefix) or source == prefix:
        raise ValueError(
            f"outbox entry of event {entry.event_id} is not a CloudEvent of an EventualShop "
            "context; append with AppendBatch.context instead"
        )
    return source.removeprefix(prefix)


def parse_type(ce_type: str) -> tuple[str, str, int | None]:
    """``eventualshop.<context>.<Event>`` -> (context, event type, ``None``).

    The first releases wrote the schema version into the type (``….<Event>.v<n>``); such events
    may still wait in an outbox or a dead-letter store, so that form is read too, and gives the
    version it carries.
    """
    parts = ce_type.split(".")
    if len(parts) not in (3, 4) or parts[0] != "eventualshop" or not all(parts):
        raise ValueError(f"not an EventualShop event type: {ce_type!r}")
    if len(parts) == 3:
        return parts[1], parts[2], None
    if not parts[3].startswith("v") or not parts[3][1:].isdigit():
        raise ValueError(f"not an EventualShop event type: {ce_type!r}")
    return parts[1], parts[2], int(parts[3][1:])


def recorded(attributes: Mapping[str, Any], data: Any, registry: EventRegistry) -> RecordedEvent:
    """The domain event a CloudEvent carries, upcast to the current schema (a consumer's view).

    ``data`` may be the parsed JSON object (as the CloudEvents SDK hands it over), or its text.
    Raises ``ValueError`` (or pydantic's ``ValidationError``) for anything that is not one of ours.
    """
    _context, event_type, in_type = parse_type(_attribute(attributes, "type"))
    schema_version = in_type if in_type is not None else _schema_version(attributes)
    if isinstance(data, bytes | bytearray):
        data = data.decode()
    event = registry.decode(event_type, schema_version, data)
    return RecordedEvent(
        event=event,
        aggregate_id=UUID(_attribute(attributes, "subject")),
        aggregate_type=_attribute(attributes, "aggregatetype"),
        version=_version(_attribute(attributes, "aggregateversion")),
        position=_position(attributes.get("position")),
        metadata=EventMetadata(
            event_id=UUID(_attribute(attributes, "id")),
            timestamp=_timestamp(attributes.get("time")),
            correlation_id=str(attributes.get("correlationid") or ""),
            causation_id=attributes.get("causationid"),
            traceparent=attributes.get("traceparent"),
        ),
    )


def _attribute(attributes: Mapping[str, Any], name: str) -> str:
    if name not in attributes:
        raise ValueError(f"the CloudEvent has no {name!r} attribute")
    return str(attributes[name])


#: The highest version a stream can have: the event store's version column is 32-bit.
MAX_VERSION = 2**31 - 1


def _version(text: str) -> int:
    # Only ASCII digits: int() also reads "+3", " 3", "3_0" and other scripts' digits.
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= MAX_VERSION:
        raise ValueError(f"aggregateversion must be a whole number from 1 to {MAX_VERSION}")
    return int(text)


def _position(value: Any) -> int | None:
    text = str(value) if value is not None else ""
    return int(text) if text.isdigit() else None


def _schema_version(attributes: Mapping[str, Any]) -> int:
    text = str(attributes.get("schemaversion", "1"))
    if not text.isdigit() or not 0 < int(text) < 1000:
        raise ValueError(f"schemaversion must be a whole number from 1, not {text!r}")
    return int(text)


def _timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not value:
        raise ValueError("the event has no time")
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

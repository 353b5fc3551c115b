"""Domain event -> CloudEvent 1.0 attributes (DESIGN §4), without any SDK.

The outbox stores each event already in structured-mode JSON, so the relay publishes bytes it
does not have to understand; the HTTP and AMQP bindings re-shape those attributes at the edge.
"""

from __future__ import annotations

import json
from typing import Any

from eventualshop.kernel.eventstore import StoredEvent

SPEC_VERSION = "1.0"


def event_source(context: str) -> str:
    return f"/eventualshop/{context}"


def event_type_name(context: str, event_type: str, schema_version: int) -> str:
    return f"eventualshop.{context}.{event_type}.v{schema_version}"


def attributes(context: str, event: StoredEvent) -> dict[str, Any]:
    """Context attributes plus the extensions every consumer relies on (all lower-case)."""
    attrs: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": str(event.event_id),
        "source": event_source(context),
        "type": event_type_name(context, event.event_type, event.schema_version),
        "subject": str(event.aggregate_id),
        "time": event.timestamp.isoformat(),
        "datacontenttype": "application/json",
        "aggregatetype": event.aggregate_type,
        "aggregateversion": str(event.version),
        "correlationid": event.correlation_id,
    }
    if event.causation_id:
        attrs["causationid"] = event.causation_id
    if event.traceparent:
        attrs["traceparent"] = event.traceparent
    return attrs


def structured(context: str, event: StoredEvent) -> str:
    """Structured-mode JSON; the stored payload text is spliced in as ``data`` unparsed."""
    head = json.dumps(attributes(context, event), separators=(",", ":"))
    return f'{head[:-1]},"data":{event.payload}}}'

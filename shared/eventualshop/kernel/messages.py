"""Message base types: commands, domain events and the envelope that carries event metadata.

Commands and events are immutable pydantic models whose JSON uses camelCase names, like the
original's wire format. Metadata (ids, version, timestamps, tracing) lives in the envelope rather
than in every event class, so domain code only ever deals with the business facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


def utc_now() -> datetime:
    """The clock every timestamp of ours comes from (aware, UTC); injectable where it matters."""
    return datetime.now(UTC)


def to_utc(value: datetime) -> datetime:
    """Aware and in UTC; a naive value is taken to be UTC (``schema.UtcDateTime``'s rule)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Message(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        alias_generator=to_camel,
        ser_json_inf_nan="strings",
        # A function builds only the validators of the messages it uses, on first use: building
        # every command's and event's at import was most of a cold start's import time.
        defer_build=True,
    )


class Command(Message):
    """Something a client asks an aggregate to do; it may be rejected."""


#: The serialisation context key under which a command is dumped for an Idempotency-Key's
#: fingerprint: a field whose JSON form is masked may give a keyed stand-in there instead (a
#: card's token), so that two requests differing in it are told apart without the secret.
FINGERPRINT = "fingerprint"


class DomainEvent(Message):
    """Something that happened to an aggregate; immutable history.

    ``schema_version`` is bumped whenever the payload shape changes; an upcaster registered for
    the old version turns stored payloads into the current shape on read.
    """

    schema_version: ClassVar[int] = 1

    @classmethod
    def event_type(cls) -> str:
        return cls.__name__


@dataclass(frozen=True, slots=True)
class EventMetadata:
    event_id: UUID
    timestamp: datetime
    correlation_id: str
    causation_id: str | None = None
    traceparent: str | None = None


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """A domain event as stored: the fact plus where it stands in its aggregate's history."""

    event: DomainEvent
    aggregate_id: UUID
    aggregate_type: str
    version: int
    metadata: EventMetadata
    position: int | None = None

    @property
    def event_type(self) -> str:
        return self.event.event_type()

    @property
    def schema_version(self) -> int:
        return self.event.schema_version

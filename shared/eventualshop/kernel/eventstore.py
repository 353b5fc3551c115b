"""The event store port: what the application layer needs from persistence, and nothing more.

Adapters move rows; they do not know event classes. Encoding and decoding (and upcasting) happen
in :mod:`eventualshop.kernel.repository`, so every adapter passes the same contract suite.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from hashlib import sha1
from typing import Protocol
from uuid import UUID

from eventualshop.kernel.timers import ScheduledMessage, TimerStore


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One row of ``events``. ``position`` is the global position, ``None`` before it is stored."""

    event_id: UUID
    aggregate_id: UUID
    aggregate_type: str
    version: int
    event_type: str
    schema_version: int
    payload: str
    timestamp: datetime
    correlation_id: str
    causation_id: str | None = None
    traceparent: str | None = None
    position: int | None = None


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    """The state of an aggregate *at* ``version`` (never later), as JSON text."""

    aggregate_id: UUID
    aggregate_type: str
    version: int
    state: str


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A CloudEvent (structured-mode JSON) to publish. ``id`` is its event's global position: the
    relay moves its position past it once the publisher confirmed it."""

    event_id: UUID
    event_type: str
    payload: str
    id: int | None = None


@dataclass(frozen=True, slots=True)
class InboxRecord:
    """Marks (consumer, message id) as processed and keeps the outcome a repeat gets back."""

    consumer: str
    message_id: str
    outcome: str


@dataclass(frozen=True, slots=True)
class AppendBatch:
    """Everything one command writes, committed in one transaction or not at all.

    ``context`` names the bounded context whose CloudEvents the events become: the relay then
    publishes every event of the batch (rendered from the stored event, see
    ``cloudevents.structured``); ``None`` publishes nothing. ``outbox`` is the older form, for
    callers that render the CloudEvents themselves: the events of those entries are published,
    and every store keeps only the context their ``source`` names, rendering the CloudEvent from
    the stored event again (``cloudevents.published_contexts``).
    ``inbox`` is stored with the first event (or on its own when there is none), whose id is
    then ``command_event_id`` of the inbox's consumer and message id (``check_command_ids``).
    ``scheduled`` are the durable timers the events asked for (``kernel.timers``).
    """

    events: Sequence[StoredEvent]
    snapshots: Sequence[SnapshotRecord] = ()
    outbox: Sequence[OutboxEntry] = ()
    inbox: InboxRecord | None = None
    context: str | None = None
    scheduled: Sequence[ScheduledMessage] = ()


#: The namespace of ``command_event_id`` (fixed: stored ids are derived from it).
_COMMAND_EVENTS = UUID("5b0c6f8e-3a51-4f4e-9a1c-6d2f1e0b7c42")
#: SHA-1 of the namespace, the start of every id's hash: ``command_event_id`` copies it where
#: ``uuid5`` would set up a new hash and feed it the namespace again (OpenSSL's look-up of the
#: algorithm on every set-up was about half of the 8 µs a derivation took in a command).
_COMMAND_EVENTS_HASH = sha1(_COMMAND_EVENTS.bytes)


# Cached: the service derives the id for the batch, and the store checks the batch with it (a
# second derivation in the same command cost about 15 µs of its CPU, measured interleaved).
@lru_cache(maxsize=1024)
def command_event_id(consumer: str, message_id: str) -> UUID:
    """The id of the first event a command raises, derived from the message it came in (a UUID
    v5; consumer names hold no newline). A store's unique event id is then also the command's
    at-most-once, and a command retried after a conflict raises its first event under the same
    id. The SQL stores still keep their index on the command's id: instances of the previous
    release, which gave first events random ids, rely on it while a rolling upgrade runs. Once
    every writer derives the id, a later migration can drop that index (one B-tree page fewer
    per append; see the README's event-store benchmark)."""
    digest = _COMMAND_EVENTS_HASH.copy()
    digest.update(f"{consumer}\n{message_id}".encode())
    # What ``uuid5(_COMMAND_EVENTS, name)`` returns (a test holds the two together).
    return UUID(bytes=digest.digest()[:16], version=5)


def check_command_ids(batch: AppendBatch) -> None:
    """Refuse a batch whose inbox comes with a first event of another id: stores recognise a
    repeated command by that id, so any other would let the repeat in."""
    if batch.inbox is None or not batch.events:
        return
    expected = command_event_id(batch.inbox.consumer, batch.inbox.message_id)
    if batch.events[0].event_id != expected:
        raise ValueError(
            f"the first event of message {batch.inbox.message_id!r} must have the id "
            f"{expected} (command_event_id), not {batch.events[0].event_id}"
        )


@dataclass(frozen=True, slots=True)
class Stream:
    """What loading an aggregate reads: its latest snapshot and the events after it."""

    snapshot: SnapshotRecord | None
    events: Sequence[StoredEvent]

    @property
    def exists(self) -> bool:
        return self.snapshot is not None or bool(self.events)


class EventStore(TimerStore, Protocol):
    def load(self, aggregate_id: UUID, aggregate_type: str | None = None) -> Stream:
        """Latest snapshot plus every later event, ordered by version.

        A stream is an aggregate type's and id's: contexts sharing a store may use one id for
        aggregates of different types (one context's aggregate named after another's).
        ``None`` reads whatever has the id, for tools and tests that know there is one type."""
        ...

    def load_events(
        self, aggregate_id: UUID, after_version: int = 0, aggregate_type: str | None = None
    ) -> Sequence[StoredEvent]:
        """Events of one stream after ``after_version``, ordered by version (no snapshot)."""
        ...

    def append(self, batch: AppendBatch) -> Sequence[int]:
        """Commit the batch atomically and return the events' global positions.

        Raises ``ConcurrencyConflict`` when (aggregate id, type, version) is taken,
        ``DuplicateMessage`` when the inbox record exists already. Either way nothing of the
        batch is written.
        """
        ...

    def outcome(self, consumer: str, message_id: str) -> str | None:
        """The stored outcome of a processed message, or ``None`` if it is new."""
        ...

    def record_outcome(self, record: InboxRecord) -> str:
        """Store an outcome without events (a rejection); return the outcome that is kept."""
        ...

    def read_all(self, after_position: int = 0, limit: int = 1000) -> Sequence[StoredEvent]:
        """Events of every aggregate in global position order, for rebuilding read models."""
        ...

    def last_position(self) -> int:
        """The highest global position written so far (0 when empty)."""
        ...

    def aggregate_ids(self, aggregate_type: str) -> Iterator[UUID]:
        """Distinct ids of the aggregates of one type."""
        ...

    def stream_heads(self, aggregate_type: str) -> dict[UUID, int]:
        """The latest version of every aggregate of one type: what a projection's cursors must
        reach (lag, catch-up)."""
        ...

    def pending_outbox(self, limit: int = 100) -> Sequence[OutboxEntry]:
        """The published events after the relay's position, oldest first (``id`` = position).

        Never skips one: appends are serialised, so positions commit in order and an event that
        is not visible yet gets a higher position than every visible one.
        """
        ...

    def mark_published_through(self, position: int) -> None:
        """Move the relay's position to ``position`` (never backwards): every entry up to it was
        confirmed. Only ever pass the ``id`` of the last entry of a ``pending_outbox`` answer."""
        ...

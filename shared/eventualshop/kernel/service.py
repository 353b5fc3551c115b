"""The application service: load -> decide -> append (with outbox and inbox) -> outcome.

Every command carries a message id (the HTTP ``Idempotency-Key`` or a generated one). The inbox
row for it is written in the same transaction as the events, so a redelivered command produces no
new events and gets the first outcome back, even when both copies race.

With ``cache_size`` a warm instance keeps the states it wrote last and decides the next command
on them without loading (see :class:`~eventualshop.kernel.repository.AggregateCache`: the append's
version check is what makes that safe with other instances writing too).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Generic
from uuid import UUID, uuid4

from eventualshop.kernel.aggregate import AggregateKind, S, Step, execute
from eventualshop.kernel.errors import (
    AggregateAlreadyExists,
    AggregateNotFound,
    ConcurrencyConflict,
    DomainRejection,
    DuplicateMessage,
    IdempotencyKeyReused,
)
from eventualshop.kernel.eventstore import EventStore, InboxRecord, command_event_id
from eventualshop.kernel.messages import Command, EventMetadata, utc_now
from eventualshop.kernel.repository import AggregateCache, Repository

#: One encoder for every outcome: ``json.dumps`` with separators builds a new encoder on every
#: call (about half of the 8 µs an outcome took to render).
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class CommandContext:
    """Where a command comes from: its id (idempotency key) and the trace it belongs to."""

    message_id: str = field(default_factory=lambda: str(uuid4()))
    correlation_id: str = field(default_factory=lambda: str(uuid4()))
    causation_id: str | None = None
    traceparent: str | None = None
    #: What the message id was first sent with (e.g. a hash of the HTTP request); a repeat of the
    #: id with another fingerprint is refused instead of getting the first outcome.
    fingerprint: str | None = None

    @classmethod
    def caused_by(cls, cause: EventMetadata, message_id: str) -> CommandContext:
        """The context of a command a reaction sends for an event: in the event's trace, caused
        by it, under a message id derived from it (so a redelivered event sends it once)."""
        return cls(
            message_id=message_id,
            correlation_id=cause.correlation_id or str(cause.event_id),
            causation_id=str(cause.event_id),
            traceparent=cause.traceparent,
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a command. ``duplicate`` is true when it is a stored earlier answer."""

    message_id: str
    aggregate_id: UUID
    version: int
    event_ids: tuple[UUID, ...] = ()
    event_types: tuple[str, ...] = ()
    rejection_code: str | None = None
    rejection_detail: str | None = None
    duplicate: bool = False
    fingerprint: str | None = None
    # Set by ``_reject`` on the rejection it stores, to tell it from one a concurrent first call
    # stored. An accepted command needs none (and skips a uuid4): its events are stored once,
    # the first under an id derived from its message (``command_event_id``).
    outcome_id: str = ""

    @property
    def accepted(self) -> bool:
        return self.rejection_code is None

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "messageId": self.message_id,
            "aggregateId": str(self.aggregate_id),
            "version": self.version,
            "eventIds": [str(i) for i in self.event_ids],
            "eventTypes": list(self.event_types),
        }
        if self.outcome_id:
            data["outcomeId"] = self.outcome_id
        if self.fingerprint is not None:
            data["fingerprint"] = self.fingerprint
        if self.rejection_code is not None:
            data["rejection"] = {"code": self.rejection_code, "detail": self.rejection_detail}
        return _COMPACT_JSON.encode(data)

    @classmethod
    def from_json(cls, text: str, *, duplicate: bool = True) -> Outcome:
        data = json.loads(text)
        rejection = data.get("rejection") or {}
        return cls(
            message_id=data["messageId"],
            aggregate_id=UUID(data["aggregateId"]),
            version=data["version"],
            event_ids=tuple(UUID(i) for i in data["eventIds"]),
            event_types=tuple(data["eventTypes"]),
            rejection_code=rejection.get("code"),
            rejection_detail=rejection.get("detail"),
            duplicate=duplicate,
            fingerprint=data.get("fingerprint"),
            outcome_id=data.get("outcomeId", ""),
        )


class _Turn:
    __slots__ = ("lock", "waiting")

    def __init__(self) -> None:
        # Re-entrant: a thread that handles a command on the aggregate it is already handling
        # one for (nothing does today) goes on instead of waiting for itself.
        self.lock = threading.RLock()
        self.waiting = 0  # threads holding or waiting for ``lock``


class Turns:
    """One lock per aggregate that a command is being handled for in this process, dropped once
    no thread holds or waits for it: commands on one aggregate take turns, commands on others do
    not wait for them."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._turns: dict[UUID, _Turn] = {}

    def take(self, aggregate_id: UUID) -> _Turn:
        with self._guard:
            turn = self._turns.get(aggregate_id)
            if turn is None:
                turn = self._turns[aggregate_id] = _Turn()
            turn.waiting += 1
        turn.lock.acquire()
        return turn

    def give_back(self, aggregate_id: UUID, turn: _Turn) -> None:
        turn.lock.release()
        with self._guard:
            turn.waiting -= 1
            if turn.waiting == 0:
                del self._turns[aggregate_id]

    def __len__(self) -> int:
        return len(self._turns)


class ApplicationService(Generic[S]):
    def __init__(
        self,
        store: EventStore,
        kind: AggregateKind[S],
        *,
        snapshot_interval: int | None = None,
        max_attempts: int = 5,
        clock: Callable[[], datetime] = utc_now,
        cache_size: int = 0,
    ) -> None:
        self.store = store
        self.kind = kind
        self.repository = Repository(store, kind, snapshot_interval=snapshot_interval, clock=clock)
        self.max_attempts = max_attempts
        self.consumer = f"{kind.context}.{kind.name}"
        #: States of recently written aggregates (``cache_size`` of them), or ``None``.
        self.cache: AggregateCache[S] | None = AggregateCache(cache_size) if cache_size else None
        self._turns = Turns()

    def _load(self, aggregate_id: UUID) -> S | None:
        state = self.repository.load(aggregate_id)
        if state is not None and self.cache is not None:
            self.cache.put(state)
        return state

    def _decide(self, state: S | None, command: Command, aggregate_id: UUID) -> list[Step[S]]:
        creating = type(command) in self.kind.creates
        if state is None and not creating:
            raise AggregateNotFound(self.kind.name, aggregate_id)
        if state is not None and creating:
            raise AggregateAlreadyExists(self.kind.name, aggregate_id)
        return execute(self.kind, state, command)

    def handle(self, command: Command, context: CommandContext | None = None) -> Outcome:
        """Run one command. Raises ``AggregateNotFound`` or, after the retries,
        ``ConcurrencyConflict``; a domain rejection is an outcome, recorded like a success.

        Commands on one aggregate take turns in this process: decided on the same version at
        once, all but one would be refused at the append and run again (a page adding several
        items to a cart at once got 409s once the retries ran out). Other processes' commands
        are still caught by the append's version check."""
        context = context or CommandContext()
        aggregate_id = self.kind.target(command)
        turn = self._turns.take(aggregate_id)
        try:
            return self._handle(command, context, aggregate_id)
        finally:
            self._turns.give_back(aggregate_id, turn)

    def _handle(self, command: Command, context: CommandContext, aggregate_id: UUID) -> Outcome:
        # No inbox look-up first: the append refuses a message id stored before (with events or
        # as a rejection), and record_outcome keeps the first outcome, so a repeat gets that.
        # Redelivery is rare; an extra round trip on every command would not be.
        conflict: ConcurrencyConflict | None = None
        for _ in range(self.max_attempts):
            state = self.cache.get(aggregate_id) if self.cache is not None else None
            cached = state is not None
            if not cached:
                state = self._load(aggregate_id)
            try:
                steps = self._decide(state, command, aggregate_id)
            except DomainRejection as rejection:
                if not cached:
                    return self._reject(context, aggregate_id, state, rejection)
                # The cached state may be behind another instance's writes: a rejection is
                # stored for good, so it is only ever decided on what the store holds.
                state = self._load(aggregate_id)
                try:
                    steps = self._decide(state, command, aggregate_id)
                except DomainRejection as confirmed:
                    return self._reject(context, aggregate_id, state, confirmed)
            batch = self.repository.batch(
                aggregate_id,
                steps,
                correlation_id=context.correlation_id,
                causation_id=context.causation_id or context.message_id,
                traceparent=context.traceparent,
                first_event_id=command_event_id(self.consumer, context.message_id),
            )
            outcome = Outcome(
                message_id=context.message_id,
                aggregate_id=aggregate_id,
                version=steps[-1].version if steps else (state.version if state else 0),
                event_ids=tuple(e.event_id for e in batch.events),
                event_types=tuple(e.event_type for e in batch.events),
                fingerprint=context.fingerprint,
            )
            inbox = InboxRecord(self.consumer, context.message_id, outcome.to_json())
            try:
                self.store.append(replace(batch, inbox=inbox))
            except ConcurrencyConflict as error:
                conflict = error
                if self.cache is not None:
                    self.cache.forget(aggregate_id)
                continue
            except DuplicateMessage:
                if self.cache is not None:
                    self.cache.forget(aggregate_id)
                return self._stored_outcome(context)
            if steps and self.cache is not None:
                self.cache.put(steps[-1].state)
            return outcome
        assert conflict is not None
        raise conflict

    def _reject(
        self,
        context: CommandContext,
        aggregate_id: UUID,
        state: S | None,
        rejection: DomainRejection,
    ) -> Outcome:
        outcome = Outcome(
            message_id=context.message_id,
            aggregate_id=aggregate_id,
            version=state.version if state else 0,
            rejection_code=rejection.code,
            rejection_detail=rejection.detail,
            fingerprint=context.fingerprint,
            outcome_id=uuid4().hex,
        )
        kept = Outcome.from_json(
            self.store.record_outcome(
                InboxRecord(self.consumer, context.message_id, outcome.to_json())
            )
        )
        if kept.outcome_id == outcome.outcome_id:
            return outcome
        return self._repeat(context, kept)

    def _stored_outcome(self, context: CommandContext) -> Outcome:
        stored = self.store.outcome(self.consumer, context.message_id)
        assert stored is not None, "a duplicate message always has a stored outcome"
        return self._repeat(context, Outcome.from_json(stored))

    def _repeat(self, context: CommandContext, stored: Outcome) -> Outcome:
        if not same_request(stored.fingerprint, context.fingerprint):
            raise IdempotencyKeyReused(self.consumer, context.message_id)
        return stored


def same_request(first: str | None, again: str | None) -> bool:
    """Whether a repeated message id comes with the request it first came with, by their
    fingerprints. One missing, or of another form (the text before a ``:``; none for the first
    form), says nothing: an outcome stored before its fingerprint's form changed, or by an
    instance of the previous release during a rolling upgrade, is answered, not refused."""
    if not first or not again or _form(first) != _form(again):
        return True
    return first == again


def _form(fingerprint: str) -> str:
    form, colon, _ = fingerprint.partition(":")
    return form if colon else ""

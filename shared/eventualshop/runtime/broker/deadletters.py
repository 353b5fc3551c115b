"""Dead letters: events a Trigger could not deliver, kept so they can be looked at and replayed.

Knative semantics: after its retries a dispatcher hands the event to the Trigger's
``deadLetterSink``, adding the extensions ``knativeerrorcode`` (last status), ``knativeerrordata``
(the subscriber's answer) and ``knativeerrordest`` (the subscriber). In production that sink is
the ``dead-letters`` function; :func:`from_error_event` turns what it receives into a
:class:`DeadLetter`. Locally the in-process broker and the RabbitMQ dispatcher write straight
into the same :class:`DeadLetterStore`, so both look alike.

A deviation from Knative, which only forwards dead letters. Here they are kept in one table with
their reason and attempt count, can be listed, and replayed to the original Trigger's subscriber
only (not to every Trigger of the broker). A replayed letter is marked, never deleted; if the
replay fails again the Trigger dead-letters it anew, as a new row with the new reason.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from eventualshop.adapters.schema import Identity64, LongText, UtcDateTime
from eventualshop.kernel.messages import to_utc, utc_now
from eventualshop.runtime.broker.binding import CloudEventMessage

KNATIVE_ERROR_EXTENSIONS = ("knativeerrorcode", "knativeerrordata", "knativeerrordest")


#: The length of the id and type columns (``dead_letters.event_id``, ``event_type``).
MAX_NAME = 255


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One undeliverable event for one Trigger. ``attributes`` may be partial when the message
    was malformed (then ``event_id`` / ``event_type`` may be empty)."""

    trigger: str
    event_id: str
    event_type: str
    attributes: dict[str, str]
    data: bytes
    reason: str
    attempts: int
    dead_at: datetime
    replayed_at: datetime | None = None
    id: int | None = None

    def __post_init__(self) -> None:
        # Whoever sends a malformed event names it as they like, and it is kept because it is
        # malformed: the id and type columns (what an operator lists by) hold their first 255
        # characters, the attributes the whole of them, which is what a replay sends. Longer,
        # PostgreSQL refused the letter, and the event was kept nowhere.
        for name in ("event_id", "event_type"):
            value = getattr(self, name)
            if len(value) > MAX_NAME:
                object.__setattr__(self, name, value[:MAX_NAME])

    @classmethod
    def of(
        cls,
        trigger: str,
        message: CloudEventMessage,
        *,
        reason: str,
        attempts: int,
        dead_at: datetime,
    ) -> DeadLetter:
        return cls(
            trigger=trigger,
            event_id=message.id,
            event_type=message.type,
            attributes=dict(message.attributes),
            data=message.data,
            reason=reason,
            attempts=attempts,
            dead_at=dead_at,
        )

    def message(self) -> CloudEventMessage:
        """The event as it was; raises ``BindingError`` for a letter kept because malformed."""
        return CloudEventMessage(self.attributes, self.data)


class DeadLetterNotFound(LookupError):
    pass


class ReplayError(Exception):
    """A dead letter that cannot be replayed (malformed), or a target that cannot take it."""


class DeadLetterStore(Protocol):
    def add(self, letter: DeadLetter) -> int:
        """Keep a letter; return its id."""
        ...

    def get(self, dead_letter_id: int) -> DeadLetter | None: ...

    def list(
        self,
        *,
        trigger: str | None = None,
        include_replayed: bool = False,
        after_id: int = 0,
        limit: int = 100,
    ) -> Sequence[DeadLetter]:
        """Letters in id order (keyset paging with ``after_id``), pending ones unless asked."""
        ...

    def mark_replayed(self, dead_letter_id: int, at: datetime) -> bool:
        """Set ``replayed_at`` unless set already; ``True`` when this call set it (a claim)."""
        ...

    def clear_replayed(self, dead_letter_id: int) -> None:
        """Undo a claim whose re-delivery could not be handed over."""
        ...


class InMemoryDeadLetterStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._letters: dict[int, DeadLetter] = {}

    def add(self, letter: DeadLetter) -> int:
        with self._lock:
            new_id = len(self._letters) + 1
            # Same answers as the SQL store: timestamps come back in UTC.
            self._letters[new_id] = replace(
                letter,
                id=new_id,
                dead_at=to_utc(letter.dead_at),
                replayed_at=letter.replayed_at and to_utc(letter.replayed_at),
            )
            return new_id

    def get(self, dead_letter_id: int) -> DeadLetter | None:
        with self._lock:
            return self._letters.get(dead_letter_id)

    def list(
        self,
        *,
        trigger: str | None = None,
        include_replayed: bool = False,
        after_id: int = 0,
        limit: int = 100,
    ) -> Sequence[DeadLetter]:
        with self._lock:
            letters = [
                letter
                for key, letter in sorted(self._letters.items())
                if key > after_id
                and (trigger is None or letter.trigger == trigger)
                and (include_replayed or letter.replayed_at is None)
            ]
        return letters[:limit]

    def mark_replayed(self, dead_letter_id: int, at: datetime) -> bool:
        with self._lock:
            letter = self._letters.get(dead_letter_id)
            if letter is None or letter.replayed_at is not None:
                return False
            self._letters[dead_letter_id] = replace(letter, replayed_at=to_utc(at))
            return True

    def clear_replayed(self, dead_letter_id: int) -> None:
        with self._lock:
            letter = self._letters.get(dead_letter_id)
            if letter is not None:
                self._letters[dead_letter_id] = replace(letter, replayed_at=None)


# ------------------------------------------------------------------------------------ SQL store

metadata = sa.MetaData()

dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column("id", Identity64, sa.Identity(), nullable=False),
    sa.Column("trigger", sa.String(253), nullable=False),  # a Kubernetes name: at most 253
    sa.Column("event_id", sa.String(MAX_NAME), nullable=False),
    sa.Column("event_type", sa.String(MAX_NAME), nullable=False),
    sa.Column("attributes", LongText, nullable=False),  # JSON object of strings
    sa.Column("data", sa.LargeBinary(), nullable=False),  # bytes as received, any content type
    sa.Column("reason", LongText, nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("dead_at", UtcDateTime(), nullable=False),
    sa.Column("replayed_at", UtcDateTime(), nullable=True),
    sa.PrimaryKeyConstraint("id", name="pk_dead_letters"),
    # What an operator asks: the pending letters of one trigger, oldest first.
    sa.Index("ix_dead_letters_trigger_replayed_id", "trigger", "replayed_at", "id"),
    sqlite_autoincrement=True,
)


class SqlDeadLetterStore:
    """Dead letters in their own table (SQLAlchemy Core): SQLite, PostgreSQL or MSSQL."""

    def __init__(self, engine: Engine | str) -> None:
        if isinstance(engine, str):
            from eventualshop.adapters.database import create_engine

            engine = create_engine(engine)
        self.engine = engine

    def create_table(self) -> None:
        """Create ``dead_letters`` if missing (embedded mode and tests; no migration needed)."""
        metadata.create_all(self.engine, tables=[dead_letters], checkfirst=True)

    def add(self, letter: DeadLetter) -> int:
        with self.engine.begin() as connection:
            result = connection.execute(
                dead_letters.insert().values(
                    trigger=letter.trigger,
                    event_id=letter.event_id,
                    event_type=letter.event_type,
                    attributes=json.dumps(letter.attributes, separators=(",", ":")),
                    data=letter.data,
                    reason=letter.reason,
                    attempts=letter.attempts,
                    dead_at=letter.dead_at,
                    replayed_at=letter.replayed_at,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def get(self, dead_letter_id: int) -> DeadLetter | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(dead_letters).where(dead_letters.c.id == dead_letter_id)
            ).first()
        return None if row is None else _letter(row)

    def list(
        self,
        *,
        trigger: str | None = None,
        include_replayed: bool = False,
        after_id: int = 0,
        limit: int = 100,
    ) -> Sequence[DeadLetter]:
        query = sa.select(dead_letters).where(dead_letters.c.id > after_id)
        if trigger is not None:
            query = query.where(dead_letters.c.trigger == trigger)
        if not include_replayed:
            query = query.where(dead_letters.c.replayed_at.is_(None))
        query = query.order_by(dead_letters.c.id).limit(limit)
        with self.engine.connect() as connection:
            return [_letter(row) for row in connection.execute(query)]

    def mark_replayed(self, dead_letter_id: int, at: datetime) -> bool:
        # Conditional update: of two concurrent replays only one wins the claim.
        with self.engine.begin() as connection:
            result = connection.execute(
                dead_letters.update()
                .where(dead_letters.c.id == dead_letter_id, dead_letters.c.replayed_at.is_(None))
                .values(replayed_at=at)
            )
            return result.rowcount == 1

    def clear_replayed(self, dead_letter_id: int) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                dead_letters.update()
                .where(dead_letters.c.id == dead_letter_id)
                .values(replayed_at=None)
            )


def _letter(row: sa.Row[tuple[object, ...]]) -> DeadLetter:
    values = row._mapping
    return DeadLetter(
        id=int(values["id"]),
        trigger=values["trigger"],
        event_id=values["event_id"],
        event_type=values["event_type"],
        attributes=json.loads(values["attributes"]),
        data=bytes(values["data"]),
        reason=values["reason"],
        attempts=int(values["attempts"]),
        dead_at=values["dead_at"],
        replayed_at=values["replayed_at"],
    )


# --------------------------------------------------------------------------- listing and replay


class Redelivery(Protocol):
    """Whoever can hand an event back to one Trigger (the in-process broker, the dispatcher)."""

    def redeliver(self, letter: DeadLetter) -> None:
        """Deliver ``letter.message()`` to ``letter.trigger`` only; raise if it cannot."""
        ...


def list_dead_letters(
    store: DeadLetterStore,
    *,
    trigger: str | None = None,
    include_replayed: bool = False,
    after_id: int = 0,
    limit: int = 100,
) -> Sequence[DeadLetter]:
    return store.list(
        trigger=trigger, include_replayed=include_replayed, after_id=after_id, limit=limit
    )


@dataclass(frozen=True, slots=True)
class ReplayReport:
    replayed: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)  # malformed, or replayed meanwhile


def replay(
    store: DeadLetterStore,
    target: Redelivery,
    *,
    dead_letter_id: int | None = None,
    trigger: str | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> ReplayReport:
    """Re-deliver one letter (``dead_letter_id``) or every pending letter of ``trigger``.

    Each letter is claimed (marked replayed) before it is handed over, so two operators replaying
    at once deliver it once; if the hand-over fails the claim is undone and the error raised.
    Replaying a whole trigger takes the letters pending *now*: one that fails again and comes back
    as a new letter is not replayed in a loop.
    """
    if (dead_letter_id is None) == (trigger is None):
        raise ValueError("replay one dead letter or all of one trigger, not both or neither")
    report = ReplayReport()
    if dead_letter_id is not None:
        letter = store.get(dead_letter_id)
        if letter is None:
            raise DeadLetterNotFound(f"no dead letter {dead_letter_id}")
        if not _replayable(letter):
            raise ReplayError(f"dead letter {dead_letter_id} is malformed and cannot be replayed")
        _replay_one(store, target, letter, clock, report)
        return report
    pending: list[DeadLetter] = []
    after = 0
    while batch := store.list(trigger=trigger, after_id=after, limit=500):
        pending.extend(batch)
        after = batch[-1].id or after
    for letter in pending:
        if _replayable(letter):
            _replay_one(store, target, letter, clock, report)
        else:
            report.skipped.append(letter.id or 0)
    return report


def _replayable(letter: DeadLetter) -> bool:
    from eventualshop.runtime.broker.binding import BindingError

    try:
        letter.message()
    except BindingError:
        return False
    return True


def _replay_one(
    store: DeadLetterStore,
    target: Redelivery,
    letter: DeadLetter,
    clock: Callable[[], datetime],
    report: ReplayReport,
) -> None:
    assert letter.id is not None
    if not store.mark_replayed(letter.id, clock()):
        report.skipped.append(letter.id)
        return
    try:
        target.redeliver(letter)
    except BaseException:
        store.clear_replayed(letter.id)
        raise
    report.replayed.append(letter.id)


# ------------------------------------------------------------------ Knative dead-letter sink input


def from_error_event(
    message: CloudEventMessage,
    *,
    trigger: str | None = None,
    attempts: int = 0,
    dead_at: datetime | None = None,
) -> DeadLetter:
    """What a Knative dispatcher POSTs to the dead-letter sink, as a :class:`DeadLetter`.

    The ``knativeerror*`` extensions become the reason and are removed, so a replay sends the
    original event. Knative does not say which Trigger nor how many attempts were made: pass the
    trigger (e.g. from a ``?trigger=`` the sink URI carries) and ``attempts`` if known (0: unknown);
    without a trigger the failed destination stands in for it.
    """
    attributes = dict(message.attributes)
    code = attributes.pop("knativeerrorcode", None)
    encoded = attributes.pop("knativeerrordata", None)
    destination = attributes.pop("knativeerrordest", None)
    detail = ""
    if encoded:
        try:
            detail = base64.b64decode(encoded, validate=True).decode(errors="replace")
        except (binascii.Error, ValueError):
            detail = encoded
    reason = f"status {code}" if code else "no response"
    if detail:
        reason = f"{reason}: {detail}"
    original = CloudEventMessage(attributes, message.data)
    return DeadLetter.of(
        trigger or destination or "unknown",
        original,
        reason=reason,
        attempts=attempts,
        dead_at=dead_at or utc_now(),
    )

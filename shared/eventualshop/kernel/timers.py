"""Durable timers: a command an aggregate asks to be sent to itself later.

An aggregate declares ``timers(event, recorded_at)``: for an event it raises, the commands to send
when they fall due (a reservation's expiry, an unconfirmed email's). The repository turns them
into :class:`ScheduledMessage` rows of the same append batch, so a timer exists exactly when the
event that asked for it was committed: no timer for a command that failed, no event whose timer
was lost in a crash.

``timer_sweep.fire_due`` sends what is due through the application service, with the message's
own id as the command's message id: firing is at least once (a message is forgotten only after its
command's outcome is stored) and idempotent (a second firing finds the stored outcome in the
inbox and writes nothing). The command itself decides whether it still matters: an expiry of a
reservation that was renewed or released since, or of an email confirmed since, changes nothing.
Nothing is ever cancelled, which keeps the store one insert and one delete per timer.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from eventualshop.kernel.messages import Command, DomainEvent


@dataclass(frozen=True, slots=True)
class Timer:
    """Send ``command`` (to the aggregate that raised the event) at ``due``."""

    due: datetime
    command: Command


#: What an aggregate schedules for one of its events, given when the event was recorded.
Timers = Callable[[DomainEvent, datetime], Sequence[Timer]]


def no_timers(_event: DomainEvent, _recorded_at: datetime) -> Sequence[Timer]:
    return ()


@dataclass(frozen=True, slots=True)
class ScheduledMessage:
    """One row of ``scheduled_messages``. ``message_id`` is derived from the event that asked
    (``timer:<event id>:<n>``), so it is unique and doubles as the command's idempotency key."""

    message_id: str
    due_at: datetime
    command_type: str
    payload: str
    correlation_id: str
    causation_id: str | None = None
    traceparent: str | None = None


def scheduled_messages(
    event_id: str, timers: Sequence[Timer], *, correlation_id: str, traceparent: str | None
) -> list[ScheduledMessage]:
    return [
        ScheduledMessage(
            message_id=f"timer:{event_id}:{index}",
            due_at=timer.due,
            command_type=type(timer.command).__name__,
            payload=timer.command.model_dump_json(),
            correlation_id=correlation_id,
            causation_id=event_id,
            traceparent=traceparent,
        )
        for index, timer in enumerate(timers)
    ]


class TimerStore(Protocol):
    def due_messages(
        self, now: datetime, limit: int = 100, command_types: Collection[str] | None = None
    ) -> Sequence[ScheduledMessage]:
        """Messages due at ``now``, earliest first; of ``command_types`` only, when given (the
        contexts sharing a database share the table: each sweeps its own commands)."""
        ...

    def forget_message(self, message_id: str) -> None:
        """Delete a fired message (a message already gone is fine: two sweeps raced)."""
        ...

"""Fires durable timers (``kernel.timers``): what the timer sweep function runs for each context."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from eventualshop.kernel.errors import AggregateNotFound, ConcurrencyConflict
from eventualshop.kernel.service import ApplicationService, CommandContext
from eventualshop.kernel.timers import ScheduledMessage, TimerStore

log = logging.getLogger("eventualshop.timers")


@dataclass(frozen=True, slots=True)
class Fired:
    fired: int = 0
    left: int = 0  # due but not fired this time (a conflict, an invalid payload): next sweep


def fire_due(
    store: TimerStore,
    service: ApplicationService[Any],
    now: datetime,
    *,
    limit: int = 100,
) -> Fired:
    """Send every message due at ``now`` (up to ``limit``) through ``service`` and forget it.

    The command runs with the message's id as its message id, so firing twice is harmless; its
    type is one of the aggregate's ``scheduled`` commands. A command whose aggregate is gone is
    forgotten (nothing left to act on); a concurrency conflict that outlived the service's
    retries leaves the message for the next sweep. Only the aggregate's own command types are
    read: contexts sharing a database share the table, and each sweeps its own (a type no
    deployed context knows, written by a newer version, stays in the table, never dropped).
    """
    commands = {command.__name__: command for command in service.kind.scheduled}
    fired = left = 0
    for message in store.due_messages(now, limit, commands.keys()):
        command_type = commands[message.command_type]  # the store read these types only
        try:
            command = command_type.model_validate_json(message.payload)
        except ValidationError:
            # Written by this code from a valid command, so only a changed command model gets
            # here; keeping the row keeps the evidence.
            log.error("timer %s holds an invalid %s", message.message_id, message.command_type)
            left += 1
            continue
        try:
            service.handle(command, _context(message))
        except AggregateNotFound:
            log.warning("timer %s: its aggregate is gone", message.message_id)
        except ConcurrencyConflict:
            left += 1
            continue
        store.forget_message(message.message_id)
        fired += 1
    return Fired(fired, left)


def fire_all_due(
    store: TimerStore,
    service: ApplicationService[Any],
    now: datetime,
    *,
    batch: int = 100,
    budget_seconds: float = 20.0,
    clock: Callable[[], float] = time.monotonic,
) -> Fired:
    """:func:`fire_due` a batch at a time until a batch comes back short, or one fires nothing
    (what is left at the head is waiting on the next sweep), or ``budget_seconds`` are spent.

    A thousand reservations of a busy hour expiring together must not wait ten sweeps (ten
    minutes on the PingSource) for batches of a hundred; the budget keeps one sweep within its
    schedule's interval."""
    deadline = clock() + budget_seconds
    fired = left = 0
    while True:
        result = fire_due(store, service, now, limit=batch)
        fired += result.fired
        left = result.left
        if result.fired == 0 or result.fired + result.left < batch or clock() >= deadline:
            return Fired(fired, left)


def _context(message: ScheduledMessage) -> CommandContext:
    return CommandContext(
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        causation_id=message.causation_id,
        traceparent=message.traceparent,
    )

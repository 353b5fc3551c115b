"""Fires durable timers (``kernel.timers``): what the timer sweep function runs for each context."""

from __future__ import annotations

import logging
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
    left: int = 0  # due but not fired this time (a conflict, an unknown command): next sweep


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
    retries leaves the message for the next sweep; so does a command type this deployment does
    not know (a newer one wrote it): logged, never dropped.
    """
    commands = {command.__name__: command for command in service.kind.scheduled}
    fired = left = 0
    for message in store.due_messages(now, limit):
        command_type = commands.get(message.command_type)
        if command_type is None:
            log.error("timer %s names unknown command %s", message.message_id, message.command_type)
            left += 1
            continue
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


def _context(message: ScheduledMessage) -> CommandContext:
    return CommandContext(
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        causation_id=message.causation_id,
        traceparent=message.traceparent,
    )

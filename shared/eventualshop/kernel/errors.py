"""Typed failures of the write side.

Input-validation errors (a malformed command) are pydantic's ``ValidationError`` and never reach
the domain. Everything below is raised *by* the domain or the event store, so callers can map each
kind to its own answer (409 for a rejection or a conflict, 404 for a missing aggregate).
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID


class DomainError(Exception):
    """Base of every failure the domain or the event store raises on purpose."""


class DomainRejection(DomainError):
    """The command is well formed, but the aggregate refuses it in its current state.

    ``code`` is a stable, machine-readable reason (``cart-not-active``); ``detail`` is for people.
    """

    code: str = "rejected"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class InvariantViolation(DomainRejection):
    """An event would leave the aggregate invalid; the whole command is rejected."""

    code = "invariant-violated"

    def __init__(self, aggregate_type: str, violations: Sequence[str]) -> None:
        self.violations = tuple(violations)
        super().__init__(f"{aggregate_type} would become invalid: " + "; ".join(self.violations))


class CurrencyMismatch(DomainRejection):
    """Arithmetic or comparison between two currencies."""

    code = "currency-mismatch"


class AmountTooLarge(DomainRejection):
    """A sum or product of amounts with more digits than an amount may hold: it would be
    rounded, and no payment could settle it exactly."""

    code = "amount-too-large"


class AggregateNotFound(DomainError):
    def __init__(self, aggregate_type: str, aggregate_id: UUID) -> None:
        super().__init__(f"{aggregate_type} with id {aggregate_id} not found")
        self.aggregate_type = aggregate_type
        self.aggregate_id = aggregate_id


class AggregateAlreadyExists(DomainRejection):
    code = "already-exists"

    def __init__(self, aggregate_type: str, aggregate_id: UUID) -> None:
        super().__init__(f"{aggregate_type} with id {aggregate_id} already exists")


class ConcurrencyConflict(DomainError):
    """Another writer appended the same (aggregate id, version) first."""

    def __init__(self, aggregate_id: UUID, version: int) -> None:
        super().__init__(f"version {version} of aggregate {aggregate_id} was written concurrently")
        self.aggregate_id = aggregate_id
        self.version = version


class DuplicateMessage(DomainError):
    """The inbox already holds this (consumer, message id): the message was processed before."""

    def __init__(self, consumer: str, message_id: str) -> None:
        super().__init__(f"message {message_id} was already processed by {consumer}")
        self.consumer = consumer
        self.message_id = message_id


class IdempotencyKeyReused(DomainError):
    """A message id came back with a different request: it is not a repeat, and must not get
    the first request's outcome."""

    def __init__(self, consumer: str, message_id: str) -> None:
        super().__init__(f"message id {message_id} was first used with another request")
        self.consumer = consumer
        self.message_id = message_id


class UnknownEventType(DomainError):
    pass


class MissingUpcaster(DomainError):
    pass


class DeliverLater(Exception):
    """An event came before what it depends on (an earlier event of its stream, or the work of
    another reaction): whoever delivered it is to deliver it again later. Expected where delivery
    is at least once and unordered, so it is answered as a retry, in one log line, not as a fault
    with its traceback."""

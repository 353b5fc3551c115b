"""Context-free building blocks of the write side. Imports no bounded context."""

from eventualshop.kernel.aggregate import AggregateKind, AggregateState, Step, execute, replay
from eventualshop.kernel.errors import (
    AggregateAlreadyExists,
    AggregateNotFound,
    ConcurrencyConflict,
    CurrencyMismatch,
    DomainError,
    DomainRejection,
    DuplicateMessage,
    InvariantViolation,
)
from eventualshop.kernel.messages import Command, DomainEvent, EventMetadata, RecordedEvent
from eventualshop.kernel.money import Currency, Money, PositiveMoney
from eventualshop.kernel.registry import EventRegistry
from eventualshop.kernel.values import Address, Product

__all__ = [
    "Address",
    "AggregateAlreadyExists",
    "AggregateKind",
    "AggregateNotFound",
    "AggregateState",
    "Command",
    "ConcurrencyConflict",
    "Currency",
    "CurrencyMismatch",
    "DomainError",
    "DomainEvent",
    "DomainRejection",
    "DuplicateMessage",
    "EventMetadata",
    "EventRegistry",
    "InvariantViolation",
    "Money",
    "PositiveMoney",
    "Product",
    "RecordedEvent",
    "Step",
    "execute",
    "replay",
]

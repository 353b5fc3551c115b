"""Context-free building blocks of the write side. Imports no bounded context.

Its names are imported on first use (PEP 562), so that importing one module of the package, such
as its declaration, does not import all of it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOMES: dict[str, str] = {
    "Address": "eventualshop.kernel.values",
    "AggregateAlreadyExists": "eventualshop.kernel.errors",
    "AggregateKind": "eventualshop.kernel.aggregate",
    "AggregateNotFound": "eventualshop.kernel.errors",
    "AggregateState": "eventualshop.kernel.aggregate",
    "Command": "eventualshop.kernel.messages",
    "ConcurrencyConflict": "eventualshop.kernel.errors",
    "Currency": "eventualshop.kernel.money",
    "CurrencyMismatch": "eventualshop.kernel.errors",
    "DomainError": "eventualshop.kernel.errors",
    "DomainEvent": "eventualshop.kernel.messages",
    "DomainRejection": "eventualshop.kernel.errors",
    "DuplicateMessage": "eventualshop.kernel.errors",
    "EventMetadata": "eventualshop.kernel.messages",
    "EventRegistry": "eventualshop.kernel.registry",
    "InvariantViolation": "eventualshop.kernel.errors",
    "Money": "eventualshop.kernel.money",
    "PositiveMoney": "eventualshop.kernel.money",
    "Product": "eventualshop.kernel.values",
    "RecordedEvent": "eventualshop.kernel.messages",
    "Step": "eventualshop.kernel.aggregate",
    "execute": "eventualshop.kernel.aggregate",
    "replay": "eventualshop.kernel.aggregate",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


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

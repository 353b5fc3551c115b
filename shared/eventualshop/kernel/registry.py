"""Event types by name, and the upcasters that bring old stored payloads up to date.

Stored payloads are never rewritten: an event stored as ``CartItemAdded`` v1 stays v1 in the
database, and is upcast one version at a time each time it is read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from eventualshop.kernel.errors import MissingUpcaster, UnknownEventType
from eventualshop.kernel.messages import DomainEvent

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]


class EventRegistry:
    def __init__(self, event_types: Iterable[type[DomainEvent]] = ()) -> None:
        self._types: dict[str, type[DomainEvent]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        for event_type in event_types:
            self.register(event_type)

    def register(self, event_type: type[DomainEvent]) -> None:
        self._types[event_type.event_type()] = event_type

    def upcaster(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorator: ``fn`` turns a payload of ``from_version`` into ``from_version + 1``."""

        def register(fn: Upcaster) -> Upcaster:
            self._upcasters[(event_type, from_version)] = fn
            return fn

        return register

    def __contains__(self, event_type: str) -> bool:
        return event_type in self._types

    def __iter__(self) -> Any:
        return iter(self._types.values())

    def type_of(self, event_type: str) -> type[DomainEvent]:
        try:
            return self._types[event_type]
        except KeyError:
            raise UnknownEventType(f"no event type named {event_type!r} is registered") from None

    @staticmethod
    def encode(event: DomainEvent) -> str:
        return event.model_dump_json(by_alias=True)

    def decode(self, event_type: str, schema_version: int, payload: str | Payload) -> DomainEvent:
        cls = self.type_of(event_type)
        if schema_version == cls.schema_version:
            # The common case: no upcasting, let pydantic parse the JSON text directly (fast path).
            if isinstance(payload, str):
                return cls.model_validate_json(payload)
            return cls.model_validate(payload)
        data: Payload = json.loads(payload) if isinstance(payload, str) else dict(payload)
        version = schema_version
        while version < cls.schema_version:
            step = self._upcasters.get((event_type, version))
            if step is None:
                raise MissingUpcaster(
                    f"{event_type} v{version} is stored but no upcaster to v{version + 1} exists"
                )
            data = step(data)
            version += 1
        if version != cls.schema_version:
            raise MissingUpcaster(
                f"{event_type} v{schema_version} is newer than this code (v{cls.schema_version})"
            )
        return cls.model_validate(data)

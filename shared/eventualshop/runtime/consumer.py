"""The CloudEvent side of a function: decode, apply, and say what the broker should do.

A projector or saga step raises to get the event again later (a 500 from functions-framework,
which the Trigger retries with backoff). An event that can never be understood (not ours, or a
payload that no upcaster can read) must not be retried forever: it is kept as a dead letter here
and acknowledged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ValidationError

from eventualshop.kernel.cloudevents import recorded
from eventualshop.kernel.errors import DomainError
from eventualshop.kernel.messages import RecordedEvent
from eventualshop.kernel.registry import EventRegistry
from eventualshop.kernel.validation import without_input
from eventualshop.runtime.registry import FunctionSpec

if TYPE_CHECKING:
    from eventualshop.runtime.broker.deadletters import DeadLetter, DeadLetterStore

log = logging.getLogger("eventualshop.consumer")


class CloudEventLike(Protocol):
    """What functions-framework hands a CloudEvent target (the SDK's ``CloudEvent``)."""

    data: Any

    def get_attributes(self) -> Any: ...


def consumer(
    spec: FunctionSpec,
    registry: EventRegistry,
    handle: Callable[[RecordedEvent], object],
    dead_letters: Callable[[], DeadLetterStore],
) -> Callable[[CloudEventLike], None]:
    """A CloudEvent target for the function ``spec``, decoding with ``registry``."""

    def target(event: CloudEventLike) -> None:
        attributes = dict(event.get_attributes())
        try:
            decoded = recorded(attributes, event.data, registry)
        except (ValueError, KeyError, ValidationError, DomainError) as error:
            reason = f"malformed, not retried: {_unreadable(error)}"
            letter = _letter(_trigger(spec, attributes), attributes, event.data, reason)
            dead_letters().add(letter)
            log.warning(
                "dead-lettered event %s for %s: %s", letter.event_id, letter.trigger, reason
            )
            return
        handle(decoded)

    target.__name__ = spec.target
    return target


def _unreadable(error: Exception) -> str:
    """Why an event cannot be read, in one line that repeats nothing of its data: the reason is
    logged, and the letter keeps the data for whoever may read it."""
    if isinstance(error, ValidationError):
        return without_input(error)
    if isinstance(error, KeyError):  # an upcaster's look-up of a field the payload lacks
        return f"the payload has no {error.args[0]!r}"
    return str(error)


def _trigger(spec: FunctionSpec, attributes: dict[str, Any]) -> str:
    """The Trigger that brought this event, so a replay of the letter goes back through it."""
    text = {k: str(v) for k, v in attributes.items()}
    for subscription in spec.subscriptions:
        if subscription.matches(text):
            return subscription.name
    return spec.name


def _letter(trigger: str, attributes: dict[str, Any], data: Any, reason: str) -> DeadLetter:
    import json

    from eventualshop.kernel.messages import utc_now
    from eventualshop.runtime.broker.deadletters import DeadLetter

    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    return DeadLetter(
        trigger=trigger,
        event_id=str(attributes.get("id", "")),
        event_type=str(attributes.get("type", "")),
        attributes={k: str(v) for k, v in attributes.items()},
        data=body,
        reason=reason[:1024],
        attempts=1,
        dead_at=utc_now(),
    )

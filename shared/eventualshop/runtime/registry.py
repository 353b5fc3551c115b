"""The function registry's vocabulary: one declaration per deployable function.

Routing is declared once, here, as Knative Trigger semantics (subscriber + exact-match attribute
filters + delivery policy). The in-process broker, the RabbitMQ dispatcher and the generated
Knative manifests all read the same declarations, so local routing is production routing.
Declarations are plain data: reading them imports no function module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal


class FunctionKind(StrEnum):
    COMMAND = "command"  # HTTP-triggered, changes an aggregate
    QUERY = "query"  # HTTP-triggered, reads a read model
    PROJECTOR = "projector"  # CloudEvent-triggered, writes one read model
    SAGA = "saga"  # CloudEvent-triggered, a reaction or a process-manager step
    SCHEDULED = "scheduled"  # CloudEvent-triggered by a PingSource (cron)
    # HTTP-triggered without a public route: Knative's dead-letter sink posts the failed event
    # with ``?trigger=<name>``, which a plain CloudEvent target could not see.
    SINK = "sink"


@dataclass(frozen=True, slots=True)
class Route:
    """An HTTP route; path parameters are written ``{name}`` (UUIDs unless said otherwise)."""

    method: Literal["GET", "POST", "PUT", "DELETE", "PATCH"]
    path: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """Knative ``DeliverySpec``: retries after the first attempt, backoff, dead-letter sink."""

    retry: int = 3
    backoff_policy: Literal["linear", "exponential"] = "exponential"
    backoff_delay: str = "PT0.5S"  # ISO 8601 duration, as Knative writes it
    dead_letter_sink: str | None = "dead-letters"  # name of the function that keeps them

    def delay_seconds(self, attempt: int) -> float:
        """Wait before retry ``attempt`` (1-based), as Knative computes it."""
        base = parse_duration(self.backoff_delay)
        if self.backoff_policy == "linear":
            return base * attempt
        return float(base * 2 ** (attempt - 1))


@dataclass(frozen=True, slots=True)
class Subscription:
    """One Knative Trigger: the events (exact-match attribute filters) a function receives."""

    name: str
    filters: dict[str, str]
    delivery: Delivery = field(default_factory=Delivery)

    def matches(self, attributes: dict[str, str]) -> bool:
        return all(attributes.get(key) == value for key, value in self.filters.items())


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    name: str  # DNS-1123 label, the Knative Service name
    kind: FunctionKind
    context: str
    module: str  # importable module, e.g. "functions.commands.shopping_cart"
    target: str  # functions-framework target inside it
    route: Route | None = None
    subscriptions: tuple[Subscription, ...] = ()
    schedule: str | None = None  # cron, for scheduled functions
    concurrency: int = 50  # container concurrency: requests one instance serves at once
    max_scale: int = 10

    @property
    def signature_type(self) -> Literal["http", "cloudevent"]:
        http = (FunctionKind.COMMAND, FunctionKind.QUERY, FunctionKind.SINK)
        return "http" if self.kind in http else "cloudevent"

    @property
    def source(self) -> str:
        return self.module.replace(".", "/") + ".py"


def parse_duration(text: str) -> float:
    """Seconds of a simple ISO 8601 duration such as ``PT0.5S``, ``PT2S`` or ``PT1M``."""
    if not text.startswith("PT"):
        raise ValueError(f"unsupported duration {text!r}; use PT<n>S or PT<n>M")
    body, seconds = text[2:], 0.0
    for unit, factor in (("H", 3600.0), ("M", 60.0), ("S", 1.0)):
        if unit in body:
            number, body = body.split(unit, 1)
            seconds += float(number) * factor
    if body:
        raise ValueError(f"unsupported duration {text!r}")
    return seconds

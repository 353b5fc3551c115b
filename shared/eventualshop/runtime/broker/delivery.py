"""Delivery with Knative Trigger semantics: the in-process broker and the RabbitMQ dispatcher.

Both read the same declarations, ``(Subscription, subscriber)`` pairs, and share one delivery
rule, so local routing is production routing:

* An event goes to every Trigger whose filters all equal the event's attributes (exact match on
  context attributes and extensions alike; no filter matches everything).
* The subscriber answers like an HTTP endpoint. 2xx: delivered. No answer (refused, timeout,
  exception), 5xx, 404, 408, 409 or 429: retried, as Knative's ``SelectiveRetry`` does, after
  ``Delivery.delay_seconds(n)`` (linear: delay * n, exponential: delay * 2^(n-1)), at most
  ``retry`` times after the first attempt. Any other status (3xx, 400, 401, 403, 413, 422, ...)
  says the event itself is unacceptable: dead-lettered at once, never retried.
* Then the event goes to the dead-letter store with the reason (last status and the start of the
  answer, or the error), the attempts made and the trigger; without a ``dead_letter_sink`` it is
  dropped, as Knative does.

Deviations: Knative treats an empty filter value as "any value"; here every value is compared
exactly (``Subscription.matches``). Knative's optional Retry-After handling is not implemented.
The RabbitMQ dispatcher keeps waiting messages in per-trigger retry queues instead of holding
them in memory (see :class:`RabbitMqDispatcher`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from eventualshop.kernel.errors import DeliverLater
from eventualshop.runtime.broker.binding import (
    CloudEventMessage,
    to_binary,
)
from eventualshop.runtime.broker.httpclient import HttpFailure, HttpPoster
from eventualshop.runtime.registry import Subscription

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from eventualshop.runtime.broker.deadletters import DeadLetter


log = logging.getLogger(__name__)

#: How much of a subscriber's answer a dead letter keeps (Knative keeps 1024 bytes too).
DETAIL_LIMIT = 1024
RETRYABLE_STATUSES = frozenset({404, 408, 409, 429})


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """A subscriber's answer: an HTTP status, or ``None`` when there was no answer at all."""

    status: int | None
    detail: str = ""

    def describe(self) -> str:
        head = "no response" if self.status is None else f"status {self.status}"
        return f"{head}: {self.detail}" if self.detail else head


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    REJECTED = "rejected"


def verdict(outcome: DeliveryOutcome) -> Verdict:
    """Knative's ``SelectiveRetry``: what is worth another attempt."""
    status = outcome.status
    if status is None or status >= 500 or status in RETRYABLE_STATUSES:
        return Verdict.RETRY
    if 200 <= status < 300:
        return Verdict.DELIVERED
    return Verdict.REJECTED


#: A subscriber is a URL (POSTed in binary mode) or a callable answering like one: an HTTP status,
#: or a ``DeliveryOutcome`` to add a detail for the dead letter. An exception means "no answer".
Subscriber = Callable[[CloudEventMessage], int | DeliveryOutcome] | str


def call_subscriber(
    subscriber: Subscriber, message: CloudEventMessage, poster: HttpPoster
) -> DeliveryOutcome:
    if isinstance(subscriber, str):
        headers, body = to_binary(message)
        try:
            reply = poster.post(subscriber, headers, body)
        except HttpFailure as error:
            return DeliveryOutcome(None, str(error)[:DETAIL_LIMIT])
        return DeliveryOutcome(reply.status, excerpt(reply.body))
    try:
        answer = subscriber(message)
    except DeliverLater as early:  # expected: no traceback, the retry is the answer
        log.info("event %s came early, to be delivered again: %s", message.id, early)
        return DeliveryOutcome(None, f"{type(early).__name__}: {early}"[:DETAIL_LIMIT])
    except Exception as error:  # the subscriber's bug must not kill the broker: retry it
        log.exception("subscriber raised on event %s", message.id)
        return DeliveryOutcome(None, f"{type(error).__name__}: {error}"[:DETAIL_LIMIT])
    if isinstance(answer, DeliveryOutcome):
        return answer
    return DeliveryOutcome(int(answer))


def excerpt(body: bytes) -> str:
    return body[:DETAIL_LIMIT].decode(errors="replace")


class WsgiSubscriber:
    """Delivers to a WSGI app in-process, in HTTP binary mode, without a socket.

    For delivering to a functions-framework app exactly as Knative would, e.g. ``WsgiSubscriber(
    functions_framework.create_app(target, source, "cloudevent"))`` (the local server instead
    calls its targets directly, see ``runtime.local.DirectSubscriber``).
    """

    def __init__(self, app: WSGIApplication, path: str = "/") -> None:
        from werkzeug.test import Client

        self.path = path
        self._client = Client(app)

    def __call__(self, message: CloudEventMessage) -> DeliveryOutcome:
        headers, body = to_binary(message)
        response = self._client.post(self.path, headers=headers, data=body)
        return DeliveryOutcome(response.status_code, excerpt(response.get_data()))


@dataclass(frozen=True, slots=True)
class Trigger:
    subscription: Subscription
    subscriber: Subscriber

    @property
    def name(self) -> str:
        return self.subscription.name


def triggers_by_name(pairs: Iterable[tuple[Subscription, Subscriber]]) -> dict[str, Trigger]:
    triggers: dict[str, Trigger] = {}
    for subscription, subscriber in pairs:
        if subscription.name in triggers:
            raise ValueError(f"two triggers named {subscription.name!r}")
        triggers[subscription.name] = Trigger(subscription, subscriber)
    return triggers


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    trigger: str
    event_id: str
    delivered: bool
    attempts: int
    outcome: DeliveryOutcome
    dead_letter_id: int | None = None


# ------------------------------------------------------------------------------ in-process broker


def failure_reason(outcome: DeliveryOutcome, result: Verdict) -> str:
    described = outcome.describe()
    if result is Verdict.REJECTED:
        return f"rejected, not retried: {described}"
    return described


def log_retry(
    trigger: Trigger, message: CloudEventMessage, attempt: int, outcome: DeliveryOutcome
) -> None:
    """One line for a failed attempt that will be retried: which, why, and when again."""
    delivery = trigger.subscription.delivery
    log.info(
        "event %s (%s) for %s: attempt %d of %d failed (%s); again in %g s",
        message.id,
        message.type,
        trigger.name,
        attempt,
        delivery.retry + 1,
        outcome.describe(),
        delivery.delay_seconds(attempt),
    )


def log_dead_letter(letter: DeadLetter, letter_id: int) -> None:
    """One line for an event that became a dead letter, with the command that sends it again."""
    log.warning(
        "event %s (%s) for %s is dead letter %d after %d attempts (%s); "
        "`eventualshop dead-letters replay %d` sends it again",
        letter.event_id,
        letter.event_type,
        letter.trigger,
        letter_id,
        letter.attempts,
        letter.reason,
        letter_id,
    )


# --------------------------------------------------------------------------- RabbitMQ dispatcher

"""Random command sessions and broker-like delivery for the delivery property tests of any
aggregate's projectors (the cart's own test, ``shopping_cart/test_projection_delivery_properties``,
is the model: its ``deliver_like_a_broker`` is reused as it is)."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterable
from typing import Any

from hypothesis import strategies as st

from eventualshop.kernel.aggregate import AggregateKind
from eventualshop.kernel.errors import AggregateNotFound, DomainRejection
from eventualshop.kernel.messages import Command, RecordedEvent
from eventualshop.kernel.projection import Projection, Projector
from eventualshop.kernel.readmodels import Document
from eventualshop.kernel.readmodels_memory import InMemoryReadModelStore
from tests.unit.recorded import History, project
from tests.unit.shopping_cart.history import contents
from tests.unit.shopping_cart.test_projection_delivery_properties import deliver_like_a_broker

__all__ = ["SEEDS", "attempt_all", "delivered_contents", "in_order_contents", "session_history"]

#: Which shuffle and which duplicates a delivery gets.
SEEDS = st.integers(0, 2**32 - 1)


def attempt_all(history: History, commands: Iterable[Command]) -> None:
    """Run each command; a rejected one raises no event and changes nothing."""
    for command in commands:
        # AggregateAlreadyExists is a rejection too.
        with contextlib.suppress(DomainRejection, AggregateNotFound):
            history.run(command)


def session_history(kind: AggregateKind[Any], commands: Iterable[Command]) -> History:
    """The events of ``kind``'s aggregates after ``commands`` (the rejected ones raise none)."""
    history = History(kind)
    attempt_all(history, commands)
    return history


def in_order_contents(
    events: list[RecordedEvent], projections: Iterable[Projection]
) -> dict[str, dict[str, Document]]:
    """Every collection the projections write after each event is delivered once, in order."""
    chosen = list(projections)
    return contents(project(InMemoryReadModelStore(), chosen, events), chosen)


def delivered_contents(
    events: list[RecordedEvent], projections: Iterable[Projection], seed: int
) -> dict[str, dict[str, Document]]:
    """Every collection the projections write when a broker delivers ``events`` shuffled and
    duplicated (``seed`` picks the order), each projector on the same store."""
    chosen = list(projections)
    store = InMemoryReadModelStore()
    every = [Projector(store, projection) for projection in chosen]
    deliver_like_a_broker(events, every, random.Random(seed))
    return contents(store, chosen)

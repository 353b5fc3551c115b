"""The sweep's drain publishes what was written when it began, and returns under steady load."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from eventualshop.kernel.eventstore import OutboxEntry
from eventualshop.kernel.outbox import OutboxRelay
from eventualshop.shopping_cart.commands import CreateCart
from tests.unit.shopping_cart.history import CartHistory


def create_cart() -> CreateCart:
    return CreateCart(cart_id=uuid.uuid4(), customer_id=uuid.uuid4(), currency="USD")


class CommittingWhilePublishing:
    """A publisher during whose every publish a client commits another command (steady load);
    it stops committing after ``limit`` publishes so a drain that chases the load still ends."""

    def __init__(self, history: CartHistory, limit: int = 50) -> None:
        self.history = history
        self.limit = limit
        self.published: list[OutboxEntry] = []
        self.calls = 0

    def publish(self, entries: Sequence[OutboxEntry]) -> None:
        self.published.extend(entries)
        self.calls += 1
        if self.calls <= self.limit:
            self.history.run(create_cart())


def test_a_drain_under_steady_load_publishes_what_was_written_when_it_began_and_returns() -> None:
    history = CartHistory()
    history.run(*(create_cart() for _ in range(5)))
    publisher = CommittingWhilePublishing(history)
    relay = OutboxRelay(history.store, publisher, batch_size=2)

    published = relay.drain()

    # The five events of before, in three batches (2 + 2 + 1 and what the load added to the
    # last batch): not the fifty the load kept adding while the drain ran.
    assert 5 <= published <= 6
    assert publisher.calls == 3
    assert [e.id for e in publisher.published] == sorted(e.id for e in publisher.published)
    # What came later is left for the commits' own passes (or the next sweep): none is lost.
    assert relay.drain() > 0
    while relay.drain():
        pass
    assert history.store.pending_outbox() == []

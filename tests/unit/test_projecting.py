"""``eventualshop project``: projectors in a process of their own, fed from the event store."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest

from eventualshop.catalog.commands import CreateCatalog
from eventualshop.catalog.queries import get_catalog
from eventualshop.kernel.messages import RecordedEvent
from eventualshop.kernel.projection import Projector
from eventualshop.runtime import projecting
from eventualshop.runtime.root import Root
from eventualshop.shopping_cart.commands import AddCartItem, ChangeCartItemQuantity, CreateCart
from eventualshop.shopping_cart.queries import get_cart_details
from eventualshop.shopping_cart.read_models import PROJECTIONS
from tests.unit.shopping_cart.examples import KEYBOARD, price

CONTEXT = "shopping-cart"


@pytest.fixture
def root(embedded_root: Root) -> Root:
    return embedded_root


def a_cart(root: Root) -> tuple[uuid.UUID, uuid.UUID]:
    service = root.service(CONTEXT)
    cart_id = uuid.uuid4()
    service.handle(CreateCart(cart_id=cart_id, customer_id=uuid.uuid4(), currency="USD"))
    item_id = uuid.uuid4()
    service.handle(
        AddCartItem(
            cart_id=cart_id,
            item_id=item_id,
            catalog_id=uuid.uuid4(),
            inventory_id=uuid.uuid4(),
            product=KEYBOARD,
            quantity=1,
            unit_price=price("10.00"),
        )
    )
    return cart_id, item_id


def project_until_shown(root: Root, cart_id: uuid.UUID, polls: int = 500) -> None:
    """Run the worker until the cart's details are projected, or ``polls`` pauses have passed;
    then stop it, as SIGTERM does."""
    stop = threading.Event()
    worker = threading.Thread(
        target=projecting.run, args=(root, stop), kwargs={"idle_seconds": 0.01}
    )
    worker.start()
    try:
        for _ in range(polls):
            if get_cart_details(root.read_model_store(), cart_id) is not None:
                break
            stop.wait(0.01)
    finally:
        stop.set()
        worker.join(timeout=10)
    assert not worker.is_alive()


def test_every_projector_is_fed_from_the_store_and_a_restart_resumes_where_it_stopped(
    root: Root,
) -> None:
    cart_id, item_id = a_cart(root)
    feeds = projecting.feeds(root)
    every = sum(len(c.projections) for c in root.contexts.values())
    assert len(feeds) == every
    # The cart's two events reach the cart's projectors; the other contexts' have nothing.
    assert sum(feed.run_once() for feed in feeds) == 2 * len(PROJECTIONS)
    assert get_cart_details(root.read_model_store(), cart_id) is not None
    assert all(feed.run_once() == 0 for feed in feeds)  # caught up

    root.service(CONTEXT).handle(
        ChangeCartItemQuantity(cart_id=cart_id, item_id=item_id, new_quantity=3)
    )
    restarted = projecting.feeds(root)  # a new worker: resumes after the cursors' positions
    assert sum(feed.run_once() for feed in restarted) == len(PROJECTIONS)
    details = get_cart_details(root.read_model_store(), cart_id)
    assert details is not None
    assert details["total"]["amount"] in ("30.00", "30"), details


def test_the_worker_runs_until_told_to_stop(root: Root) -> None:
    cart_id, _ = a_cart(root)
    project_until_shown(root, cart_id)
    assert get_cart_details(root.read_model_store(), cart_id) is not None


def test_a_failed_run_is_logged_once_and_given_again(
    root: Root, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cart_id, _ = a_cart(root)
    original = Projector.handle_batch
    failures = [RuntimeError("server closed the connection unexpectedly")]

    def flaky(self: Projector, events: Sequence[RecordedEvent]) -> int:
        if failures:
            raise failures.pop()
        return original(self, events)

    monkeypatch.setattr(Projector, "handle_batch", flaky)
    project_until_shown(root, cart_id)

    assert get_cart_details(root.read_model_store(), cart_id) is not None
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == "eventualshop.project" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 1
    assert "server closed the connection" in warnings[0]


def test_an_outage_is_retried_with_a_growing_pause_not_logged_every_turn(
    root: Root, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Was: a feed that failed was given again on the next turn, every idle pause: with the
    # database down a second, a warning per projector every 10 ms (about 20 per second at the
    # default pause, for each of the fifteen projectors, for as long as the outage lasted).
    cart_id, _ = a_cart(root)
    original = Projector.handle_batch
    outage_ends = time.monotonic() + 1.0

    def down_for_a_second(self: Projector, events: Sequence[RecordedEvent]) -> int:
        if time.monotonic() < outage_ends:
            raise RuntimeError("connection refused")
        return original(self, events)

    monkeypatch.setattr(Projector, "handle_batch", down_for_a_second)
    with caplog.at_level(logging.INFO, logger="eventualshop.project"):
        project_until_shown(root, cart_id, polls=1000)

    assert get_cart_details(root.read_model_store(), cart_id) is not None
    assert time.monotonic() - outage_ends < 3, "resumed long after the outage"
    for projection in PROJECTIONS:
        about = [r for r in caplog.records if projection.name in r.getMessage()]
        warnings = [r for r in about if r.levelno == logging.WARNING]
        assert 1 <= len(warnings) <= 6, [r.getMessage() for r in warnings]
        recovered = [r.getMessage() for r in about if r.levelno == logging.INFO]
        assert len(recovered) == 1, recovered
        assert f"after {len(warnings)} failed runs" in recovered[0], recovered


def test_contexts_sharing_one_event_store_each_project_their_own_events(
    root: Root, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The README's PostgreSQL set-up: one URL, one events table for every context. Was: each
    # projector decoded every context's events with its own context's types, and its run failed
    # for good on the first other one (UnknownEventType "no event type named 'CartCreated'"),
    # given again forever with a warning each time: `project` projected nothing.
    monkeypatch.setenv("EVENTUALSHOP_EVENT_STORE_URL", f"sqlite:///{tmp_path / 'shared.sqlite3'}")
    monkeypatch.setenv("EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY", "a key for this test only")
    root.reset()
    assert len({id(root.event_store(c)) for c in root.contexts}) == 1  # one store
    catalog_id = uuid.uuid4()
    root.service("catalog").handle(
        CreateCatalog(catalog_id=catalog_id, title="Keyboards", description="For typists")
    )
    cart_id, _ = a_cart(root)
    feeds = projecting.feeds(root)

    assert all(feed.run_once() == 3 for feed in feeds)  # every feed reads the three events
    assert get_cart_details(root.read_model_store(), cart_id) is not None
    assert get_catalog(root.read_model_store(), catalog_id) is not None
    assert all(feed.run_once() == 0 for feed in feeds)  # caught up

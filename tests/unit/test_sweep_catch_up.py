"""The sweep's catch-up: what the broker has not brought yet, applied from the event store in
runs (one read-model transaction per run and projection, not one per cart), and equal to a
replay whichever way it was applied."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventualshop.kernel.readmodels_memory import InMemoryReadModelStore
from eventualshop.kernel.rebuild import rebuild
from eventualshop.kernel.repository import Repository
from eventualshop.runtime import admin
from eventualshop.runtime.root import Root
from eventualshop.shopping_cart.commands import AddCartItem, CreateCart
from eventualshop.shopping_cart.read_models import PROJECTIONS
from functions.registry import CONTEXTS, FUNCTIONS
from tests.unit.shopping_cart.examples import KEYBOARD, price

CONTEXT = "shopping-cart"


@pytest.fixture
def root(embedded_root: Root) -> Root:
    return embedded_root


def carts(root: Root, count: int, items: int = 2) -> None:
    service = root.service(CONTEXT)
    for _ in range(count):
        cart_id = uuid.uuid4()
        service.handle(CreateCart(cart_id=cart_id, customer_id=uuid.uuid4(), currency="USD"))
        for _ in range(items):
            service.handle(
                AddCartItem(
                    cart_id=cart_id,
                    item_id=uuid.uuid4(),
                    catalog_id=uuid.uuid4(),
                    inventory_id=uuid.uuid4(),
                    product=KEYBOARD,
                    quantity=1,
                    unit_price=price("10.00"),
                )
            )


def transactions(root: Root, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A counter of the read-model store's ``pinned`` blocks (one per projector transaction)."""
    store = root.read_model_store()
    original = store.pinned
    count = [0]

    @contextlib.contextmanager
    def counted() -> Iterator[None]:
        count[0] += 1
        with original():
            yield

    monkeypatch.setattr(store, "pinned", counted)
    return count


def differences_from_a_replay(root: Root) -> list[str]:
    store = root.event_store(CONTEXT)
    replayed = InMemoryReadModelStore()
    rebuild(store, Repository(store, root.aggregate(CONTEXT)).decode, replayed, PROJECTIONS)
    live = root.read_model_store()
    return [
        f"{collection}/{document['id']}"
        for projection in PROJECTIONS
        for collection in projection.collections
        for document in replayed.find(collection)
        if live.get(collection, document["id"]) != document
    ]


def test_after_the_first_look_a_burst_of_carts_is_applied_in_runs_not_cart_by_cart(
    root: Root, monkeypatch: pytest.MonkeyPatch
) -> None:
    marks: dict[str, int] = {}
    carts(root, 3)
    assert admin.catch_up(root, CONTEXT, marks) == 3 * 3 * len(PROJECTIONS)  # the first look
    assert differences_from_a_replay(root) == []

    carts(root, 40)  # a burst the broker has not delivered
    counted = transactions(root, monkeypatch)
    applied = admin.catch_up(root, CONTEXT, marks)

    assert applied == 40 * 3 * len(PROJECTIONS)
    assert differences_from_a_replay(root) == []
    # One run of 120 events per projection, not a transaction per cart (40 per projection).
    assert counted[0] == len(PROJECTIONS)
    assert admin.catch_up(root, CONTEXT, marks) == 0


def test_a_run_applies_only_what_the_broker_left_behind_and_a_failure_keeps_the_marks(
    root: Root, monkeypatch: pytest.MonkeyPatch
) -> None:
    marks: dict[str, int] = {}
    carts(root, 1)
    admin.catch_up(root, CONTEXT, marks)
    carts(root, 5)
    # The broker brought one projection everything: the catch-up leaves it alone.
    delivered = next(iter(PROJECTIONS))
    store = root.event_store(CONTEXT)
    decode = Repository(store, root.aggregate(CONTEXT)).decode
    root.projector(CONTEXT, delivered.name).handle_batch([decode(e) for e in store.read_all(0)])
    before = dict(marks)

    def failing(*_: object, **__: object) -> int:
        raise RuntimeError("the read-model store went away")

    with monkeypatch.context() as patched:
        patched.setattr(admin, "_read_by_position", failing)
        with pytest.raises(RuntimeError):
            admin.catch_up(root, CONTEXT, marks)
    assert marks == before  # the next sweep looks again

    assert admin.catch_up(root, CONTEXT, marks) == 5 * 3 * (len(PROJECTIONS) - 1)
    assert differences_from_a_replay(root) == []


def test_a_first_look_with_many_carts_behind_reads_the_store_by_position_once(
    root: Root, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restart after a burst the broker never delivered: more streams behind than are worth
    a round trip each."""
    carts(root, admin.FIRST_LOOK_STREAMS + 10)
    counted = transactions(root, monkeypatch)

    applied = admin.catch_up(root, CONTEXT, {})

    assert applied == (admin.FIRST_LOOK_STREAMS + 10) * 3 * len(PROJECTIONS)
    assert differences_from_a_replay(root) == []
    assert counted[0] == len(PROJECTIONS)  # one run each, not one transaction per cart


def test_contexts_sharing_one_event_store_share_one_relay_and_the_sweep_drains_it_once(
    root: Root, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two relays over one outbox would publish the same backlog at once under two locks, and
    the sweep would drain it once per context. (``root``: an environment of the test's own.)"""
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    monkeypatch.setenv("EVENTUALSHOP_EVENT_STORE_URL", url)
    shared = Root(CONTEXTS, FUNCTIONS)
    try:
        relays = {id(shared.relay(name)) for name in shared.contexts}
        assert len(relays) == 1
        assert len(shared.relays()) == 1
    finally:
        shared.reset()


def test_contexts_with_stores_of_their_own_have_a_relay_each(root: Root) -> None:
    assert len(root.relays()) == len(root.contexts)
    assert root.relay(CONTEXT).store is root.event_store(CONTEXT)


def test_a_failed_catch_up_does_not_keep_the_sweep_from_draining(
    root: Root, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Was: the catch-up's error ended the sweep before its drain, so with the read-model store
    # down the events left in the outbox after a crash stayed there (found with PostgreSQL read
    # models refusing connections: the relay position did not move until they came back).
    from eventualshop.kernel.outbox import InMemoryPublisher

    carts(root, 2, items=1)  # four events, published by no one: no broker yet
    published = InMemoryPublisher()
    root.use_publisher(published)

    def read_models_down(*_: object) -> int:
        raise ConnectionError("read-model store refused the connection")

    monkeypatch.setattr(admin, "catch_up", read_models_down)

    with pytest.raises(ConnectionError, match="read-model store"):
        root.sweep()  # its answer still says what is down: a 503, or the command's exit 69

    assert len(published.published) == 4  # but only once the outbox was drained


def test_the_local_ticker_runs_every_job_though_one_fails() -> None:
    from eventualshop.runtime.local import Ticker

    ran: list[str] = []

    def outbox_sweep() -> None:
        ran.append("outbox")
        raise ConnectionError("read-model store down")

    ticker = Ticker(60, [outbox_sweep, lambda: ran.append("timers")])
    ticker.tick()

    assert ran == ["outbox", "timers"]  # was: the timers never ran while the outbox sweep failed

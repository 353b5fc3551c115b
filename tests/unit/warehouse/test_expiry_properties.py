"""Property: with reservations expiring and carts checking out, however the broker delivers the
cart events (duplicated, shuffled) and whenever the timer sweep runs in between, the inventory
never holds more than it has, and once every timer has fired: a checked-out cart holds exactly
its items (for its order), every other cart holds nothing.

The warehouse is the real application service on an in-memory event store, the timers are its
own scheduled messages, fired by ``timer_sweep.fire_due`` against a clock the test moves on.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventualshop.kernel.messages import Command, RecordedEvent
from eventualshop.kernel.service import ApplicationService
from eventualshop.kernel.timer_sweep import fire_due
from eventualshop.processes.reservations import REACTS_TO, NotYet, StockReservations
from eventualshop.shopping_cart import AddCreditCard, Cart, CheckOutCart, CreateCart
from eventualshop.shopping_cart.events import CartStatus
from eventualshop.warehouse.commands import RESERVATION_TIME
from eventualshop.warehouse.events import InventoryReservationReleased, InventoryReserved
from eventualshop.warehouse.inventory import Inventory
from tests.unit.shopping_cart.examples import INVENTORY_ID, card, price
from tests.unit.shopping_cart.history import CartHistory

from .test_reservation_properties import (
    CARTS,
    OWNER,
    Carts,
    Step,
    held_by_carts,
    holds,
    steps,
    stocked,
)

START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class CheckOut(Step):
    """Pay what is due by card, then check out (a cart with nothing due is refused: harmless)."""

    def commands(self, carts: Mapping[UUID, Cart]) -> list[Command]:
        cart = carts.get(CARTS[self.cart])
        due = [] if cart is None or cart.amount_due.is_zero else [cart.amount_due]
        pay = [
            AddCreditCard(
                cart_id=CARTS[self.cart],
                method_id=uuid4(),
                amount=price(str(amount.amount), amount.currency),
                credit_card=card(),
            )
            for amount in due
        ]
        return [*pay, CheckOutCart(cart_id=CARTS[self.cart])]


check_outs = st.builds(
    CheckOut,
    kind=st.just("check-out"),
    cart=st.integers(0, len(CARTS) - 1),
    item=st.just(0),
    product=st.just(0),
    quantity=st.just(1),
)


def carts_of(plan: list[Step]) -> Carts:
    """``cart_events`` with check-outs among the steps."""
    history = CartHistory(start=START)  # a hold counts from its cart event's time
    for cart in CARTS:
        history.run(CreateCart(cart_id=cart, customer_id=OWNER, currency="USD"))
    for step in plan:
        commands = step.commands(history.states) if isinstance(step, CheckOut) else [step.command()]
        for command in commands:
            history.attempt(command)
    reacted = [e for e in history.events if isinstance(e.event, REACTS_TO)]
    return Carts(reacted, history.states, history)


def deliver_with_sweeps(
    carts: Carts, seed: int, warehouse: ApplicationService[Inventory] | None = None
) -> dict[tuple[UUID, str], int]:
    rng = random.Random(seed)
    warehouse = warehouse or stocked(units=1000)
    now = [START]
    process = StockReservations(carts.of, warehouse)
    queue: list[RecordedEvent | None] = [
        e for e in carts.reacted for _ in range(rng.choice([1, 1, 2]))
    ]
    queue += [None] * rng.randint(0, 4)  # the sweep, somewhere among the deliveries
    rng.shuffle(queue)
    while queue:
        event = queue.pop(0)
        if event is None:
            now[0] += rng.choice([timedelta(minutes=1), RESERVATION_TIME + timedelta(seconds=1)])
            fire_due(warehouse.store, warehouse, now[0])
        else:
            try:
                process.handle(event)
            except NotYet:
                queue.append(event)
        inventory = warehouse.repository.load(INVENTORY_ID)
        assert inventory is not None
        assert all(0 <= i.reserved <= i.quantity for i in inventory.items)
    # Long after the last delivery every timer has fired.
    fire_due(warehouse.store, warehouse, now[0] + timedelta(days=1), limit=10_000)
    return holds(warehouse)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=st.lists(st.one_of(steps, check_outs), max_size=14), seed=st.integers(0, 2**32 - 1))
def test_after_every_timer_fired_only_checked_out_carts_hold_and_exactly_their_items(
    plan: list[Step], seed: int
) -> None:
    carts = carts_of(plan)
    checked_out = {c.id: c for c in carts.states.values() if c.status is CartStatus.CHECKED_OUT}

    assert deliver_with_sweeps(carts, seed) == held_by_carts(checked_out)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=st.lists(st.one_of(steps, check_outs), max_size=14), seed=st.integers(0, 2**32 - 1))
def test_a_carts_request_delivered_after_a_later_hold_expired_reserves_nothing(
    plan: list[Step], seed: int
) -> None:
    # An expired hold's cart is forgotten (no record of it stays): only the inventory's horizon
    # tells the cart's older requests, delivered late or again, that they come too late.
    warehouse = stocked(units=1000)
    deliver_with_sweeps(carts_of(plan), seed, warehouse)

    # The latest expired cart version of each cart on each item (one item per product here).
    expired: dict[tuple[UUID, UUID], int] = {}
    for stored in warehouse.store.load_events(INVENTORY_ID):
        event = warehouse.repository.decode(stored).event
        if isinstance(event, InventoryReservationReleased) and event.reason == "expired":
            expired[(event.cart_id, event.item_id)] = event.cart_version
        elif isinstance(event, InventoryReserved) and event.expiration is not None:
            before = expired.get((event.cart_id, event.item_id), -1)
            assert event.cart_version > before, f"{event!r} after its cart's v{before} expired"
    inventory = warehouse.repository.load(INVENTORY_ID)
    assert inventory is not None
    forgotten = [
        r
        for i in inventory.items
        for r in i.reserves
        if r.cart_version <= expired.get((r.cart_id, i.id), -1)
    ]
    assert forgotten == []

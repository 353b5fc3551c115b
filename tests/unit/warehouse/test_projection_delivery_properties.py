"""Property: however the broker delivers the inventories' events (duplicated, shuffled, and
every event that arrives before its predecessor refused and redelivered later, as the cart's
property test delivers them), the two Warehouse read models end exactly as after in-order
delivery, and each item's running quantities agree with the inventory itself.

Two inventories take a random mix of receipts (of each product at up to three costs, each cost
its own item), adjustments (some beyond what is available, so refused and recorded),
reservations and releases by three carts; rejected commands raise nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from eventualshop.kernel.messages import Command
from eventualshop.kernel.readmodels import Document
from eventualshop.warehouse.commands import (
    CreateInventory,
    DecreaseInventoryAdjust,
    IncreaseInventoryAdjust,
    ReceiveInventoryItem,
    ReleaseInventoryReservation,
    ReleaseReason,
    ReserveInventoryItem,
)
from eventualshop.warehouse.inventory import INVENTORY, Inventory
from eventualshop.warehouse.read_models import ITEM_LIST, PROJECTIONS, member_id
from tests.unit.delivery import attempt_all, delivered_contents, in_order_contents
from tests.unit.recorded import History

from .examples import CASE, CATALOG_ID, OWNER_ID, PHONE

INVENTORIES = [UUID(f"0a4e0000-0000-4000-8000-00000000a{n:03d}") for n in range(2)]
CARTS = [UUID(f"0a4e0000-0000-4000-8000-00000000c{n:03d}") for n in range(3)]
#: Per product, per cost: stock received at another cost is another item of the same product,
#: so a cart's hold may have to move between items.
ITEMS = [[UUID(f"0a4e0000-0000-4000-8000-00000000b{p}{c:02d}") for c in range(3)] for p in range(2)]
PRODUCTS = [PHONE, CASE]
KINDS = ["receive"] * 4 + ["increase", "decrease", "decrease"] + ["reserve"] * 5 + ["release"] * 2


@dataclass(frozen=True)
class Op:
    kind: str
    inventory: int
    item: int
    cart: int
    quantity: int

    @property
    def item_id(self) -> UUID:
        return ITEMS[self.item][self.cart]

    def command(self, cart_version: int) -> Command:
        inventory = INVENTORIES[self.inventory]
        product = PRODUCTS[self.item]
        match self.kind:
            case "receive":
                return ReceiveInventoryItem(
                    inventory_id=inventory,
                    item_id=self.item_id,
                    product=product,
                    cost=Decimal("10") + self.cart,  # the same cost again increases the item
                    quantity=self.quantity,
                )
            case "increase":
                return IncreaseInventoryAdjust(
                    inventory_id=inventory, item_id=self.item_id, quantity=self.quantity,
                    reason="found",
                )  # fmt: skip
            case "decrease":
                return DecreaseInventoryAdjust(
                    inventory_id=inventory, item_id=self.item_id, quantity=self.quantity,
                    reason="broken",
                )  # fmt: skip
            case "reserve":
                return ReserveInventoryItem(
                    inventory_id=inventory,
                    catalog_id=CATALOG_ID,
                    cart_id=CARTS[self.cart],
                    product=product,
                    quantity=self.quantity,
                    cart_version=cart_version,
                )
        return ReleaseInventoryReservation(
            inventory_id=inventory,
            cart_id=CARTS[self.cart],
            product=product,
            cart_version=cart_version,
            reason=ReleaseReason.ITEM_REMOVED,
        )


ops = st.builds(
    Op,
    kind=st.sampled_from(KINDS),
    inventory=st.integers(0, len(INVENTORIES) - 1),
    item=st.integers(0, len(ITEMS) - 1),
    cart=st.integers(0, len(CARTS) - 1),
    quantity=st.integers(1, 5),
)
seeds = st.integers(0, 2**32 - 1)


def run(session: list[Op]) -> History:
    history = History(INVENTORY)
    create = [CreateInventory(inventory_id=i, owner_id=OWNER_ID) for i in INVENTORIES]
    # Each cart's requests carry rising versions, as a cart's events do.
    attempt_all(history, [*create, *(op.command(n + 1) for n, op in enumerate(session))])
    return history


def assert_the_items_agree_with_the_inventories(
    items: dict[str, Document], states: dict[UUID, Inventory]
) -> None:
    expected: dict[str, Any] = {
        member_id(inventory.id, item.id): (item.quantity, item.reserved, item.available)
        for inventory in states.values()
        for item in inventory.items
    }
    shown = {k: (d["quantity"], d["reserved"], d["available"]) for k, d in items.items()}
    assert shown == expected
    assert all(0 <= reserved <= quantity for quantity, reserved, _ in shown.values())


#: A cart's hold that outgrows the item it is on and moves to the same product's item at another
#: cost (random sessions reach it rarely).
MOVING_HOLD = [
    Op("receive", inventory=0, item=0, cart=0, quantity=1),
    Op("receive", inventory=0, item=0, cart=1, quantity=3),
    Op("reserve", inventory=0, item=0, cart=2, quantity=1),
    Op("reserve", inventory=0, item=0, cart=2, quantity=3),
]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(session=st.lists(ops, max_size=30), seed=seeds)
@example(session=MOVING_HOLD, seed=0).via("a hold that moves")
@example(session=MOVING_HOLD, seed=7).via("a hold that moves")
def test_any_delivery_order_with_duplicates_gives_the_in_order_documents(
    session: list[Op], seed: int
) -> None:
    history = run(session)
    in_order = in_order_contents(history.events, PROJECTIONS)
    assert_the_items_agree_with_the_inventories(in_order[ITEM_LIST], history.states)

    assert delivered_contents(history.events, PROJECTIONS, seed) == in_order

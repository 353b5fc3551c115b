"""The cart items' availability catches up with the Warehouse's store: an answer the broker
never brought (lost, dead-lettered) reaches the cart's read model at the next sweep, once."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from eventualshop.kernel.values import Product
from eventualshop.shopping_cart.read_models import AVAILABILITY, HOLDS
from eventualshop.warehouse.commands import (
    CreateInventory,
    ReceiveInventoryItem,
    ReserveInventoryItem,
)
from functions.main import ROOT

PHONE = Product(
    description="A phone", name="Phone", brand="Apple", category="Phones", unit="Unit", sku="IP-1"
)


@pytest.mark.usefixtures("clean_root")
def test_an_answer_no_broker_delivered_reaches_the_cart_at_the_sweep_and_only_once() -> None:
    warehouse = ROOT.service("warehouse")
    inventory, cart = uuid.uuid4(), uuid.uuid4()
    warehouse.handle(CreateInventory(inventory_id=inventory, owner_id=uuid.uuid4()))
    receive = ReceiveInventoryItem(
        inventory_id=inventory, product=PHONE, cost=Decimal("10"), quantity=5
    )
    warehouse.handle(receive)
    reserve = ReserveInventoryItem(
        inventory_id=inventory,
        catalog_id=uuid.uuid4(),
        cart_id=cart,
        product=PHONE,
        quantity=2,
        cart_version=2,
    )
    assert warehouse.handle(reserve).event_types == ("InventoryReserved",)
    read_models = ROOT.read_model_store()
    assert read_models.find(AVAILABILITY, {"cartId": str(cart)}) == []  # nothing delivered it

    ROOT.catch_up()

    [answer] = read_models.find(AVAILABILITY, {"cartId": str(cart)})
    [hold] = read_models.find(HOLDS, {"cartId": str(cart)})
    assert (answer["availability"], hold["quantity"]) == ("reserved", 2)
    assert ROOT.catch_up() == 0  # the position moved past it: nothing is applied twice

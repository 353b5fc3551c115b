"""The cart items' availability (``eventualshop.processes.availability``): a CloudEvent function
subscribed by exact type to the Warehouse's answers to the stock reservations, and its catch-up,
which the sweep runs: the answers in the Warehouse's store after the last position it reached,
so an answer the broker lost or dead-lettered still reaches the cart (the projector is
idempotent and order-tolerant, so an answer applied twice changes nothing)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventualshop.kernel.readmodels import ReadModelStore
from eventualshop.kernel.repository import Repository
from eventualshop.kernel.values import Product
from eventualshop.processes.availability import ANSWERS, NAME, ItemAvailability
from eventualshop.runtime.consumer import consumer
from eventualshop.warehouse.declaration import WAREHOUSE
from eventualshop.warehouse.events import INVENTORY_EVENTS
from eventualshop.warehouse.inventory import INVENTORY
from functions.main import ROOT

#: The projector of the read-model store the root has open now (its indexes made once per
#: store: a reset of the root opens another store, and the projector follows it).
_current: list[tuple[ReadModelStore, ItemAvailability]] = []


def _product_of(inventory_id: UUID, item_id: UUID) -> Product | None:
    inventory = Repository(ROOT.event_store(WAREHOUSE.name), INVENTORY).load(inventory_id)
    item = inventory.item(item_id) if inventory is not None else None
    return item.product if item is not None else None


def _projector() -> ItemAvailability:
    store = ROOT.read_model_store()
    if not _current or _current[0][0] is not store:
        projector = ItemAvailability(store, _product_of)
        projector.ensure_indexes()
        _current[:] = [(store, projector)]
    return _current[0][1]


def _handle(event: Any) -> None:
    _projector().handle(event)


_ANSWER_TYPES = frozenset(answer.event_type() for answer in ANSWERS)
#: Where the catch-up's position over the Warehouse's store is kept, in the read-model store.
POSITIONS = "ShoppingCartItemAvailabilityPositions"
_BATCH = 500


def catch_up() -> int:
    """Apply the Warehouse's answers after the stored position; how many were applied."""
    store = ROOT.event_store(WAREHOUSE.name)
    decode = Repository(store, INVENTORY).decode
    read_models = ROOT.read_model_store()
    kept = read_models.get(POSITIONS, WAREHOUSE.name)
    position = int(kept["version"]) if kept is not None else 0
    projector, applied = _projector(), 0
    while events := store.read_all(position, _BATCH):
        for stored in events:
            # Only the answers are decoded: the store may hold every context's events.
            if stored.aggregate_type == INVENTORY.name and stored.event_type in _ANSWER_TYPES:
                applied += projector.handle(decode(stored)) == "applied"
        # Positions commit in order (appends are serialised), so none is ever stepped over.
        position = max(e.position or position for e in events)
        read_models.upsert_if_newer(POSITIONS, {"id": WAREHOUSE.name, "version": position})
    return applied


def project_item_availability(event: Any) -> None:
    target = consumer(ROOT.by_name[NAME], INVENTORY_EVENTS, _handle, ROOT.dead_letter_store)
    target(event)

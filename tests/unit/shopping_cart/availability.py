"""A cart, the Warehouse and the stock reservations between them, for the availability tests.

Cart commands run through the cart aggregate; every cart event the reservations react to goes
through the real process to a real Warehouse application service (in-memory event store), so
the answers the availability projector gets are the ones the Warehouse really gives.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from eventualshop.kernel.memory import InMemoryEventStore
from eventualshop.kernel.messages import Command, RecordedEvent
from eventualshop.kernel.readmodels import Document, ReadModelStore
from eventualshop.kernel.service import ApplicationService, CommandContext
from eventualshop.kernel.values import Product
from eventualshop.processes.availability import ANSWERS, ItemAvailability
from eventualshop.processes.reservations import REACTS_TO, StockReservations
from eventualshop.shopping_cart import CreateCart
from eventualshop.shopping_cart.read_models import AVAILABILITY
from eventualshop.warehouse.commands import CreateInventory, ReceiveInventoryItem
from eventualshop.warehouse.inventory import INVENTORY, Inventory

from .examples import CART_ID, CUSTOMER_ID, INVENTORY_ID
from .history import CartHistory, project

OWNER = UUID("0c000000-0000-4000-8000-00000000f00d")


class Shop:
    """Carts and one inventory holding ``stock`` (product -> units)."""

    def __init__(self, stock: dict[Product, int], carts: Iterable[UUID] = (CART_ID,)) -> None:
        self.carts = CartHistory()
        self.warehouse: ApplicationService[Inventory] = ApplicationService(
            InMemoryEventStore(), INVENTORY
        )
        self.warehouse.handle(CreateInventory(inventory_id=INVENTORY_ID, owner_id=OWNER))
        for product, units in stock.items():
            receive = ReceiveInventoryItem(
                inventory_id=INVENTORY_ID, product=product, cost="1", quantity=units
            )
            self.warehouse.handle(receive, CommandContext())
        self.reservations = StockReservations(self._history, self.warehouse)
        for cart in carts:
            self.carts.run(CreateCart(cart_id=cart, customer_id=CUSTOMER_ID, currency="USD"))

    def _history(self, cart: UUID) -> list[RecordedEvent]:
        return [e for e in self.carts.events if e.aggregate_id == cart]

    def cart(self, *commands: Command) -> list[RecordedEvent]:
        """Run cart commands; the Warehouse is asked at once for what they change."""
        recorded = self.carts.run(*commands)
        for event in recorded:
            if isinstance(event.event, REACTS_TO):
                self.reservations.handle(event)
        return recorded

    def answers(self) -> list[RecordedEvent]:
        """The Warehouse's answers so far, in the order it gave them."""
        store = self.warehouse.repository.store
        decode = self.warehouse.repository.decode
        events = [decode(e) for e in store.read_all(0, 100_000)]
        return [e for e in events if isinstance(e.event, ANSWERS)]

    def product_of(self, inventory_id: UUID, item_id: UUID) -> Product | None:
        inventory = self.warehouse.repository.load(inventory_id)
        item = inventory.item(item_id) if inventory is not None else None
        return item.product if item is not None else None

    def projector(self, store: ReadModelStore) -> ItemAvailability:
        projector = ItemAvailability(store, self.product_of)
        projector.ensure_indexes()
        return projector

    def read_models(
        self, store: ReadModelStore, answers: Iterable[RecordedEvent] | None = None
    ) -> ReadModelStore:
        """The cart's read models: its own events in order, then the answers as given (all so
        far by default)."""
        project(self.carts.events, store)
        projector = self.projector(store)
        for answer in self.answers() if answers is None else answers:
            projector.handle(answer)
        return store


def availability_documents(store: ReadModelStore) -> dict[str, Document]:
    return {d["id"]: d for d in store.find(AVAILABILITY)}

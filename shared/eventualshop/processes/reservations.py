"""Stock reservations for cart items: the Warehouse's reaction to the Shopping Cart (reference
§6.1 R10, and what R10 left out).

``CartItemAdded`` and ``CartItemIncreased``/``Decreased`` ask the item's inventory to hold the
item's quantity for the cart; ``CartItemRemoved`` and ``CartDiscarded`` give it back. Only
``CartItemAdded`` names the inventory and the product, so the process keeps, per cart item, where
its stock is held (``StockReservationCartItem``), and per cart whether it was discarded
(``StockReservationCart``).

Delivery is at least once and in any order, and the process stays correct under both:

* every Warehouse command carries a message id made of the cart event's id (the Warehouse inbox
  drops a repeat) and the cart event's version (the inventory ignores a request older than the
  last it applied for that cart and product, so a late ``CartItemIncreased`` cannot undo a
  ``CartItemRemoved``);
* an event about an item whose ``CartItemAdded`` was not handled yet raises :class:`NotYet`, so
  the broker brings it again later;
* a discard records the cart as discarded *before* releasing its items, and an added item is
  recorded *before* the discard is looked up: whichever of the two comes second sees the other,
  so no item of a discarded cart stays reserved.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from eventualshop.kernel.errors import AggregateNotFound
from eventualshop.kernel.messages import Command, RecordedEvent, utc_now
from eventualshop.kernel.readmodels import ReadModelStore
from eventualshop.kernel.service import CommandContext, Outcome
from eventualshop.kernel.values import Product
from eventualshop.shopping_cart.events import (
    CartDiscarded,
    CartItemAdded,
    CartItemDecreased,
    CartItemIncreased,
    CartItemRemoved,
)
from eventualshop.warehouse.commands import (
    RESERVATION_TIME,
    ReleaseInventoryReservation,
    ReleaseReason,
    ReserveInventoryItem,
)

log = logging.getLogger("eventualshop.processes.reservations")

ITEMS = "StockReservationCartItem"
CARTS = "StockReservationCart"
#: The cart events the process reacts to, by name (their Triggers filter on exact types).
REACTS_TO = (CartItemAdded, CartItemIncreased, CartItemDecreased, CartItemRemoved, CartDiscarded)


class NotYet(Exception):
    """The item's ``CartItemAdded`` has not been handled yet: deliver this event again later."""


class Warehouse(Protocol):
    def handle(self, command: Command, context: CommandContext | None = None) -> Outcome: ...


class StockReservations:
    def __init__(
        self,
        documents: ReadModelStore,
        warehouse: Warehouse,
        *,
        after_commit: Callable[[], None] = lambda: None,
        hold_for: timedelta = RESERVATION_TIME,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.documents = documents
        self.warehouse = warehouse
        self.after_commit = after_commit
        self.hold_for = hold_for
        self.clock = clock

    def ensure_indexes(self) -> None:
        self.documents.ensure_indexes(ITEMS, (("cartId",),))
        self.documents.ensure_indexes(CARTS, ())

    def handle(self, recorded: RecordedEvent) -> list[Outcome]:
        event, cart, version = recorded.event, recorded.aggregate_id, recorded.version
        match event:
            case CartItemAdded():
                holding = {
                    "id": _key(cart, event.item_id),
                    "cartId": str(cart),
                    "itemId": str(event.item_id),
                    "inventoryId": str(event.inventory_id),
                    "catalogId": str(event.catalog_id),
                    "product": event.product.model_dump(mode="json", by_alias=True),
                    "version": version,
                }
                self.documents.upsert_if_newer(ITEMS, holding)
                return [self._hold(recorded, holding, event.quantity)]
            case CartItemIncreased() | CartItemDecreased():
                holding = self._holding(cart, event.item_id)
                return [self._hold(recorded, holding, event.new_quantity)]
            case CartItemRemoved():
                holding = self._holding(cart, event.item_id)
                return [self._release(recorded, holding, version, ReleaseReason.ITEM_REMOVED)]
            case CartDiscarded():
                self.documents.upsert_if_newer(
                    CARTS, {"id": str(cart), "discardedAt": version, "version": version}
                )
                return [
                    self._release(recorded, holding, version, ReleaseReason.CART_DISCARDED)
                    for holding in self.documents.find(ITEMS, {"cartId": str(cart)})
                ]
        return []

    def _holding(self, cart: UUID, item: UUID) -> dict[str, Any]:
        found = self.documents.get(ITEMS, _key(cart, item))
        if found is None:
            raise NotYet(f"item {item} of cart {cart} was not added yet")
        return found

    def _hold(self, recorded: RecordedEvent, holding: dict[str, Any], quantity: int) -> Outcome:
        discarded = self.documents.get(CARTS, holding["cartId"])
        if discarded is not None:
            return self._release(
                recorded, holding, discarded["discardedAt"], ReleaseReason.CART_DISCARDED
            )
        command = ReserveInventoryItem(
            inventory_id=UUID(holding["inventoryId"]),
            catalog_id=UUID(holding["catalogId"]),
            cart_id=recorded.aggregate_id,
            product=Product.model_validate(holding["product"]),
            quantity=quantity,
            cart_version=recorded.version,
            expiration=self.clock() + self.hold_for,
        )
        return self._send(recorded, holding, command)

    def _release(
        self,
        recorded: RecordedEvent,
        holding: dict[str, Any],
        cart_version: int,
        reason: ReleaseReason,
    ) -> Outcome:
        command = ReleaseInventoryReservation(
            inventory_id=UUID(holding["inventoryId"]),
            cart_id=UUID(holding["cartId"]),
            product=Product.model_validate(holding["product"]),
            cart_version=cart_version,
            reason=reason,
        )
        return self._send(recorded, holding, command)

    def _send(self, recorded: RecordedEvent, holding: dict[str, Any], command: Command) -> Outcome:
        metadata = recorded.metadata
        context = CommandContext(
            message_id=f"stock-reservations:{metadata.event_id}:{holding['itemId']}",
            correlation_id=metadata.correlation_id,
            causation_id=str(metadata.event_id),
            traceparent=metadata.traceparent,
        )
        try:
            outcome = self.warehouse.handle(command, context)
        except AggregateNotFound as error:
            # The cart named an inventory that does not exist: nothing to hold, and retrying
            # will not create it.
            log.warning("no reservation for cart %s: %s", recorded.aggregate_id, error)
            return Outcome(context.message_id, recorded.aggregate_id, 0, rejection_code="not-found")
        if not outcome.accepted:
            log.info("reservation refused: %s", outcome.rejection_detail)
        elif not outcome.duplicate and outcome.event_ids:
            try:
                self.after_commit()
            except Exception:  # the outbox sweep publishes what the relay could not
                log.warning("relay after a reservation failed; the sweep will retry", exc_info=True)
        return outcome


def _key(cart: UUID, item: UUID) -> str:
    return f"{cart}:{item}"

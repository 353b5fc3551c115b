"""Stock reservations for cart items: the Warehouse's reaction to the Shopping Cart (reference
§6.1 R10, and what R10 left out).

``CartItemAdded`` and ``CartItemIncreased``/``Decreased`` ask the item's inventory to hold the
item's quantity for the cart until an expiration (``hold_for`` from now, 15 minutes by default:
a durable timer of the Warehouse releases it then); ``CartItemRemoved`` and ``CartDiscarded``
give it back; ``CartCheckedOut`` holds every item the cart still has without expiration, for the
order the checkout starts (an expired hold is asked for again). Only
``CartItemAdded`` names the inventory and the product, and a cart may reuse an item id for
another product once the first is removed, so the process reads which product an event is about
from the cart's own history up to that event's version: exact whatever the delivery order,
and no state of the process's own to keep in step.

Delivery is at least once and in any order, and the process stays correct under both: every
Warehouse command carries a message id made of the cart event's id (the Warehouse inbox drops a
repeat) and the cart event's version (an inventory ignores a request older than the last it
applied for that cart and product, so a late ``CartItemIncreased`` cannot undo a
``CartItemRemoved``, and a discard, the cart's last event, wins over everything before it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Protocol
from uuid import UUID

from eventualshop.kernel.errors import AggregateNotFound, DeliverLater
from eventualshop.kernel.messages import Command, RecordedEvent
from eventualshop.kernel.service import CommandContext, Outcome
from eventualshop.shopping_cart.events import (
    CartCheckedOut,
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

#: The cart events the process reacts to (their Triggers filter on exact types).
REACTS_TO = (
    CartItemAdded,
    CartItemIncreased,
    CartItemDecreased,
    CartItemRemoved,
    CartDiscarded,
    CartCheckedOut,
)
#: A cart's events in version order, read from the cart's event store.
CartHistory = Callable[[UUID], Sequence[RecordedEvent]]


class NotYet(DeliverLater):
    """The cart's history does not reach this event yet: deliver it again later."""


class Warehouse(Protocol):
    def handle(self, command: Command, context: CommandContext | None = None) -> Outcome: ...


class StockReservations:
    def __init__(
        self,
        cart_history: CartHistory,
        warehouse: Warehouse,
        *,
        after_commit: Callable[[], None] = lambda: None,
        hold_for: timedelta = RESERVATION_TIME,
    ) -> None:
        self.cart_history = cart_history
        self.warehouse = warehouse
        self.after_commit = after_commit
        self.hold_for = hold_for

    def handle(self, recorded: RecordedEvent) -> list[Outcome]:
        event, version = recorded.event, recorded.version
        if not isinstance(event, REACTS_TO):
            return []
        history = [e for e in self.cart_history(recorded.aggregate_id) if e.version <= version]
        if not history or history[-1].version < version:
            raise NotYet(f"the history of cart {recorded.aggregate_id} stops before v{version}")
        adds = [e for e in history if isinstance(e.event, CartItemAdded)]
        match event:
            case CartItemAdded():
                return [self._reserve(recorded, recorded, event.quantity)]
            case CartItemIncreased() | CartItemDecreased():
                return [self._reserve(recorded, _added(adds, event.item_id), event.new_quantity)]
            case CartItemRemoved():
                added = _added(adds, event.item_id)
                return [self._release(recorded, added, ReleaseReason.ITEM_REMOVED)]
            case CartCheckedOut():
                return [
                    self._reserve(recorded, added, quantity, expires=False)
                    for added, quantity in _holdings(history).values()
                ]
            case CartDiscarded():
                # Everything the cart ever asked for, once per inventory and product: the
                # release carries the cart's last version, so no late reservation outlives it.
                firsts: dict[tuple[UUID, str], RecordedEvent] = {}
                for added in adds:
                    firsts.setdefault(_holding(added), added)
                return [
                    self._release(recorded, added, ReleaseReason.CART_DISCARDED)
                    for added in firsts.values()
                ]
        return []

    def _reserve(
        self, recorded: RecordedEvent, added: RecordedEvent, quantity: int, *, expires: bool = True
    ) -> Outcome:
        item = _item(added)
        command = ReserveInventoryItem(
            inventory_id=item.inventory_id,
            catalog_id=item.catalog_id,
            cart_id=recorded.aggregate_id,
            product=item.product,
            quantity=quantity,
            cart_version=recorded.version,
            # From the cart event, not from this delivery: a late one (a broker outage, a dead
            # letter replayed) held the stock a whole hold time from then, and each delivery of
            # one event asked for another expiration. Late enough, the hold is due at once.
            expiration=recorded.metadata.timestamp + self.hold_for if expires else None,
        )
        return self._send(recorded, added, command)

    def _release(
        self, recorded: RecordedEvent, added: RecordedEvent, reason: ReleaseReason
    ) -> Outcome:
        item = _item(added)
        command = ReleaseInventoryReservation(
            inventory_id=item.inventory_id,
            cart_id=recorded.aggregate_id,
            product=item.product,
            cart_version=recorded.version,
            reason=reason,
        )
        return self._send(recorded, added, command)

    def _send(self, recorded: RecordedEvent, added: RecordedEvent, command: Command) -> Outcome:
        metadata = recorded.metadata
        context = CommandContext.caused_by(
            metadata, f"stock-reservations:{metadata.event_id}:{added.metadata.event_id}"
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


def _item(added: RecordedEvent) -> CartItemAdded:
    assert isinstance(added.event, CartItemAdded)
    return added.event


def _added(adds: Sequence[RecordedEvent], item_id: UUID) -> RecordedEvent:
    """The item's latest ``CartItemAdded`` before the event: an id may be reused after removal."""
    found = [a for a in adds if _item(a).item_id == item_id]
    if not found:
        raise NotYet(f"item {item_id} was never added")  # cannot happen on a complete history
    return found[-1]


def _holdings(history: Sequence[RecordedEvent]) -> dict[UUID, tuple[RecordedEvent, int]]:
    """The items the cart has after ``history``: each one's ``CartItemAdded`` and quantity."""
    held: dict[UUID, tuple[RecordedEvent, int]] = {}
    for recorded in history:
        match recorded.event:
            case CartItemAdded(item_id=item_id, quantity=quantity):
                held[item_id] = (recorded, quantity)
            case (
                CartItemIncreased(item_id=item_id, new_quantity=quantity)
                | CartItemDecreased(item_id=item_id, new_quantity=quantity)
            ) if item_id in held:
                held[item_id] = (held[item_id][0], quantity)
            case CartItemRemoved(item_id=item_id):
                held.pop(item_id, None)
    return held


def _holding(added: RecordedEvent) -> tuple[UUID, str]:
    item = _item(added)
    return item.inventory_id, item.product.model_dump_json()

"""The Inventory aggregate (reference §5.8): state, ``decide``, ``evolve`` and invariants.

An inventory is created for an owner and then receives stock; adjustments change an item's
quantity (the original only recorded them); carts reserve what is available. An item's
``available`` is its quantity less what carts reserved; no adjustment or reservation may take it
below zero, which the invariants check after every event.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from uuid import UUID

from eventualshop.kernel.aggregate import AggregateKind, AggregateState
from eventualshop.kernel.errors import AggregateAlreadyExists, AggregateNotFound
from eventualshop.kernel.messages import Command, DomainEvent
from eventualshop.kernel.timers import Timer
from eventualshop.kernel.values import Product
from eventualshop.warehouse.commands import (
    INVENTORY_COMMANDS,
    MAX_QUANTITY,
    CreateInventory,
    DecreaseInventoryAdjust,
    ExpireInventoryReservation,
    IncreaseInventoryAdjust,
    InventoryCommand,
    ReceiveInventoryItem,
    ReleaseInventoryReservation,
    ReleaseReason,
    ReserveInventoryItem,
)
from eventualshop.warehouse.events import (
    INVENTORY_EVENTS,
    InventoryAdjustmentDecreased,
    InventoryAdjustmentIncreased,
    InventoryAdjustmentNotDecreased,
    InventoryCreated,
    InventoryItem,
    InventoryItemDecreased,
    InventoryItemIncreased,
    InventoryItemReceived,
    InventoryNotReserved,
    InventoryReservationReleased,
    InventoryReserved,
    Reserve,
    StockDepleted,
)
from eventualshop.warehouse.rejections import (
    InventoryItemIdTaken,
    InventoryItemNotFound,
    ProductNotStocked,
    QuantityLimitExceeded,
)

NAME = "Inventory"


class Inventory(AggregateState):
    owner_id: UUID
    items: tuple[InventoryItem, ...] = ()

    def item(self, item_id: UUID) -> InventoryItem | None:
        return next((i for i in self.items if i.id == item_id), None)

    def item_of(self, product: Product) -> InventoryItem | None:
        return next((i for i in self.items if i.product == product), None)


def sku(product: Product, items: tuple[InventoryItem, ...]) -> str:
    """The original's rule: the first two letters of brand, category and unit, upper case, and
    how many items of that brand, category and unit there are with this one.

    A field shorter than two letters made the original throw; it is padded with ``X`` here, so
    every product a client may send gets a SKU."""

    def two(text: str) -> str:
        return text[:2].upper().ljust(2, "X")

    def kind(p: Product) -> tuple[str, str, str]:
        return (p.brand, p.category, p.unit)

    count = sum(1 for i in items if kind(i.product) == kind(product)) + 1
    return f"{two(product.brand)}{two(product.category)}{two(product.unit)}{count}"


def decide(state: Inventory | None, command: Command) -> list[DomainEvent]:
    if isinstance(command, CreateInventory):
        if state is not None:
            raise AggregateAlreadyExists(NAME, command.inventory_id)
        return [InventoryCreated(inventory_id=command.inventory_id, owner_id=command.owner_id)]
    if state is None:
        raise AggregateNotFound(NAME, target(command))
    event = _decide(state, command)
    return [event] if event is not None else []


def _decide(inventory: Inventory, command: Command) -> DomainEvent | None:
    """One event, or none for a cart's request older than one already applied."""
    id = inventory.id
    match command:
        case ReceiveInventoryItem():
            return _receive(inventory, command)
        case IncreaseInventoryAdjust():
            item = _item(inventory, command.item_id)
            new_quantity = _within_limit(item, item.quantity + command.quantity)
            return InventoryAdjustmentIncreased(
                inventory_id=id,
                item_id=item.id,
                reason=command.reason,
                quantity=command.quantity,
                new_quantity=new_quantity,
            )
        case DecreaseInventoryAdjust():
            item = _item(inventory, command.item_id)
            if item.available < command.quantity:
                return InventoryAdjustmentNotDecreased(
                    inventory_id=id,
                    item_id=item.id,
                    reason=command.reason,
                    quantity_desired=command.quantity,
                    quantity_available=item.available,
                )
            return InventoryAdjustmentDecreased(
                inventory_id=id,
                item_id=item.id,
                reason=command.reason,
                quantity=command.quantity,
                new_quantity=item.quantity - command.quantity,
            )
        case ReserveInventoryItem():
            return _reserve(inventory, command)
        case ReleaseInventoryReservation():
            return _release(inventory, command)
        case ExpireInventoryReservation():
            return _expire(inventory, command)
    raise TypeError(f"{NAME} cannot handle {type(command).__name__}")


def _item(inventory: Inventory, item_id: UUID) -> InventoryItem:
    item = inventory.item(item_id)
    if item is None:
        raise InventoryItemNotFound(f"inventory {inventory.id} has no item {item_id}")
    return item


def _within_limit(item: InventoryItem, quantity: int) -> int:
    if quantity > MAX_QUANTITY:
        raise QuantityLimitExceeded(f"item {item.id} would hold more than {MAX_QUANTITY}")
    return quantity


def _receive(inventory: Inventory, command: ReceiveInventoryItem) -> DomainEvent:
    same = next(
        (i for i in inventory.items if i.product == command.product and i.cost == command.cost),
        None,
    )
    if same is not None:
        return InventoryItemIncreased(
            inventory_id=inventory.id,
            item_id=same.id,
            quantity=command.quantity,
            new_quantity=_within_limit(same, same.quantity + command.quantity),
        )
    if inventory.item(command.item_id) is not None:
        raise InventoryItemIdTaken(f"inventory {inventory.id} already has {command.item_id}")
    return InventoryItemReceived(
        inventory_id=inventory.id,
        item_id=command.item_id,
        product=command.product,
        cost=command.cost,
        quantity=command.quantity,
        sku=sku(command.product, inventory.items),
    )


def _stocked(inventory: Inventory, product: Product) -> InventoryItem:
    item = inventory.item_of(product)
    if item is None:
        raise ProductNotStocked(f"inventory {inventory.id} holds no {product.name}")
    return item


def _outdated(item: InventoryItem, cart_id: UUID, cart_version: int) -> bool:
    held = item.reserve_of(cart_id)
    return held is not None and held.cart_version >= cart_version


def _reserve(inventory: Inventory, command: ReserveInventoryItem) -> DomainEvent | None:
    item = _stocked(inventory, command.product)
    if _outdated(item, command.cart_id, command.cart_version):
        return None
    held = item.reserve_of(command.cart_id)
    # What the cart holds already is its own: only the rest of the stock is contested.
    available = item.available + (held.quantity if held else 0)
    if available < 1:
        return StockDepleted(
            inventory_id=inventory.id,
            item_id=item.id,
            cart_id=command.cart_id,
            product=item.product,
            cart_version=command.cart_version,
        )
    if available < command.quantity:
        return InventoryNotReserved(
            inventory_id=inventory.id,
            item_id=item.id,
            cart_id=command.cart_id,
            quantity_desired=command.quantity,
            quantity_available=available,
            cart_version=command.cart_version,
        )
    return InventoryReserved(
        inventory_id=inventory.id,
        item_id=item.id,
        catalog_id=command.catalog_id,
        cart_id=command.cart_id,
        product=item.product,
        quantity=command.quantity,
        expiration=command.expiration,
        cart_version=command.cart_version,
        item_reserved=item.reserved - (held.quantity if held else 0) + command.quantity,
    )


def _release(inventory: Inventory, command: ReleaseInventoryReservation) -> DomainEvent | None:
    item = _stocked(inventory, command.product)
    if _outdated(item, command.cart_id, command.cart_version):
        return None
    held = item.reserve_of(command.cart_id)
    # Recorded even when nothing is held yet: the release must win over a reservation that
    # was asked for earlier but arrives later.
    return InventoryReservationReleased(
        inventory_id=inventory.id,
        item_id=item.id,
        cart_id=command.cart_id,
        quantity=held.quantity if held else 0,
        cart_version=command.cart_version,
        reason=command.reason.value,
        item_reserved=item.reserved - (held.quantity if held else 0),
    )


def _expire(inventory: Inventory, command: ExpireInventoryReservation) -> DomainEvent | None:
    item = _stocked(inventory, command.product)
    held = item.reserve_of(command.cart_id)
    if (
        held is None
        or held.quantity == 0
        or held.cart_version != command.cart_version
        or held.expiration != command.expiration
    ):
        return None  # renewed, released or kept for checkout since the timer was set
    return InventoryReservationReleased(
        inventory_id=inventory.id,
        item_id=item.id,
        cart_id=command.cart_id,
        quantity=held.quantity,
        cart_version=held.cart_version,
        reason=ReleaseReason.EXPIRED.value,
        item_reserved=item.reserved - held.quantity,
    )


def timers(event: DomainEvent, _recorded_at: datetime) -> Sequence[Timer]:
    """A reservation with an expiration is released then, unless something changed it since."""
    if isinstance(event, InventoryReserved) and event.expiration is not None:
        expire = ExpireInventoryReservation(
            inventory_id=event.inventory_id,
            cart_id=event.cart_id,
            product=event.product,
            cart_version=event.cart_version,
            expiration=event.expiration,
        )
        return [Timer(event.expiration, expire)]
    return ()


def evolve(state: Inventory | None, event: DomainEvent) -> Inventory:
    if isinstance(event, InventoryCreated):
        return Inventory(id=event.inventory_id, owner_id=event.owner_id)
    if state is None:
        raise ValueError(f"{event.event_type()} cannot come before InventoryCreated")
    match event:
        case InventoryItemReceived():
            item = InventoryItem(
                id=event.item_id,
                product=event.product,
                cost=event.cost,
                quantity=event.quantity,
                sku=event.sku,
            )
            return _update(state, items=(*state.items, item))
        case InventoryItemIncreased() | InventoryItemDecreased():
            return _change(state, event.item_id, quantity=event.new_quantity)
        case InventoryAdjustmentIncreased():
            item = _held(state, event.item_id)
            adjusted = item.adjustments + event.quantity
            return _change(state, item.id, quantity=event.new_quantity, adjustments=adjusted)
        case InventoryAdjustmentDecreased():
            item = _held(state, event.item_id)
            adjusted = item.adjustments - event.quantity
            return _change(state, item.id, quantity=event.new_quantity, adjustments=adjusted)
        case InventoryReserved():
            reserve = Reserve(
                cart_id=event.cart_id,
                quantity=event.quantity,
                cart_version=event.cart_version,
                expiration=event.expiration,
            )
            return _hold(state, event.item_id, reserve)
        case InventoryReservationReleased():
            released = Reserve(cart_id=event.cart_id, quantity=0, cart_version=event.cart_version)
            return _hold(state, event.item_id, released)
        case InventoryAdjustmentNotDecreased() | InventoryNotReserved() | StockDepleted():
            return state  # recorded refusals: the stock is as it was
    raise TypeError(f"{NAME} cannot apply {event.event_type()}")


def _held(inventory: Inventory, item_id: UUID) -> InventoryItem:
    item = inventory.item(item_id)
    if item is None:
        raise ValueError(f"inventory {inventory.id} has no item {item_id}")
    return item


def _hold(inventory: Inventory, item_id: UUID, reserve: Reserve) -> Inventory:
    """The cart's one hold on the item, replacing what it held before."""
    item = _held(inventory, item_id)
    others = tuple(r for r in item.reserves if r.cart_id != reserve.cart_id)
    return _change(inventory, item_id, reserves=(*others, reserve))


def _change(inventory: Inventory, item_id: UUID, **changes: object) -> Inventory:
    items = tuple(i.model_copy(update=changes) if i.id == item_id else i for i in inventory.items)
    return _update(inventory, items=items)


def _update(inventory: Inventory, **changes: object) -> Inventory:
    return inventory.model_copy(update=changes)


def invariants(inventory: Inventory) -> Iterator[str]:
    if inventory.id.int == 0:
        yield "the inventory id is empty"
    for item in inventory.items:
        if not 0 <= item.quantity <= MAX_QUANTITY:
            yield f"item {item.id} has quantity {item.quantity}"
        if item.available < 0:
            yield f"item {item.id} has {item.reserved} reserved of {item.quantity}"
        if any(r.quantity < 0 for r in item.reserves):
            yield f"item {item.id} has a negative reservation"
        if len({r.cart_id for r in item.reserves}) != len(item.reserves):
            yield f"item {item.id} has two holds of one cart"
    if len({i.id for i in inventory.items}) != len(inventory.items):
        yield "two items share an id"


def target(command: Command) -> UUID:
    if not isinstance(command, InventoryCommand):
        raise TypeError(f"{type(command).__name__} is not a warehouse command")
    return command.inventory_id


INVENTORY: AggregateKind[Inventory] = AggregateKind(
    name=NAME,
    context="warehouse",
    state_type=Inventory,
    events=INVENTORY_EVENTS,
    decide=decide,
    evolve=evolve,
    target=target,
    creates=frozenset({CreateInventory}),
    invariants=invariants,
    snapshot_interval=5,
    commands=INVENTORY_COMMANDS,
    timers=timers,
    scheduled=frozenset({ExpireInventoryReservation}),
)

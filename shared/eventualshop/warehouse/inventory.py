"""The Inventory aggregate (reference §5.8): state, ``decide``, ``evolve`` and invariants.

An inventory is created for an owner and then receives stock; adjustments change an item's
quantity (the original only recorded them); carts reserve what is available. An item's
``available`` is its quantity less what carts reserved; no adjustment or reservation may take it
below zero, which the invariants check after every event.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from pydantic import Field

from eventualshop.kernel.aggregate import AggregateKind, AggregateState
from eventualshop.kernel.errors import AggregateAlreadyExists, AggregateNotFound
from eventualshop.kernel.messages import Command, DomainEvent, to_utc
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
    #: The latest expiration whose timer released a hold: time has come that far, so a request
    #: expiring by then would be over on arrival. A cart's requests expire in the order it made
    #: them, so every request older than a hold that expired expires by then too: the cart's
    #: records can go (kept, every cart that ever held an item stayed in the state for ever),
    #: and the horizon alone tells its late requests that they come too late. Left out of a
    #: snapshot while unset, so the previous release still reads the snapshot.
    horizon: datetime | None = Field(None, exclude_if=lambda v: v is None)

    def item(self, item_id: UUID) -> InventoryItem | None:
        return next((i for i in self.items if i.id == item_id), None)


def sku(product: Product, items: tuple[InventoryItem, ...]) -> str:
    """The original's rule: the first two letters of brand, category and unit, upper case, and
    a number: ``APPHUN1`` for the first Apple phone sold by the unit.

    The original numbered by counting the items of the very same brand, category and unit, so
    kinds that share those letters ("Apple" and "Apricot", "Apple" and "apple") got the same
    SKU, which then named two items. The number here follows the highest of the items whose
    SKU has the same letters: where no letters are shared it is the original's count, and a SKU
    never names two items (even after SKUs stored under the old rule shared one).

    A field shorter than two letters made the original throw; it is padded with ``X`` here, so
    every product a client may send gets a SKU."""
    letters = _two(product.brand) + _two(product.category) + _two(product.unit)
    numbers = (_number(item.sku, letters) for item in items)
    return f"{letters}{max((n for n in numbers if n is not None), default=0) + 1}"


def _two(text: str) -> str:
    # Exactly two characters, each upper-cased only where its capital is one character (as in
    # .NET, where "ß" stays "ß"; Python's "SS" would lengthen the letters, and the number after
    # letters of varying length could run into another SKU's letters).
    return "".join(c.upper() if len(c.upper()) == 1 else c for c in text[:2]).ljust(2, "X")


def _number(stored: str, letters: str) -> int | None:
    """The number of a SKU made of ``letters``, or ``None`` for a SKU of other letters."""
    rest = stored.removeprefix(letters)
    if rest == stored or not (rest.isascii() and rest.isdigit()):
        return None
    return int(rest)


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


def _stocked(inventory: Inventory, product: Product) -> list[InventoryItem]:
    """The items of ``product``: one per cost it was received at."""
    items = [i for i in inventory.items if i.product == product]
    if not items:
        raise ProductNotStocked(f"inventory {inventory.id} holds no {product.name}")
    return items


@dataclass(frozen=True, slots=True)
class _Hold:
    """The cart's latest record on one of a product's items: what it holds there (0 once
    released) and the cart version that record answers."""

    item: InventoryItem
    reserve: Reserve


def _latest_hold(items: Sequence[InventoryItem], cart_id: UUID) -> _Hold | None:
    """The cart's newest record among the items. A hold that moved leaves a record of 0 on the
    item it left, with the same cart version as the new hold: the one that holds stock wins."""
    records = [_Hold(i, r) for i in items if (r := i.reserve_of(cart_id)) is not None]
    return max(records, key=lambda h: (h.reserve.cart_version, h.reserve.quantity), default=None)


def _answered(latest: _Hold | None, cart_version: int) -> bool:
    """Whether a request of ``cart_version`` is not newer than one already answered for the cart
    (the same version is a repeat, under another message id)."""
    return latest is not None and latest.reserve.cart_version >= cart_version


def _over(inventory: Inventory, expiration: datetime | None) -> bool:
    """Whether a hold until ``expiration`` would be over on arrival (see ``Inventory.horizon``).
    A hold kept for checkout never is: nothing about the cart's older requests bounds it."""
    horizon = inventory.horizon
    # In UTC: a naive expiration (which pydantic lets through) cannot be ordered with an aware one.
    return expiration is not None and horizon is not None and to_utc(expiration) <= horizon


def _reserve(inventory: Inventory, command: ReserveInventoryItem) -> DomainEvent | None:
    items = _stocked(inventory, command.product)
    latest = _latest_hold(items, command.cart_id)
    if _answered(latest, command.cart_version) or _over(inventory, command.expiration):
        # Too late either way. A request past the horizon may be one whose cart's records were
        # forgotten (see Inventory.horizon); reserved, a timer would release it at once anyway.
        return None
    held = latest if latest is not None and latest.reserve.quantity > 0 else None

    def own(item: InventoryItem) -> int:
        return held.reserve.quantity if held is not None and held.item is item else 0

    def room(item: InventoryItem) -> int:
        # What the cart holds already is its own: only the rest of the stock is contested.
        return item.available + own(item)

    # A hold stays on one item: the one it is on while that has room, else the first with room
    # for all of it (stock received at another cost is another item of the same product).
    candidates = [held.item, *items] if held is not None else items
    item = next((i for i in candidates if room(i) >= command.quantity), None)
    if item is None:
        most = max(candidates, key=room)  # the first of equals: the held item, if any
        available = room(most)
        if available < 1:
            return StockDepleted(
                inventory_id=inventory.id,
                item_id=most.id,
                cart_id=command.cart_id,
                product=most.product,
                cart_version=command.cart_version,
            )
        return InventoryNotReserved(
            inventory_id=inventory.id,
            item_id=most.id,
            cart_id=command.cart_id,
            quantity_desired=command.quantity,
            quantity_available=available,
            cart_version=command.cart_version,
            quantity_held=held.reserve.quantity if held is not None else None,
        )
    moved_from = held.item if held is not None and held.item is not item else None
    return InventoryReserved(
        inventory_id=inventory.id,
        item_id=item.id,
        catalog_id=command.catalog_id,
        cart_id=command.cart_id,
        product=item.product,
        quantity=command.quantity,
        expiration=command.expiration,
        cart_version=command.cart_version,
        item_reserved=item.reserved - own(item) + command.quantity,
        moved_from=moved_from.id if moved_from else None,
        moved_from_reserved=moved_from.reserved - own(moved_from) if moved_from else None,
    )


def _release(inventory: Inventory, command: ReleaseInventoryReservation) -> DomainEvent | None:
    items = _stocked(inventory, command.product)
    latest = _latest_hold(items, command.cart_id)
    if _answered(latest, command.cart_version):
        return None
    # Recorded even when nothing is held yet: the release must win over a reservation that
    # was asked for earlier but arrives later.
    item = latest.item if latest is not None else items[0]
    quantity = latest.reserve.quantity if latest is not None else 0
    return InventoryReservationReleased(
        inventory_id=inventory.id,
        item_id=item.id,
        cart_id=command.cart_id,
        quantity=quantity,
        cart_version=command.cart_version,
        reason=command.reason.value,
        item_reserved=item.reserved - quantity,
    )


def _expire(inventory: Inventory, command: ExpireInventoryReservation) -> DomainEvent | None:
    latest = _latest_hold(_stocked(inventory, command.product), command.cart_id)
    if (
        latest is None
        or latest.reserve.quantity == 0
        or latest.reserve.cart_version != command.cart_version
        or latest.reserve.expiration != command.expiration
    ):
        return None  # renewed, moved, released or kept for checkout since the timer was set
    item, held = latest.item, latest.reserve
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
            item = _stored_item(state, event.item_id)
            adjusted = item.adjustments + event.quantity
            return _change(state, item.id, quantity=event.new_quantity, adjustments=adjusted)
        case InventoryAdjustmentDecreased():
            item = _stored_item(state, event.item_id)
            adjusted = item.adjustments - event.quantity
            return _change(state, item.id, quantity=event.new_quantity, adjustments=adjusted)
        case InventoryReserved():
            if event.moved_from is not None:
                # The hold left that item whole; its record keeps the cart version (see Reserve).
                left = Reserve(cart_id=event.cart_id, quantity=0, cart_version=event.cart_version)
                state = _hold(state, event.moved_from, left)
            reserve = Reserve(
                cart_id=event.cart_id,
                quantity=event.quantity,
                cart_version=event.cart_version,
                expiration=event.expiration,
            )
            return _hold(state, event.item_id, reserve)
        case InventoryReservationReleased():
            expired = _expired_hold(state, event)
            if expired is not None:
                return _forget(state, event, expired)
            released = Reserve(cart_id=event.cart_id, quantity=0, cart_version=event.cart_version)
            return _hold(state, event.item_id, released)
        case InventoryAdjustmentNotDecreased() | InventoryNotReserved() | StockDepleted():
            return state  # recorded refusals: the stock is as it was
    raise TypeError(f"{NAME} cannot apply {event.event_type()}")


def _stored_item(inventory: Inventory, item_id: UUID) -> InventoryItem:
    """The item a stored event names: it is there, or the history is corrupt (a TypeError's
    kin, not a rejection: ``evolve`` only ever applies what ``decide`` let through)."""
    item = inventory.item(item_id)
    if item is None:
        raise ValueError(f"inventory {inventory.id} has no item {item_id}")
    return item


def _expired_hold(inventory: Inventory, event: InventoryReservationReleased) -> datetime | None:
    """The expiration of the hold a timer released (``_expire``: its own cart version, reason
    ``expired``), or ``None`` for any other release: a cart's release tells no time, so its
    record must stay to beat the cart's older requests that arrive after it."""
    held = _stored_item(inventory, event.item_id).reserve_of(event.cart_id)
    if (
        event.reason != ReleaseReason.EXPIRED.value
        or held is None
        or held.quantity == 0
        or held.cart_version != event.cart_version
    ):
        return None
    return held.expiration


def _forget(
    inventory: Inventory, event: InventoryReservationReleased, expiration: datetime
) -> Inventory:
    """The cart's records of the product go (the record of 0 a moved hold left on another item
    too): its every request up to this one expires by ``expiration``, the new horizon."""
    product = _stored_item(inventory, event.item_id).product
    items = tuple(
        i.model_copy(
            update={"reserves": tuple(r for r in i.reserves if r.cart_id != event.cart_id)}
        )
        if i.product == product and i.reserve_of(event.cart_id) is not None
        else i
        for i in inventory.items
    )
    expiration = to_utc(expiration)
    horizon = max(expiration, inventory.horizon or expiration)
    return _update(inventory, items=items, horizon=horizon)


def _hold(inventory: Inventory, item_id: UUID, reserve: Reserve) -> Inventory:
    """The cart's one hold on the item, replacing what it held before."""
    item = _stored_item(inventory, item_id)
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
    holds = [(i.product, r.cart_id) for i in inventory.items for r in i.reserves if r.quantity]
    if len(set(holds)) != len(holds):
        yield "a cart holds one product on two items"


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

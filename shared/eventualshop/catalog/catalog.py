"""The Catalog aggregate (reference §5.2): state, ``decide``, ``evolve`` and invariants.

State machine::

    (new) --CreateCatalog--> inactive --ActivateCatalog (>= 1 item)--> active
                             active   --DeactivateCatalog-----------> inactive
                             either   --DeleteCatalog---------------> deleted (final)

A deleted catalog refuses every command (the original accepted them: a defect).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from uuid import UUID

from eventualshop.catalog.commands import (
    CATALOG_COMMANDS,
    MAX_QUANTITY,
    ActivateCatalog,
    AddCatalogItem,
    CatalogCommand,
    ChangeCatalogDescription,
    ChangeCatalogTitle,
    CreateCatalog,
    DeactivateCatalog,
    DeleteCatalog,
    RemoveCatalogItem,
)
from eventualshop.catalog.events import (
    CATALOG_EVENTS,
    CatalogActivated,
    CatalogCreated,
    CatalogDeactivated,
    CatalogDeleted,
    CatalogDescriptionChanged,
    CatalogItem,
    CatalogItemAdded,
    CatalogItemIncreased,
    CatalogItemRemoved,
    CatalogTitleChanged,
)
from eventualshop.catalog.rejections import (
    CatalogAlreadyActive,
    CatalogHasNoItems,
    CatalogIsDeleted,
    CatalogItemIdTaken,
    CatalogItemNotFound,
    CatalogNotActive,
    QuantityLimitExceeded,
)
from eventualshop.kernel.aggregate import AggregateKind, AggregateState
from eventualshop.kernel.errors import AggregateAlreadyExists, AggregateNotFound
from eventualshop.kernel.messages import Command, DomainEvent

NAME = "Catalog"


class Catalog(AggregateState):
    title: str
    description: str
    is_active: bool = False
    items: tuple[CatalogItem, ...] = ()

    def item(self, item_id: UUID) -> CatalogItem | None:
        return next((i for i in self.items if i.id == item_id), None)


def decide(state: Catalog | None, command: Command) -> list[DomainEvent]:
    if isinstance(command, CreateCatalog):
        if state is not None:
            raise AggregateAlreadyExists(NAME, command.catalog_id)
        return [
            CatalogCreated(
                catalog_id=command.catalog_id,
                title=command.title,
                description=command.description,
            )
        ]
    if state is None:
        raise AggregateNotFound(NAME, target(command))
    if state.is_deleted:
        raise CatalogIsDeleted(f"catalog {state.id} is deleted")
    return [_decide(state, command)]


def _decide(catalog: Catalog, command: Command) -> DomainEvent:
    id = catalog.id
    match command:
        case DeleteCatalog():
            return CatalogDeleted(catalog_id=id)
        case ActivateCatalog():
            if catalog.is_active:
                raise CatalogAlreadyActive(f"catalog {id} is already active")
            if not catalog.items:
                raise CatalogHasNoItems(f"catalog {id} has no items to offer")
            return CatalogActivated(catalog_id=id)
        case DeactivateCatalog():
            if not catalog.is_active:
                raise CatalogNotActive(f"catalog {id} is not active")
            return CatalogDeactivated(catalog_id=id)
        case ChangeCatalogTitle():
            return CatalogTitleChanged(catalog_id=id, title=command.title)
        case ChangeCatalogDescription():
            return CatalogDescriptionChanged(catalog_id=id, description=command.description)
        case AddCatalogItem():
            return _add_item(catalog, command)
        case RemoveCatalogItem():
            if catalog.item(command.item_id) is None:
                raise CatalogItemNotFound(f"catalog {id} has no item {command.item_id}")
            return CatalogItemRemoved(catalog_id=id, item_id=command.item_id)
    raise TypeError(f"{NAME} cannot handle {type(command).__name__}")


def _add_item(catalog: Catalog, command: AddCatalogItem) -> DomainEvent:
    # Equal product and equal price, compared as Money values (the original compared their
    # string forms, so "10.0" and "10.00" were two items), from the same inventory: the same
    # offer, so more of it. Stock of another inventory is another item, because a cart reserves
    # at its item's inventory (the original increased the first inventory's item instead).
    same = next(
        (
            i
            for i in catalog.items
            if i.product == command.product
            and i.unit_price == command.unit_price
            and i.inventory_id == command.inventory_id
        ),
        None,
    )
    if same is not None:
        new_quantity = same.quantity + command.quantity
        if new_quantity > MAX_QUANTITY:
            raise QuantityLimitExceeded(f"item {same.id} would hold more than {MAX_QUANTITY}")
        return CatalogItemIncreased(
            catalog_id=catalog.id,
            item_id=same.id,
            inventory_id=same.inventory_id,
            quantity=command.quantity,
            new_quantity=new_quantity,
        )
    if catalog.item(command.item_id) is not None:
        raise CatalogItemIdTaken(f"catalog {catalog.id} already has an item {command.item_id}")
    return CatalogItemAdded(
        catalog_id=catalog.id,
        item_id=command.item_id,
        inventory_id=command.inventory_id,
        product=command.product,
        unit_price=command.unit_price,
        sku=command.sku,
        quantity=command.quantity,
    )


def evolve(state: Catalog | None, event: DomainEvent) -> Catalog:
    if isinstance(event, CatalogCreated):
        return Catalog(id=event.catalog_id, title=event.title, description=event.description)
    if state is None:
        raise ValueError(f"{event.event_type()} cannot come before CatalogCreated")
    match event:
        case CatalogDeleted():
            return _update(state, is_deleted=True, is_active=False)
        case CatalogActivated():
            return _update(state, is_active=True)
        case CatalogDeactivated():
            return _update(state, is_active=False)
        case CatalogTitleChanged():
            return _update(state, title=event.title)
        case CatalogDescriptionChanged():
            return _update(state, description=event.description)
        case CatalogItemAdded():
            item = CatalogItem(
                id=event.item_id,
                inventory_id=event.inventory_id,
                product=event.product,
                unit_price=event.unit_price,
                sku=event.sku,
                quantity=event.quantity,
            )
            return _update(state, items=(*state.items, item))
        case CatalogItemIncreased():
            items = tuple(
                i.model_copy(update={"quantity": event.new_quantity})
                if i.id == event.item_id
                else i
                for i in state.items
            )
            return _update(state, items=items)
        case CatalogItemRemoved():
            return _update(state, items=tuple(i for i in state.items if i.id != event.item_id))
    raise TypeError(f"{NAME} cannot apply {event.event_type()}")


def _update(catalog: Catalog, **changes: object) -> Catalog:
    return catalog.model_copy(update=changes)


def invariants(catalog: Catalog) -> Iterator[str]:
    if catalog.id.int == 0:
        yield "the catalog id is empty"
    if not catalog.title.strip():
        yield "the title is empty"
    for item in catalog.items:
        if not 0 < item.quantity <= MAX_QUANTITY:
            yield f"item {item.id} has quantity {item.quantity}"
    if any(count > 1 for count in Counter(i.id for i in catalog.items).values()):
        yield "two items share an id"


def target(command: Command) -> UUID:
    if not isinstance(command, CatalogCommand):
        raise TypeError(f"{type(command).__name__} is not a catalog command")
    return command.catalog_id


CATALOG: AggregateKind[Catalog] = AggregateKind(
    name=NAME,
    context="catalog",
    state_type=Catalog,
    events=CATALOG_EVENTS,
    decide=decide,
    evolve=evolve,
    target=target,
    creates=frozenset({CreateCatalog}),
    invariants=invariants,
    snapshot_interval=5,
    commands=CATALOG_COMMANDS,
)

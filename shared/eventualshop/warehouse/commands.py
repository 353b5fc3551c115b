"""Warehouse commands: the contract a client (or a reaction) sends (reference §5.8).

``CreateInventory`` generates the inventory's id (the original ignored the one it was given and
answered none): the id is a field with a fresh default, so the 202 names it and a retried
command keeps it. A reservation's expiry is part of its command, so ``decide`` stays pure.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

from eventualshop.kernel.identifiers import Id, NewId
from eventualshop.kernel.messages import Command, utc_now
from eventualshop.kernel.money import AMOUNT_PATTERN, finer_than, within_digits, written_plainly
from eventualshop.kernel.values import NonEmpty, Product, WholeNumber
from eventualshop.warehouse.events import COST_DECIMALS

MAX_QUANTITY = 1_000_000
#: How long a cart holds what it reserved unless it checks out (the original: 5 minutes, never
#: enforced).
RESERVATION_TIME = timedelta(minutes=15)

Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY), WholeNumber]
#: A cost has no currency of its own; it is held to the rules of the money a client sends (its
#: text ASCII decimal notation, its digits bounded) in cents, the places the item list shows it
#: with (like money, "100.00"; a cost stored with more keeps them): Decimal read "1_000" and
#: Arabic-Indic digits, and 1.005 was taken and shown as such. Only what a client sends: an
#: event keeps the cost it was received at. (``COST_DECIMALS`` is the events' module's, which the
#: item list's projector reads without loading the commands.)
MAX_COST = Decimal("1000000000")


def _in_cents(value: Decimal) -> Decimal:
    places = finer_than(value, COST_DECIMALS)
    if places is not None:
        raise ValueError(f"a cost has at most {places}")
    return value


Cost = Annotated[
    Decimal,
    Field(gt=0, le=MAX_COST),
    BeforeValidator(written_plainly),
    AfterValidator(within_digits),
    AfterValidator(_in_cents),
    # As the API document states it: a query parameter, so text (pydantic's Decimal said "a
    # number or any string"), with the bounds JSON Schema cannot put on text.
    WithJsonSchema(
        {
            "type": "string",
            "pattern": AMOUNT_PATTERN,
            "description": f"a decimal number above 0 and at most {MAX_COST}, with at most "
            f'{COST_DECIMALS} decimal places, such as "100.50"',
        }
    ),
]


def _expiry() -> datetime:
    return utc_now() + RESERVATION_TIME


class InventoryCommand(Command):
    inventory_id: Id


class CreateInventory(InventoryCommand):
    inventory_id: NewId
    owner_id: Id


class ReceiveInventoryItem(InventoryCommand):
    item_id: NewId  # the id the item gets if no equal item is in the inventory yet
    product: Product
    cost: Cost
    quantity: Quantity


class IncreaseInventoryAdjust(InventoryCommand):
    item_id: Id
    quantity: Quantity
    reason: NonEmpty


class DecreaseInventoryAdjust(InventoryCommand):
    item_id: Id
    quantity: Quantity
    reason: NonEmpty


class ReserveInventoryItem(InventoryCommand):
    """Hold ``quantity`` of ``product`` for a cart: sent by the reaction to a cart's item being
    added or changed (reference §6.1 R10), not by a client.

    ``quantity`` is what the cart holds from now on (not a delta), and ``cart_version`` the
    version of the cart event that asked: a request older than the last one applied for that
    cart and product changes nothing, so redelivered and reordered requests end the same.
    ``expiration`` is when the hold ends unless renewed (a durable timer then releases it);
    ``None`` holds it for the order of a checked-out cart.
    """

    catalog_id: Id
    cart_id: Id
    product: Product
    quantity: Quantity
    cart_version: int = Field(default=0, ge=0)
    expiration: datetime | None = Field(default_factory=_expiry)


class ReleaseReason(StrEnum):
    ITEM_REMOVED = "item-removed"
    CART_DISCARDED = "cart-discarded"
    EXPIRED = "expired"


class ReleaseInventoryReservation(InventoryCommand):
    """Give back what a cart holds of ``product`` (its item removed, the cart discarded, the
    reservation expired). Like a reservation it carries the cart event's version, so a release
    that arrives before its reservation still wins over it."""

    cart_id: Id
    product: Product
    cart_version: int = Field(ge=0)
    reason: ReleaseReason


class ExpireInventoryReservation(InventoryCommand):
    """Sent by the durable timer of an ``InventoryReserved`` when its ``expiration`` is due: the
    cart gives back what it holds, unless the hold changed since (renewed by a later cart event,
    released, kept for checkout), which ``cart_version`` and ``expiration`` tell."""

    cart_id: Id
    product: Product
    cart_version: int = Field(ge=0)
    expiration: datetime


#: The commands a client sends over HTTP. Reserving and releasing are a reaction's commands, so
#: they have no route; the aggregate handles them all the same (see ``inventory.decide``).
INVENTORY_COMMANDS: frozenset[type[InventoryCommand]] = frozenset(
    {CreateInventory, ReceiveInventoryItem, IncreaseInventoryAdjust, DecreaseInventoryAdjust}
)

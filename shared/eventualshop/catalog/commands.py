"""Catalog commands: the contract a client sends (reference §5.2, HTTP validation).

The catalog id is chosen by the client (the web app generates it); an item's id defaults to a
fresh UUID in the command so ``decide`` stays pure and a retried command keeps its id.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import Field, ValidationInfo, field_validator

from eventualshop.kernel.identifiers import Id, NewId
from eventualshop.kernel.messages import Command
from eventualshop.kernel.money import ClientAmount
from eventualshop.kernel.values import NonEmpty, Product, WholeNumber

MAX_QUANTITY = 1_000_000

Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY), WholeNumber]


class CatalogCommand(Command):
    catalog_id: Id


class CreateCatalog(CatalogCommand):
    title: NonEmpty
    description: NonEmpty


class DeleteCatalog(CatalogCommand):
    pass


class ActivateCatalog(CatalogCommand):
    pass


class DeactivateCatalog(CatalogCommand):
    pass


class ChangeCatalogTitle(CatalogCommand):
    title: NonEmpty


class ChangeCatalogDescription(CatalogCommand):
    description: NonEmpty


def _item_is_not_the_catalog(item_id: UUID, info: ValidationInfo) -> UUID:
    # The original's one HTTP rule for removing an item: a client that swapped the two ids in
    # the path gets a 400 naming itemId, not a puzzling "item not found". Adding such an item
    # is refused the same way, or it could never be removed.
    if item_id == info.data.get("catalog_id"):
        raise ValueError("itemId must differ from catalogId")
    return item_id


class AddCatalogItem(CatalogCommand):
    item_id: NewId  # the id the item gets if no equal item is in the catalog yet
    inventory_id: Id
    product: Product
    unit_price: ClientAmount
    sku: NonEmpty
    quantity: Quantity

    _distinct_ids = field_validator("item_id")(_item_is_not_the_catalog)


class RemoveCatalogItem(CatalogCommand):
    item_id: Id

    _distinct_ids = field_validator("item_id")(_item_is_not_the_catalog)


CATALOG_COMMANDS: frozenset[type[CatalogCommand]] = frozenset(
    {
        CreateCatalog,
        DeleteCatalog,
        ActivateCatalog,
        DeactivateCatalog,
        ChangeCatalogTitle,
        ChangeCatalogDescription,
        AddCatalogItem,
        RemoveCatalogItem,
    }
)

"""Use cases of the Catalog aggregate: given events, when a command, then events or a rejection.

Each of the original's defects (reference §5.2 ⚠) has a case that holds the intended behaviour.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from eventualshop.catalog.catalog import CATALOG, Catalog
from eventualshop.catalog.commands import (
    ActivateCatalog,
    AddCatalogItem,
    ChangeCatalogDescription,
    ChangeCatalogTitle,
    DeactivateCatalog,
    DeleteCatalog,
    RemoveCatalogItem,
)
from eventualshop.catalog.events import (
    CatalogActivated,
    CatalogDeactivated,
    CatalogDeleted,
    CatalogDescriptionChanged,
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
)
from eventualshop.kernel.errors import AggregateAlreadyExists, AggregateNotFound
from eventualshop.kernel.messages import Command, DomainEvent
from eventualshop.kernel.testing import Scenario

from .examples import (
    CATALOG_ID,
    ITEM_ID,
    KEYBOARD,
    MOUSE,
    OTHER_INVENTORY_ID,
    OTHER_ITEM_ID,
    add_item,
    create,
    created,
    item_added,
)


def given(*events: DomainEvent) -> Scenario[Catalog]:
    return Scenario(CATALOG).given(*events)


ACTIVATED = CatalogActivated(catalog_id=CATALOG_ID)
DELETED = CatalogDeleted(catalog_id=CATALOG_ID)


class TestCreatingACatalog:
    def test_a_new_catalog_is_created_inactive_with_its_title_and_description(self) -> None:
        catalog = given().when(create()).then(created())
        assert (catalog.title, catalog.description, catalog.is_active) == (
            "Summer",
            "Hot deals",
            False,
        )

    def test_creating_an_existing_id_is_a_rejection_not_a_fault(self) -> None:
        given(created()).when(create()).then_rejected(AggregateAlreadyExists, code="already-exists")

    def test_an_empty_title_is_refused_before_it_reaches_the_catalog(self) -> None:
        with pytest.raises(ValidationError):
            ChangeCatalogTitle(catalog_id=CATALOG_ID, title="  ")


class TestActivation:
    def test_a_catalog_with_an_item_is_activated(self) -> None:
        catalog = given(created(), item_added()).when(ActivateCatalog(catalog_id=CATALOG_ID))
        assert catalog.then(ACTIVATED).is_active

    def test_a_catalog_without_items_cannot_be_activated(self) -> None:
        given(created()).when(ActivateCatalog(catalog_id=CATALOG_ID)).then_rejected(
            CatalogHasNoItems, code="catalog-has-no-items"
        )

    def test_an_active_catalog_is_not_activated_again(self) -> None:
        given(created(), item_added(), ACTIVATED).when(
            ActivateCatalog(catalog_id=CATALOG_ID)
        ).then_rejected(CatalogAlreadyActive)

    def test_an_active_catalog_is_deactivated(self) -> None:
        catalog = given(created(), item_added(), ACTIVATED).when(
            DeactivateCatalog(catalog_id=CATALOG_ID)
        )
        assert not catalog.then(CatalogDeactivated(catalog_id=CATALOG_ID)).is_active

    def test_an_inactive_catalog_cannot_be_deactivated(self) -> None:
        given(created()).when(DeactivateCatalog(catalog_id=CATALOG_ID)).then_rejected(
            CatalogNotActive, code="catalog-not-active"
        )


class TestTitleAndDescription:
    def test_the_title_changes(self) -> None:
        command = ChangeCatalogTitle(catalog_id=CATALOG_ID, title="Winter")
        catalog = given(created()).when(command)
        assert catalog.then(CatalogTitleChanged(catalog_id=CATALOG_ID, title="Winter")).title == (
            "Winter"
        )

    def test_the_description_changes(self) -> None:
        command = ChangeCatalogDescription(catalog_id=CATALOG_ID, description="Cold deals")
        expected = CatalogDescriptionChanged(catalog_id=CATALOG_ID, description="Cold deals")
        assert given(created()).when(command).then(expected).description == "Cold deals"


class TestItems:
    def test_a_new_product_is_added_as_an_item(self) -> None:
        catalog = given(created()).when(add_item()).then(item_added())
        assert [(i.id, i.quantity) for i in catalog.items] == [(ITEM_ID, 3)]

    def test_the_same_product_at_an_equal_price_increases_the_item(self) -> None:
        # The original compared the prices' strings: 10.0 and 10.00 were two items.
        catalog = (
            given(created(), item_added(price="10.00", quantity=3))
            .when(add_item(price="10.0", quantity=2, item_id=OTHER_ITEM_ID))
            .then(
                CatalogItemIncreased(
                    catalog_id=CATALOG_ID,
                    item_id=ITEM_ID,
                    inventory_id=item_added().inventory_id,
                    quantity=2,
                    new_quantity=5,
                )
            )
        )
        assert [(i.id, i.quantity) for i in catalog.items] == [(ITEM_ID, 5)]

    def test_the_same_product_at_another_price_is_another_item(self) -> None:
        given(created(), item_added(price="10.00")).when(
            add_item(price="12.00", item_id=OTHER_ITEM_ID)
        ).then(item_added(price="12.00", item_id=OTHER_ITEM_ID))

    def test_the_same_product_at_an_equal_price_from_another_inventory_is_another_item(
        self,
    ) -> None:
        # Was: it increased the first inventory's item, so the stock received in the second one
        # was sold from the first (a cart reserves at the item's inventory), which may have none.
        given(created(), item_added(price="10.00")).when(
            add_item(price="10.00", item_id=OTHER_ITEM_ID, inventory_id=OTHER_INVENTORY_ID)
        ).then(item_added(item_id=OTHER_ITEM_ID, inventory_id=OTHER_INVENTORY_ID))

    def test_a_new_item_cannot_take_the_id_of_another(self) -> None:
        given(created(), item_added(KEYBOARD)).when(add_item(MOUSE)).then_rejected(
            CatalogItemIdTaken
        )

    def test_an_item_with_quantity_zero_is_refused_before_it_reaches_the_catalog(self) -> None:
        with pytest.raises(ValidationError):
            add_item(quantity=0)

    def test_an_item_is_removed(self) -> None:
        command = RemoveCatalogItem(catalog_id=CATALOG_ID, item_id=ITEM_ID)
        catalog = given(created(), item_added()).when(command)
        assert catalog.then(CatalogItemRemoved(catalog_id=CATALOG_ID, item_id=ITEM_ID)).items == ()

    def test_removing_an_unknown_item_is_rejected(self) -> None:
        given(created(), item_added()).when(
            RemoveCatalogItem(catalog_id=CATALOG_ID, item_id=OTHER_ITEM_ID)
        ).then_rejected(CatalogItemNotFound, code="item-not-found")

    def test_an_item_id_equal_to_the_catalog_id_is_refused_as_input(self) -> None:
        with pytest.raises(ValidationError, match="itemId must differ"):
            RemoveCatalogItem(catalog_id=CATALOG_ID, item_id=CATALOG_ID)

    def test_an_item_that_could_not_be_removed_is_not_added(self) -> None:
        # An item under the catalog's own id would meet the removal's rule above for good.
        with pytest.raises(ValidationError, match="itemId must differ"):
            add_item(item_id=CATALOG_ID)


class TestDeletion:
    def test_a_catalog_is_deleted_and_no_longer_active(self) -> None:
        catalog = given(created(), item_added(), ACTIVATED).when(
            DeleteCatalog(catalog_id=CATALOG_ID)
        )
        deleted = catalog.then(DELETED)
        assert deleted.is_deleted
        assert not deleted.is_active

    @pytest.mark.parametrize(
        "command",
        [
            DeleteCatalog(catalog_id=CATALOG_ID),
            ActivateCatalog(catalog_id=CATALOG_ID),
            DeactivateCatalog(catalog_id=CATALOG_ID),
            ChangeCatalogTitle(catalog_id=CATALOG_ID, title="Again"),
            ChangeCatalogDescription(catalog_id=CATALOG_ID, description="Again"),
            add_item(MOUSE, item_id=OTHER_ITEM_ID),
            RemoveCatalogItem(catalog_id=CATALOG_ID, item_id=ITEM_ID),
        ],
        ids=lambda command: type(command).__name__,
    )
    def test_a_deleted_catalog_refuses_every_command(self, command: Command) -> None:
        given(created(), item_added(), DELETED).when(command).then_rejected(
            CatalogIsDeleted, code="catalog-deleted"
        )

    def test_a_command_on_an_unknown_catalog_is_not_found(self) -> None:
        with pytest.raises(AggregateNotFound):
            given().when(DeleteCatalog(catalog_id=CATALOG_ID)).then()


@pytest.mark.parametrize("quantity", [True, False])
def test_a_quantity_of_true_or_false_is_refused_as_input(quantity: bool) -> None:
    # Was: true taken as a quantity of 1 (pydantic's lax reading of JSON's true).
    with pytest.raises(ValidationError, match="whole number"):
        AddCatalogItem.model_validate(add_item().model_dump(by_alias=True) | {"quantity": quantity})

"""Property: however the broker delivers the catalogs' events (duplicated, shuffled, and every
event that arrives before its predecessor refused and redelivered later, as the cart's property
test delivers them), the four catalog read models end exactly as after in-order delivery, and
the grid agrees with the catalogs themselves.

Two catalogs take a random mix of all eight commands; item ids, products and prices come from
small pools, so items are increased, removed and added again; rejected commands raise nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventualshop.catalog.catalog import CATALOG, Catalog
from eventualshop.catalog.commands import (
    ActivateCatalog,
    ChangeCatalogDescription,
    ChangeCatalogTitle,
    CreateCatalog,
    DeactivateCatalog,
    DeleteCatalog,
    RemoveCatalogItem,
)
from eventualshop.catalog.read_models import CARDS, DETAILS, GRID, ITEM_LIST, PROJECTIONS
from eventualshop.kernel.messages import Command
from eventualshop.kernel.readmodels import Document
from tests.unit.delivery import SEEDS, delivered_contents, in_order_contents, session_history

from .examples import KEYBOARD, MOUSE, add_item

CATALOGS = [UUID(f"0ca7a100-0000-4000-8000-00000000c{n:03d}") for n in range(2)]
ITEMS = [UUID(f"0ca7a100-0000-4000-8000-00000000e{n:03d}") for n in range(3)]
PRODUCTS = [KEYBOARD, MOUSE]
KINDS = ["create"] * 2 + ["add"] * 6 + ["remove"] * 3 + ["activate", "deactivate"] * 2
KINDS += ["title", "description", "delete"]


@dataclass(frozen=True)
class Op:
    kind: str
    catalog: int
    item: int
    product: int
    price: str
    quantity: int

    def command(self) -> Command:
        catalog = CATALOGS[self.catalog]
        match self.kind:
            case "create":
                return CreateCatalog(catalog_id=catalog, title="Summer", description="Deals")
            case "add":
                return add_item(
                    PRODUCTS[self.product],
                    self.price,
                    self.quantity,
                    item_id=ITEMS[self.item],
                    catalog_id=catalog,
                )
            case "remove":
                return RemoveCatalogItem(catalog_id=catalog, item_id=ITEMS[self.item])
            case "activate":
                return ActivateCatalog(catalog_id=catalog)
            case "deactivate":
                return DeactivateCatalog(catalog_id=catalog)
            case "title":
                return ChangeCatalogTitle(catalog_id=catalog, title=f"Title {self.quantity}")
            case "description":
                return ChangeCatalogDescription(catalog_id=catalog, description=self.price)
        return DeleteCatalog(catalog_id=catalog)


ops = st.builds(
    Op,
    kind=st.sampled_from(KINDS),
    catalog=st.integers(0, len(CATALOGS) - 1),
    item=st.integers(0, len(ITEMS) - 1),
    product=st.integers(0, len(PRODUCTS) - 1),
    price=st.sampled_from(["10.00", "10.0", "12.50"]),
    quantity=st.integers(1, 4),
)
sessions = st.lists(ops, max_size=30).map(
    lambda plan: [Op("create", n, 0, 0, "1", 1) for n in range(len(CATALOGS))] + plan
)


def assert_the_read_models_agree_with_the_catalogs(
    documents: dict[str, dict[str, Document]], states: dict[UUID, Catalog]
) -> None:
    for catalog_id, catalog in states.items():
        shown = documents[GRID][str(catalog_id)]
        assert (shown["title"], shown["description"]) == (catalog.title, catalog.description)
        assert shown["isActive"] == (catalog.is_active and not catalog.is_deleted)
        assert shown["isDeleted"] == catalog.is_deleted
        assert shown["itemCount"] == len(catalog.items), (shown, catalog.items)
        for collection in (ITEM_LIST, DETAILS, CARDS):
            live = {
                doc["itemId"]: doc.get("quantity")
                for doc in documents[collection].values()
                if doc["catalogId"] == str(catalog_id) and not doc["isDeleted"]
            }
            expected = {} if catalog.is_deleted else {str(i.id): i.quantity for i in catalog.items}
            if collection == CARDS:  # a card shows no quantity
                expected = dict.fromkeys(expected)
            assert live == expected, (collection, live, expected)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(session=sessions, seed=SEEDS)
def test_any_delivery_order_with_duplicates_gives_the_in_order_documents(
    session: list[Op], seed: int
) -> None:
    history = session_history(CATALOG, (op.command() for op in session))
    in_order = in_order_contents(history.events, PROJECTIONS)
    assert_the_read_models_agree_with_the_catalogs(in_order, history.states)

    assert delivered_contents(history.events, PROJECTIONS, seed) == in_order

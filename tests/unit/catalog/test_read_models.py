"""What the catalog's read models show of an item, on the in-memory read-model store (the
contract suite runs the use cases on every adapter)."""

from __future__ import annotations

import pytest

from eventualshop.catalog import queries
from eventualshop.catalog.catalog import CATALOG
from eventualshop.catalog.read_models import PROJECTIONS
from eventualshop.kernel.paging import Paging
from eventualshop.kernel.readmodels_memory import InMemoryReadModelStore
from tests.unit.recorded import History, project

from .examples import CATALOG_ID, ITEM_ID, KEYBOARD, add_item, create


@pytest.mark.parametrize(
    ("sku", "path"),
    [
        ("KB-1", "/images/KB-1.jpg"),
        # A SKU is the client's text: written into the path as it was, "/" and "?" made
        # another path and a query of it, "#" a fragment, and a space no URL at all.
        ("KB/1?size=2#top", "/images/KB%2F1%3Fsize%3D2%23top.jpg"),
        ("Key board 100%", "/images/Key%20board%20100%25.jpg"),
        ("../admin", "/images/..%2Fadmin.jpg"),
    ],
)
def test_an_items_image_url_is_its_sku_escaped_as_one_path_segment(sku: str, path: str) -> None:
    history = History(CATALOG)
    goods = KEYBOARD.model_copy(update={"sku": sku})
    history.run(create(), add_item(goods))
    store = project(InMemoryReadModelStore(), PROJECTIONS, history.events)
    cards = queries.list_catalog_item_cards(store, CATALOG_ID, Paging()).to_json()["items"]
    details = queries.get_catalog_item_details(store, CATALOG_ID, ITEM_ID)
    assert details is not None
    assert [c["imageUrl"] for c in cards] == [path]
    assert details["imageUrl"] == path

"""The original's v2 rows (reference §7.4, rows 1, 8, 34 and 48): declared by handler, derived
like the v1 rows (same handler and access rule), at ``/api/v2/…``."""

from __future__ import annotations

import pytest

from eventualshop.catalog.declaration import CATALOG
from eventualshop.runtime.registry import FunctionKind, versioned_queries
from functions.registry import API_V2, FUNCTIONS, SERVED_BY


def test_rows_1_8_34_and_48_are_served_under_v2_by_their_v1_handlers() -> None:
    routes = {(s.route.method, s.route.path): s.derived for s in API_V2 if s.route}
    assert routes == {
        ("GET", "/api/v2/accounts/accounts-details"): "query:list_accounts_details",
        ("GET", "/api/v2/catalogs/grid-items"): "query:list_catalog_grid_items",
        ("GET", "/api/v2/warehouses"): "query:list_inventories",
        ("GET", "/api/v2/shopping-carts/{cartId}/details"): "query:get_cart_details",
    }
    for spec in API_V2:
        v1 = [s for s in FUNCTIONS if s.derived == spec.derived and s is not spec]
        assert len(v1) == 1
        assert v1[0].route is not None
        assert v1[0].route.path.startswith("/api/v1/")
        assert spec.kind is FunctionKind.QUERY
        assert spec.name == f"{v1[0].name}-v2"


def test_every_route_is_served_by_one_function_only() -> None:
    routes = [(s.route.method, s.route.path) for s in FUNCTIONS if s.route]
    assert len(routes) == len(set(routes))


@pytest.mark.parametrize(
    ("version", "handlers", "complaint"),
    [
        ("v1", ("list_catalogs",), "not v2 or later"),
        ("2", ("list_catalogs",), "not v2 or later"),
        ("v2", ("no_such_handler",), "no query route has the handler"),
    ],
)
def test_a_version_or_handler_that_cannot_be_served_is_refused(
    version: str, handlers: tuple[str, ...], complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        versioned_queries(CATALOG, SERVED_BY, version, handlers)

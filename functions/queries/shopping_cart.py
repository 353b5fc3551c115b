"""Shopping Cart query functions: one functions-framework HTTP target per query (reference §7.4
rows 34, 36, 38, 43, 45, 46), reading the read models the cart projectors write."""

from __future__ import annotations

from eventualshop.runtime import wiring
from eventualshop.runtime.http import query_function
from eventualshop.shopping_cart import queries as q
from functions.registry import CART, route_of


def _route(name: str):  # type: ignore[no-untyped-def]
    return route_of(f"{CART}-{name}")


get_cart_details = query_function(
    _route("get-cart-details"),
    lambda ids, _: q.cart_details(wiring.read_model_store(), ids["cartId"]),
)
get_customer_cart_details = query_function(
    _route("get-customer-cart-details"),
    lambda ids, _: q.customer_cart_details(wiring.read_model_store(), ids["customerId"]),
)
list_cart_items = query_function(
    _route("list-cart-items"),
    lambda ids, paging: q.cart_items(wiring.read_model_store(), ids["cartId"], paging),
)
get_cart_item_details = query_function(
    _route("get-cart-item-details"),
    lambda ids, _: q.item_details(wiring.read_model_store(), ids["cartId"], ids["itemId"]),
)
list_payment_methods = query_function(
    _route("list-payment-methods"),
    lambda ids, paging: q.payment_methods(wiring.read_model_store(), ids["cartId"], paging),
)
get_payment_method_details = query_function(
    _route("get-payment-method-details"),
    lambda ids, _: q.payment_method_details(
        wiring.read_model_store(), ids["cartId"], ids["methodId"]
    ),
)


def _lag(_ids: object, _paging: object) -> dict[str, object]:
    from eventualshop.shopping_cart.service import projection_lag

    lags = projection_lag(wiring.event_store(CART), wiring.read_model_store())
    return {
        "projections": [
            {
                "projection": item.projection,
                "lastAppliedEventId": item.last_applied_event_id,
                "lastAppliedPosition": item.last_applied_position,
                "lastWrittenPosition": item.last_written_position,
                "behind": item.behind,
            }
            for item in lags
        ]
    }


get_projection_lag = query_function(_route("get-projection-lag"), _lag)

"""Shopping Cart command functions: one functions-framework HTTP target per command.

Deploy one with ``functions-framework --source functions/commands/shopping_cart.py
--target add_cart_item``. Each answers 202 with the cart id and command id, and a Location to
poll; see ``eventualshop.runtime.http`` for the error answers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache

from flask import Request, Response

from eventualshop.kernel.service import ApplicationService
from eventualshop.runtime import wiring
from eventualshop.runtime.http import command_function
from eventualshop.runtime.settings import settings
from eventualshop.shopping_cart import commands as c
from eventualshop.shopping_cart.cart import Cart
from eventualshop.shopping_cart.payment_methods import use_card_token_key
from eventualshop.shopping_cart.service import cart_service
from functions.registry import CART, route_of

DETAILS = "/api/v1/shopping-carts/{aggregateId}/details"


@cache
def _service() -> ApplicationService[Cart]:
    config = settings()
    if config.card_token_key is not None:
        use_card_token_key(config.card_token_key.get_secret_value().encode())
    return cart_service(wiring.event_store(CART), snapshot_interval=config.snapshot_interval)


def _target(
    command: type[c.CartCommand],
    name: str,
    *,
    query: dict[str, str] | None = None,
    body_field: str | None = None,
) -> Callable[[Request], Response]:
    return command_function(
        command,
        route_of(f"{CART}-{name}"),
        _service,
        query=query,
        body_field=body_field,
        location=DETAILS,
        after_commit=wiring.relay_after_commit(CART),
    )


create_cart = _target(c.CreateCart, "create-cart")
add_cart_item = _target(c.AddCartItem, "add-cart-item")
change_cart_item_quantity = _target(
    c.ChangeCartItemQuantity, "change-cart-item-quantity", query={"quantity": "newQuantity"}
)
remove_cart_item = _target(c.RemoveCartItem, "remove-cart-item")
add_credit_card = _target(c.AddCreditCard, "add-credit-card")
add_debit_card = _target(c.AddDebitCard, "add-debit-card")
add_pay_pal = _target(c.AddPayPal, "add-pay-pal")
remove_payment_method = _target(c.RemovePaymentMethod, "remove-payment-method")
add_shipping_address = _target(c.AddShippingAddress, "add-shipping-address", body_field="address")
add_billing_address = _target(c.AddBillingAddress, "add-billing-address", body_field="address")
check_out_cart = _target(c.CheckOutCart, "check-out-cart")
discard_cart = _target(c.DiscardCart, "discard-cart")


def rebuild_cart_projection(request: Request) -> Response:
    """POST …/admin/rebuild-projection?name=<projection>|all: replay the event store into fresh
    read models and swap them in when complete; queries keep answering meanwhile."""
    from eventualshop.runtime.http import ProblemError, problem, read_json_body
    from eventualshop.shopping_cart.service import (
        REBUILD_NAMES,
        UnknownProjection,
        projection_named,
        rebuild_read_models,
    )

    if request.method != "POST":
        return problem(405, "Method not allowed", "use POST")
    try:
        read_json_body(request)  # no body is needed, but an oversized one is still refused
    except ProblemError as error:
        return problem(error.status, error.title, error.detail, errors=error.errors)
    name = request.args.get("name", "").strip()
    if not name:
        return problem(
            400,
            "Invalid request",
            "name the projection to rebuild, or all",
            errors={"name": ["must not be empty"]},
        )
    try:
        chosen = projection_named(name)
    except UnknownProjection:
        return problem(
            400,
            "Invalid request",
            f"unknown projection {name!r}",
            errors={"name": [f"must be one of: {', '.join(REBUILD_NAMES)}"]},
        )
    reports = rebuild_read_models(
        wiring.event_store(CART), wiring.read_model_store(), None if chosen is None else [chosen]
    )
    body = [
        {
            "projection": r.projection,
            "events": r.events,
            "documents": r.documents,
            "lastPosition": r.last_position,
        }
        for r in reports
    ]
    return Response(json.dumps({"rebuilt": body}), status=200, mimetype="application/json")

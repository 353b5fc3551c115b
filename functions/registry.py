"""Every deployable function, declared once.

The local server, the in-process broker, the RabbitMQ dispatcher and the generated Knative and
OpenFaaS manifests all read this list; nothing here imports a function module.
"""

from __future__ import annotations

from eventualshop.runtime.registry import Delivery, FunctionKind, FunctionSpec, Route, Subscription

CART = "shopping-cart"
CARTS = "/api/v1/shopping-carts"
CART_COMMANDS = "functions.commands.shopping_cart"


CART_QUERIES = "functions.queries.shopping_cart"
CART_PROJECTORS = "functions.projectors.shopping_cart"

#: Every domain event of a cart. Each cart projector gets all of them: it applies them in version
#: order per cart, so it must see the ones its read model ignores too.
CART_EVENT_TYPES = (
    "CartCreated",
    "CartItemAdded",
    "CartItemIncreased",
    "CartItemDecreased",
    "CartItemRemoved",
    "CartCheckedOut",
    "CartDiscarded",
    "BillingAddressAdded",
    "ShippingAddressAdded",
    "CreditCardAdded",
    "DebitCardAdded",
    "PayPalAdded",
    "PaymentMethodRemoved",
)
#: A projector that sees an event before its predecessor answers 500; the predecessor is usually
#: a moment behind, so retry soon and often before giving up.
PROJECTION_DELIVERY = Delivery(retry=8, backoff_policy="exponential", backoff_delay="PT0.2S")


def _kebab(name: str) -> str:
    return "".join(f"-{c.lower()}" if c.isupper() else c for c in name).lstrip("-")


def _cart_query(target: str, path: str) -> FunctionSpec:
    return FunctionSpec(
        name=f"{CART}-{target.replace('_', '-')}",
        kind=FunctionKind.QUERY,
        context=CART,
        module=CART_QUERIES,
        target=target,
        route=Route("GET", CARTS + path),
    )


def _cart_projector(target: str, short: str) -> FunctionSpec:
    name = f"{CART}-{target.replace('_', '-')}"
    return FunctionSpec(
        name=name,
        kind=FunctionKind.PROJECTOR,
        context=CART,
        module=CART_PROJECTORS,
        target=target,
        subscriptions=tuple(
            Subscription(
                name=f"cart-{short}-{_kebab(event)}",
                filters={"type": f"eventualshop.{CART}.{event}.v1"},
                delivery=PROJECTION_DELIVERY,
            )
            for event in CART_EVENT_TYPES
        ),
    )


def _cart_command(target: str, method: str, path: str) -> FunctionSpec:
    return FunctionSpec(
        name=f"{CART}-{target.replace('_', '-')}",
        kind=FunctionKind.COMMAND,
        context=CART,
        module=CART_COMMANDS,
        target=target,
        route=Route(method, CARTS + path),  # type: ignore[arg-type]
    )


FUNCTIONS: tuple[FunctionSpec, ...] = (
    # Shopping Cart commands: the original's v1 routes (reference §7.4 rows 30-47).
    _cart_command("create_cart", "POST", ""),
    _cart_command("add_cart_item", "POST", "/{cartId}/items"),
    _cart_command("change_cart_item_quantity", "PUT", "/{cartId}/items/{itemId}/change-quantity"),
    _cart_command("remove_cart_item", "DELETE", "/{cartId}/items/{itemId}"),
    _cart_command("add_credit_card", "POST", "/{cartId}/payment-methods/credit-card"),
    _cart_command("add_debit_card", "POST", "/{cartId}/payment-methods/debit-card"),
    _cart_command("add_pay_pal", "POST", "/{cartId}/payment-methods/pay-pal"),
    _cart_command("remove_payment_method", "DELETE", "/{cartId}/payment-methods/{methodId}"),
    _cart_command("add_shipping_address", "PUT", "/{cartId}/add-shipping-address"),
    _cart_command("add_billing_address", "PUT", "/{cartId}/add-billing-address"),
    _cart_command("check_out_cart", "PUT", "/{cartId}/check-out"),
    # The original has no route for DiscardCart; DELETE on the cart is the natural one.
    _cart_command("discard_cart", "DELETE", "/{cartId}"),
    _cart_command("rebuild_cart_projection", "POST", "/admin/rebuild-projection"),
    # Shopping Cart queries (rows 34, 36, 38, 43, 45, 46) and the projections' lag.
    _cart_query("get_cart_details", "/{cartId}/details"),
    _cart_query("list_cart_items", "/{cartId}/items/list-item"),
    _cart_query("get_cart_item_details", "/{cartId}/items/{itemId}/details"),
    _cart_query("list_payment_methods", "/{cartId}/payment-methods/list-items"),
    _cart_query("get_payment_method_details", "/{cartId}/payment-methods/{methodId}/details"),
    _cart_query("get_customer_cart_details", "/customers/{customerId}/cart-details"),
    _cart_query("get_projection_lag", "/admin/projections"),
    # Shopping Cart projectors: one read model each.
    _cart_projector("cart_details", "details"),
    _cart_projector("cart_item_list", "items"),
    _cart_projector("cart_item_details", "item-details"),
    _cart_projector("payment_method_list", "methods"),
    _cart_projector("payment_method_details", "method-details"),
    # Publishes what the relay after each commit could not (broker down, crash after commit).
    FunctionSpec(
        name="outbox-sweep",
        kind=FunctionKind.SCHEDULED,
        context="platform",
        module="functions.sagas.outbox",
        target="sweep",
        schedule="* * * * *",
        concurrency=1,
        max_scale=1,
    ),
    # Keeps what exhausted its retries, so it can be looked at and replayed.
    FunctionSpec(
        name="dead-letters",
        kind=FunctionKind.SINK,
        context="platform",
        module="functions.sagas.dead_letters",
        target="keep",
    ),
)

BY_NAME = {spec.name: spec for spec in FUNCTIONS}
# Contexts with an event store (and so an outbox) of their own.
CONTEXTS: tuple[str, ...] = (CART,)


def route_of(name: str) -> Route:
    route = BY_NAME[name].route
    assert route is not None, f"{name} is not an HTTP function"
    return route


DEFAULT_DELIVERY = Delivery()

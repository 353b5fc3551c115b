"""The system, declared once: every bounded context and the platform's own functions.

The local server, the in-process broker, the RabbitMQ dispatcher, the command line and the
generated Knative and OpenFaaS manifests all read this list. A context's functions (commands,
queries, projectors, rebuild, lag) are derived from its declaration; only the platform jobs and,
later, the sagas are written out here. Importing this module imports no domain module.
"""

from __future__ import annotations

from eventualshop.catalog.declaration import CATALOG
from eventualshop.kernel.declaration import BoundedContext
from eventualshop.runtime.registry import (
    Delivery,
    FunctionKind,
    FunctionSpec,
    Subscription,
    context_functions,
    kebab,
)
from eventualshop.shopping_cart.declaration import SHOPPING_CART
from eventualshop.warehouse.declaration import WAREHOUSE

CONTEXTS: tuple[BoundedContext, ...] = (SHOPPING_CART, CATALOG, WAREHOUSE)
#: The functions-framework source that serves every derived function.
SERVED_BY = "functions.main"

PLATFORM: tuple[FunctionSpec, ...] = (
    # Publishes what the relay after each commit could not (broker down, crash after commit).
    FunctionSpec(
        name="outbox-sweep",
        kind=FunctionKind.SCHEDULED,
        context="platform",
        module="functions.platform.outbox",
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
        module="functions.platform.dead_letters",
        target="keep",
    ),
)

#: A reaction retries while the event it depends on is on its way (``NotYet``), so it backs off
#: like a projector.
REACTION_DELIVERY = Delivery(retry=8, backoff_policy="exponential", backoff_delay="PT0.2S")
#: The cart events that change what a cart holds of the Warehouse's stock.
_HOLDING_EVENTS = (
    "CartItemAdded",
    "CartItemIncreased",
    "CartItemDecreased",
    "CartItemRemoved",
    "CartDiscarded",
)

#: Cross-context reactions and saga steps (``functions/sagas/``).
SAGAS: tuple[FunctionSpec, ...] = (
    # Reference §6.1 R10 and its inverse: cart items hold stock in the Warehouse.
    FunctionSpec(
        name="stock-reservations",
        kind=FunctionKind.SAGA,
        context=WAREHOUSE.name,
        module="functions.sagas.reservations",
        target="reserve_stock",
        subscriptions=tuple(
            Subscription(
                f"stock-reservations-{kebab(event)}",
                {"type": f"eventualshop.{SHOPPING_CART.name}.{event}"},
                REACTION_DELIVERY,
            )
            for event in _HOLDING_EVENTS
        ),
    ),
)

FUNCTIONS: tuple[FunctionSpec, ...] = (
    *(spec for context in CONTEXTS for spec in context_functions(context, SERVED_BY)),
    *SAGAS,
    *PLATFORM,
)

DEFAULT_DELIVERY = Delivery()

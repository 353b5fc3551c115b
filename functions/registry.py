"""The system, declared once: every bounded context and the platform's own functions.

The local server, the in-process broker, the RabbitMQ dispatcher, the command line and the
generated Knative and OpenFaaS manifests all read this list. A context's functions (commands,
queries, projectors, rebuild, lag) are derived from its declaration; only the platform jobs and,
later, the sagas are written out here. Importing this module imports no domain module.
"""

from __future__ import annotations

from eventualshop.catalog.declaration import CATALOG
from eventualshop.kernel.declaration import BoundedContext
from eventualshop.runtime.registry import Delivery, FunctionKind, FunctionSpec, context_functions
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

#: Cross-context reactions and saga steps (``functions/sagas/``): none yet.
SAGAS: tuple[FunctionSpec, ...] = ()

FUNCTIONS: tuple[FunctionSpec, ...] = (
    *(spec for context in CONTEXTS for spec in context_functions(context, SERVED_BY)),
    *SAGAS,
    *PLATFORM,
)

DEFAULT_DELIVERY = Delivery()

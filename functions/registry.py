"""The system, declared once: every bounded context and the platform's own functions.

The local server, the in-process broker, the RabbitMQ dispatcher, the command line and the
generated Knative and OpenFaaS manifests all read this list. A context's functions (commands,
queries, projectors, rebuild, lag) are derived from its declaration, and so are the v2 rows of a
few query routes; only the platform jobs, the sagas and the projectors of another context's
events are written out here. Importing this module imports no domain module.
"""

from __future__ import annotations

from eventualshop.account.declaration import ACCOUNT
from eventualshop.account.declaration import API_V2 as ACCOUNT_API_V2
from eventualshop.catalog.declaration import API_V2 as CATALOG_API_V2
from eventualshop.catalog.declaration import CATALOG
from eventualshop.identity.declaration import IDENTITY
from eventualshop.kernel.declaration import Access, BoundedContext
from eventualshop.runtime.registry import (
    PROJECTION_DELIVERY,
    Answers,
    Delivery,
    FunctionKind,
    FunctionSpec,
    Route,
    Subscription,
    context_functions,
    kebab,
    versioned_queries,
)
from eventualshop.shopping_cart.declaration import API_V2 as SHOPPING_CART_API_V2
from eventualshop.shopping_cart.declaration import SHOPPING_CART
from eventualshop.warehouse.declaration import API_V2 as WAREHOUSE_API_V2
from eventualshop.warehouse.declaration import WAREHOUSE

CONTEXTS: tuple[BoundedContext, ...] = (SHOPPING_CART, CATALOG, WAREHOUSE, IDENTITY, ACCOUNT)
#: The functions-framework source that serves every derived function.
SERVED_BY = "functions.main"


def _every_minute(name: str, module: str, target: str) -> FunctionSpec:
    """A platform job a PingSource starts every minute, one instance at a time."""
    return FunctionSpec(
        name=name,
        kind=FunctionKind.SCHEDULED,
        context="platform",
        module=module,
        target=target,
        schedule="* * * * *",
        concurrency=1,
        max_scale=1,
    )


PLATFORM: tuple[FunctionSpec, ...] = (
    # Publishes what the relay after each commit could not (broker down, crash after commit).
    _every_minute("outbox-sweep", "functions.platform.outbox", "sweep"),
    # Sends the commands durable timers scheduled, once due (reservation and email expiry).
    _every_minute("timer-sweep", "functions.platform.timers", "fire"),
    # Keeps what exhausted its retries, so it can be looked at and replayed.
    FunctionSpec(
        name="dead-letters",
        kind=FunctionKind.SINK,
        context="platform",
        module="functions.platform.dead_letters",
        target="keep",
    ),
)

#: Knative's own defaults, as most Triggers have them.
DEFAULT_DELIVERY = Delivery()
#: A reaction retries while the event it depends on is on its way (``NotYet``), so it backs off
#: like a projector.
REACTION_DELIVERY = Delivery(retry=8, backoff_policy="exponential", backoff_delay="PT0.2S")
#: The cart events that change what a cart holds of the Warehouse's stock (a checkout keeps it).
_HOLDING_EVENTS = (
    "CartItemAdded",
    "CartItemIncreased",
    "CartItemDecreased",
    "CartItemRemoved",
    "CartDiscarded",
    "CartCheckedOut",
)


def _credential_function(
    name: str,
    method: str,
    path: str,
    answers: Answers,
    *,
    signs: bool = False,
    access: Access = "anonymous",
) -> FunctionSpec:
    """Identity's credential functions (``functions/identity/credential_routes.py``; not
    ``http.py``: functions-framework loads a source under its file's stem, which took the place
    of the standard ``http`` package). Only those that sign tokens get the signing key from the
    Secret. ``access`` is what the function itself checks (it is hand-written: the declaration
    says it for the OpenAPI document and the tests)."""
    return FunctionSpec(
        name=f"identity-{name}",
        kind=FunctionKind.QUERY if method == "GET" else FunctionKind.COMMAND,
        context=IDENTITY.name,
        module="functions.identity.credential_routes",
        target=name.replace("-", "_"),
        route=Route("GET" if method == "GET" else "POST" if method == "POST" else "PUT", path),
        own_secrets=("EVENTUALSHOP_AUTH_SIGNING_KEY",) if signs else (),
        access=access,
        answers=answers,
    )


_FORMS = "functions.identity.forms"
#: What any function that reads a JSON body may answer besides its own problems.
_BODY_PROBLEMS = (
    ("400", "a field is invalid (``errors`` names it), or the body is no JSON object"),
    ("413", "the body is over 64 KiB"),
    ("415", "the body is not JSON"),
    ("503", "a store does not answer; retry after ``Retry-After``"),
)
_KEY_REUSED = ("422", "the Idempotency-Key was first used with another request")


IDENTITY_CREDENTIALS: tuple[FunctionSpec, ...] = (
    _credential_function(
        "sign-up",
        "POST",
        IDENTITY.routes + "/sign-up",
        Answers(
            f"{_FORMS}:SignUp",
            "202",
            "CommandAccepted",
            (
                *_BODY_PROBLEMS,
                (
                    "409",
                    "the email is taken (``email-taken``), or a sign-up with it is under way "
                    "(``email-claim-pending``)",
                ),
                _KEY_REUSED,
            ),
        ),
    ),
    _credential_function(
        "sign-in",
        "POST",
        IDENTITY.routes + "/sign-in",
        Answers(
            f"{_FORMS}:SignIn",
            "200",
            f"{_FORMS}:Tokens",
            (
                *_BODY_PROBLEMS,
                ("401", "wrong email or password"),
                ("429", "too many failed sign-ins for this email; retry after ``Retry-After``"),
            ),
        ),
        signs=True,
    ),
    _credential_function(
        "refresh",
        "POST",
        IDENTITY.routes + "/refresh",
        Answers(
            f"{_FORMS}:RefreshToken",
            "200",
            f"{_FORMS}:Tokens",
            (*_BODY_PROBLEMS, ("401", "the refresh token is spent, revoked or unknown")),
        ),
        signs=True,
    ),
    _credential_function(
        "sign-out",
        "POST",
        IDENTITY.routes + "/sign-out",
        Answers(f"{_FORMS}:RefreshToken", "204", None, _BODY_PROBLEMS),
    ),
    _credential_function(
        "change-password",
        "PUT",
        IDENTITY.routes + "/{userId}/change-password",
        Answers(
            f"{_FORMS}:NewPassword",
            "202",
            "CommandAccepted",
            (
                *_BODY_PROBLEMS,
                ("404", "no such user"),
                ("409", "refused: ``code`` says why"),
                _KEY_REUSED,
            ),
        ),
        access="owner",
    ),
    _credential_function(
        "change-email",
        "PUT",
        IDENTITY.routes + "/{userId}/change-email",
        Answers(
            success="202",
            result="CommandAccepted",
            query=(("email", "the email to add; it is the user's to sign in with once confirmed"),),
            problems=(
                ("400", "the email is missing or invalid, or the body holds a field"),
                ("404", "no such user"),
                (
                    "409",
                    "another user signs in with the email (``email-taken``), or signs up with "
                    "it (``email-claim-pending``), or the user cannot take it (``code`` says why)",
                ),
                _KEY_REUSED,
                ("413", "the body is over 64 KiB"),
                ("415", "the body is not JSON"),
                ("503", "a store does not answer; retry after ``Retry-After``"),
            ),
        ),
        access="owner",
    ),
    # Public keys only; in production every function reads them from EVENTUALSHOP_AUTH_JWKS.
    _credential_function(
        "jwks-document",
        "GET",
        "/.well-known/jwks.json",
        Answers(result=f"{_FORMS}:Jwks", problems=(("503", "the signing key cannot be read"),)),
    ),
)


def _reaction(
    name: str,
    context: str,
    source: BoundedContext,
    event: str,
    delivery: Delivery = DEFAULT_DELIVERY,
) -> FunctionSpec:
    """A reaction in ``functions/sagas/reactions.py``, subscribed to one event type."""
    return FunctionSpec(
        name=name,
        kind=FunctionKind.SAGA,
        context=context,
        module="functions.sagas.reactions",
        target=name.removeprefix(f"{context}-").replace("-", "_"),
        subscriptions=(
            Subscription(
                name,
                {"source": source.source, "type": f"eventualshop.{source.name}.{event}"},
                delivery,
            ),
        ),
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
    _reaction("account-create-account-when-user-registered", "account", IDENTITY, "UserRegistered"),
    # Retried while R1 has not created the account yet (``NotCreatedYet``).
    _reaction(
        "account-activate-account-when-email-confirmed",
        "account",
        IDENTITY,
        "EmailConfirmed",
        REACTION_DELIVERY,
    ),
    # Retried likewise: the account may not be created yet.
    _reaction(
        "account-change-email-when-primary-email-defined",
        "account",
        IDENTITY,
        "PrimaryEmailDefined",
        REACTION_DELIVERY,
    ),
    _reaction("identity-delete-user-when-account-deleted", "identity", ACCOUNT, "AccountDeleted"),
)

#: The Warehouse's answers to the stock reservations (see ``processes/availability.py``).
_ANSWERS = (
    "InventoryReserved",
    "InventoryNotReserved",
    "StockDepleted",
    "InventoryReservationReleased",
)
ITEM_AVAILABILITY = "shopping-cart-item-availability"

#: Read models of one context fed by another context's events, written by hand: a declared
#: projection reads its own context's stream (its gap filling, rebuild and lag go by that
#: stream). This one needs none of them: each answer carries the cart version it answers,
#: which guards its document, so it subscribes by exact type to the answers only; the sweep
#: runs its catch-up, which follows the Warehouse's store by position.
PROJECTORS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        name=ITEM_AVAILABILITY,
        kind=FunctionKind.PROJECTOR,
        context=SHOPPING_CART.name,
        module="functions.projectors.availability",
        target="project_item_availability",
        catch_up="functions.projectors.availability:catch_up",
        subscriptions=tuple(
            Subscription(
                f"{ITEM_AVAILABILITY}-{kebab(event)}",
                {"source": WAREHOUSE.source, "type": f"eventualshop.{WAREHOUSE.name}.{event}"},
                PROJECTION_DELIVERY,
            )
            for event in _ANSWERS
        ),
    ),
)

#: The original's v2 rows (reference §7.4): v1 query routes served again under ``/api/v2``.
API_V2: tuple[FunctionSpec, ...] = (
    *versioned_queries(ACCOUNT, SERVED_BY, "v2", ACCOUNT_API_V2),
    *versioned_queries(CATALOG, SERVED_BY, "v2", CATALOG_API_V2),
    *versioned_queries(WAREHOUSE, SERVED_BY, "v2", WAREHOUSE_API_V2),
    *versioned_queries(SHOPPING_CART, SERVED_BY, "v2", SHOPPING_CART_API_V2),
)

FUNCTIONS: tuple[FunctionSpec, ...] = (
    *(spec for context in CONTEXTS for spec in context_functions(context, SERVED_BY)),
    *API_V2,
    *IDENTITY_CREDENTIALS,
    *PROJECTORS,
    *SAGAS,
    *PLATFORM,
)

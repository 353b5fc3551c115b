"""The function registry's vocabulary: one declaration per deployable function.

Routing is declared once, here, as Knative Trigger semantics (subscriber + exact-match attribute
filters + delivery policy). The in-process broker, the RabbitMQ dispatcher and the generated
Knative manifests all read the same declarations, so local routing is production routing.
Declarations are plain data: reading them imports no function module.

A bounded context's functions are not written one by one: :func:`context_functions` derives them
from its declaration (``eventualshop.kernel.declaration``); one module serves all of their
targets, which the composition root builds on first use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from eventualshop.kernel import declaration
from eventualshop.kernel.declaration import Access, BoundedContext, Method


class FunctionKind(StrEnum):
    COMMAND = "command"  # HTTP-triggered, changes an aggregate
    QUERY = "query"  # HTTP-triggered, reads a read model
    PROJECTOR = "projector"  # CloudEvent-triggered, writes one read model
    SAGA = "saga"  # CloudEvent-triggered, a reaction or a process-manager step
    SCHEDULED = "scheduled"  # CloudEvent-triggered by a PingSource (cron)
    # HTTP-triggered without a public route: Knative's dead-letter sink posts the failed event
    # with ``?trigger=<name>``, which a plain CloudEvent target could not see.
    SINK = "sink"


#: The one form a path parameter (a UUID) takes, as a body's ids do: 8-4-4-4-12 hexadecimal
#: digits, either case. The API gateway's routes match it (RE2 and Python agree on it) and the
#: functions refuse any other, so a path that works locally works deployed.
UUID_PATTERN = declaration.UUID_PATTERN


@dataclass(frozen=True, slots=True)
class Route:
    """An HTTP route; path parameters are written ``{name}`` and are UUIDs (``UUID_PATTERN``)."""

    method: Method
    path: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """Knative ``DeliverySpec``: retries after the first attempt, backoff, dead-letter sink."""

    retry: int = 3
    backoff_policy: Literal["linear", "exponential"] = "exponential"
    backoff_delay: str = "PT0.5S"  # ISO 8601 duration, as Knative writes it
    dead_letter_sink: str | None = "dead-letters"  # name of the function that keeps them

    def delay_seconds(self, attempt: int) -> float:
        """Wait before retry ``attempt`` (1-based), as Knative Eventing's own dispatchers compute
        it (and ours). eventing-rabbitmq's dispatcher retries through the CloudEvents Go SDK,
        whose exponential wait is ``base * 2 ** attempt``: twice this, the README says so."""
        base = parse_duration(self.backoff_delay)
        if self.backoff_policy == "linear":
            return base * attempt
        return float(base * 2 ** (attempt - 1))


#: The threads of the image's server (gunicorn's one worker): requests an instance serves at once.
SERVER_THREADS = 8


@dataclass(frozen=True, slots=True)
class Subscription:
    """One Knative Trigger: the events (exact-match attribute filters) a function receives."""

    name: str
    filters: dict[str, str]
    delivery: Delivery = field(default_factory=Delivery)

    def matches(self, attributes: dict[str, str]) -> bool:
        return all(attributes.get(key) == value for key, value in self.filters.items())


@dataclass(frozen=True, slots=True)
class Answers:
    """What a hand-written HTTP function reads and answers, for the OpenAPI document (a derived
    function's come from its declaration). Models are named ``"module:Model"`` (pydantic), so the
    registry imports none of them."""

    #: The JSON body it reads, if any.
    body: str | None = None
    #: Its answer when it did what was asked, and that answer's body: a model, or
    #: ``"CommandAccepted"`` (the document's own schema of a command's 202), or none.
    success: str = "200"
    result: str | None = None
    #: (status, when): the problems it answers.
    problems: tuple[tuple[str, str], ...] = ()
    #: (name, what): the query parameters it requires.
    query: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    name: str  # DNS-1123 label, the Knative Service name
    kind: FunctionKind
    context: str
    module: str  # importable module that defines ``target``
    target: str  # functions-framework target inside it
    route: Route | None = None
    subscriptions: tuple[Subscription, ...] = ()
    schedule: str | None = None  # cron, for scheduled functions
    #: Container concurrency: the requests one instance is given at once. At most the threads
    #: of the image's server (``SERVER_THREADS``): at 50 the autoscaler counted an instance as
    #: serving 50 while it served 8, the rest queued inside it, and it scaled out too late.
    concurrency: int = SERVER_THREADS
    max_scale: int = 10
    #: How a derived function is built (``command:AddCartItem``, ``query:get_cart_details``,
    #: ``projector:<projection>``, ``rebuild``, ``lag``); ``None`` for a hand-written one.
    derived: str | None = None
    #: Environment variables the function takes from the deployment's Secret.
    secrets: tuple[str, ...] = ()
    #: Variables from a Secret of their own (named after the variable, kebab case) that only
    #: the functions naming them mount: a private key no other function may read.
    own_secrets: tuple[str, ...] = ()
    #: Who may call the route (``runtime.auth.Guard`` enforces it; the OpenAPI document and the
    #: authorization tests read it here); ``None`` for a function without a public route.
    access: Access | None = None
    #: A hand-written projector's catch-up (``"module:function"``, returning how many events it
    #: applied): the sweep runs it, as it catches up every declared projection, so what the
    #: broker lost or dead-lettered still reaches the read model.
    catch_up: str | None = None
    #: A hand-written HTTP function's body and answers, for the OpenAPI document.
    answers: Answers | None = None

    @property
    def signature_type(self) -> Literal["http", "cloudevent"]:
        http = (FunctionKind.COMMAND, FunctionKind.QUERY, FunctionKind.SINK)
        return "http" if self.kind in http else "cloudevent"

    @property
    def source(self) -> str:
        return self.module.replace(".", "/") + ".py"


def parse_duration(text: str) -> float:
    """Seconds of a simple ISO 8601 duration such as ``PT0.5S``, ``PT2S`` or ``PT1M``."""
    if not text.startswith("PT"):
        raise ValueError(f"unsupported duration {text!r}; use PT<n>S or PT<n>M")
    body, seconds = text[2:], 0.0
    for unit, factor in (("H", 3600.0), ("M", 60.0), ("S", 1.0)):
        if unit in body:
            number, body = body.split(unit, 1)
            seconds += float(number) * factor
    if body:
        raise ValueError(f"unsupported duration {text!r}")
    return seconds


#: A projector that sees an event before its predecessor fills the gap from its event store;
#: retries are for outages (the store or the read models unreachable), so they back off.
PROJECTION_DELIVERY = Delivery(retry=8, backoff_policy="exponential", backoff_delay="PT0.2S")


def kebab(name: str) -> str:
    """``AddCartItem`` or ``get_cart_details`` -> ``add-cart-item``, ``get-cart-details``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).replace("_", "-").lower()


def target_name(function: str) -> str:
    """The functions-framework target of a function: its name in snake case."""
    return function.replace("-", "_")


def query_function_name(context: BoundedContext, handler: str) -> str:
    """The function that serves a context's query ``handler``."""
    return f"{context.name}-{kebab(handler)}"


_PARAMETER = re.compile(r"\{\w+\}")


def location_function(context: BoundedContext) -> str | None:
    """The query function that serves the context's ``Location`` (its path parameter named as
    the query's own), or ``None`` when none does (the model check reports that)."""
    wanted = _PARAMETER.sub("{}", context.location)
    for route in context.queries:
        if _PARAMETER.sub("{}", route.path) == wanted:
            return query_function_name(context, route.handler)
    return None


def stream_filters(context: BoundedContext) -> dict[str, str]:
    """A Trigger on a context's whole stream: a schema bump or a new event changes no filter."""
    return {"source": context.source, "aggregatetype": context.aggregate_type}


def context_functions(context: BoundedContext, module: str) -> tuple[FunctionSpec, ...]:
    """Every function of a context, derived from its declaration; ``module`` serves them all
    (the functions-framework ``--source``: it builds a target on first access)."""

    def derived(
        name: str,
        kind: FunctionKind,
        how: str,
        *,
        route: Route | None = None,
        subscriptions: tuple[Subscription, ...] = (),
        secrets: tuple[str, ...] = (),
        access: Access | None = None,
    ) -> FunctionSpec:
        return FunctionSpec(
            name=name,
            kind=kind,
            context=context.name,
            module=module,
            target=target_name(name),
            route=route,
            subscriptions=subscriptions,
            derived=how,
            secrets=secrets,
            access=access,
        )

    commands = [
        derived(
            f"{context.name}-{kebab(c.command)}",
            FunctionKind.COMMAND,
            f"command:{c.command}",
            route=Route(c.method, context.routes + c.path),
            secrets=context.secret_variables,
            access=c.access,
        )
        for c in context.commands
    ]
    queries = [
        derived(
            query_function_name(context, q.handler),
            FunctionKind.QUERY,
            f"query:{q.handler}",
            route=Route("GET", context.routes + q.path),
            access=q.access,
        )
        for q in context.queries
    ]
    projectors = [
        derived(
            name,
            FunctionKind.PROJECTOR,
            f"projector:{name}",
            subscriptions=(Subscription(name, stream_filters(context), PROJECTION_DELIVERY),),
        )
        for name in context.projections
    ]
    admin = [
        derived(
            f"{context.name}-rebuild-projection",
            FunctionKind.COMMAND,
            "rebuild",
            route=Route("POST", context.routes + "/admin/rebuild-projection"),
            access="admin",
        ),
        derived(
            f"{context.name}-projection-lag",
            FunctionKind.QUERY,
            "lag",
            route=Route("GET", context.routes + "/admin/projections"),
            access="admin",
        ),
    ]
    return (*commands, *queries, *projectors, *(admin if context.projections else ()))


#: Where every context's routes start: ``/api/v1/<things>``; a later version of the API swaps
#: the version segment only.
API_VERSION_PREFIX = re.compile(r"^/api/v1(?=/|$)")


def versioned_queries(
    context: BoundedContext, module: str, version: str, handlers: tuple[str, ...]
) -> tuple[FunctionSpec, ...]:
    """The context's query routes of ``handlers`` served again under API ``version`` (``v2``):
    the original kept a few read routes in both versions with the same behaviour (reference
    §7.4), so each is the derived query function of the v1 row at ``/api/<version>/…``, with
    the v1 row's handler and access rule."""
    if not re.fullmatch(r"v([2-9]|[1-9][0-9]+)", version):
        raise ValueError(f"{context.name}: API version {version!r} is not v2 or later")
    if not API_VERSION_PREFIX.match(context.routes):
        raise ValueError(f"{context.name}: routes {context.routes!r} do not start with /api/v1")
    base = API_VERSION_PREFIX.sub(f"/api/{version}", context.routes)
    specs = []
    for handler in handlers:
        route = next((q for q in context.queries if q.handler == handler), None)
        if route is None:
            raise ValueError(f"{context.name}: no query route has the handler {handler!r}")
        name = f"{context.name}-{kebab(handler)}-{version}"
        specs.append(
            FunctionSpec(
                name=name,
                kind=FunctionKind.QUERY,
                context=context.name,
                module=module,
                target=target_name(name),
                route=Route("GET", base + route.path),
                derived=f"query:{handler}",
                access=route.access,
            )
        )
    return tuple(specs)

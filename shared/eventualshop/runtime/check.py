"""The model check: the declarations held against the domain they name, in milliseconds.

A declaration is data, and data drifts: a command type renamed, a route parameter that no command
field takes, an event added to an aggregate that no read model has thought about, a Trigger on
an event type nobody publishes. Each is found here, with a line naming the thing at fault,
instead of by an end-to-end test timing out. ``eventualshop check`` runs it; a unit test keeps
the registry passing it.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Iterable, Sequence
from types import ModuleType
from typing import Any

from pydantic import BaseModel

from eventualshop.kernel.aggregate import AggregateKind, AggregateState
from eventualshop.kernel.cloudevents import event_type_name
from eventualshop.kernel.declaration import BoundedContext
from eventualshop.kernel.messages import DomainEvent
from eventualshop.kernel.projection import Projection
from eventualshop.kernel.registry import EventRegistry
from eventualshop.runtime.registry import FunctionSpec, location_function

_PARAMETER = re.compile(r"\{(\w+)\}")
Resolve = Callable[[str], Any]


def _resolve(reference: str) -> Any:
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


def check(
    contexts: Sequence[BoundedContext],
    functions: Sequence[FunctionSpec],
    *,
    resolve: Resolve = _resolve,
    module: Callable[[str], ModuleType] = importlib.import_module,
) -> list[str]:
    """Every way the declarations disagree with the domain; empty when they agree.

    ``resolve`` (``"module:NAME"`` -> object) and ``module`` (name -> module) are the ways in,
    so a test can hand over an altered aggregate or read-model module.
    """
    problems: list[str] = []
    published: set[str] = set()
    for context in contexts:
        kind: AggregateKind[AggregateState] = resolve(context.aggregate)
        events = module(f"{context.package}.events")
        registries = [v for v in vars(events).values() if isinstance(v, EventRegistry)]
        published |= {
            event_type_name(context.name, t.event_type())
            for r in [*registries, kind.events]
            for t in r
        }
        problems += _aggregate(context, kind, events, registries)
        problems += _commands(context, kind, module(f"{context.package}.commands"))
        problems += _queries(context, module(f"{context.package}.queries"))
        problems += _projections(context, kind, module(f"{context.package}.read_models"))
    problems += _subscriptions(contexts, functions, published)
    return problems


def _aggregate(
    context: BoundedContext,
    kind: AggregateKind[AggregateState],
    events: ModuleType,
    registries: Iterable[EventRegistry],
) -> list[str]:
    where = f"{context.name}: aggregate {kind.name}"
    problems = []
    if kind.name != context.aggregate_type:
        problems.append(f"{where} is declared as aggregate type {context.aggregate_type!r}")
    if kind.context != context.name:
        problems.append(f"{where} says it belongs to context {kind.context!r}")
    registered = {t for registry in registries for t in registry} | set(kind.events)
    for value in vars(events).values():
        if (
            isinstance(value, type)
            and issubclass(value, DomainEvent)
            and value.__module__ == events.__name__
            and not value.__subclasses__()  # a base such as the context's event class
            and value not in registered
        ):
            problems.append(
                f"{context.name}: event {value.__name__} is defined in {events.__name__} "
                f"but in no event registry: it could not be decoded, and no projector hears it"
            )
    return problems


def _commands(
    context: BoundedContext, kind: AggregateKind[AggregateState], commands: ModuleType
) -> list[str]:
    problems = []
    declared = set()
    for route in context.commands:
        where = f"{context.name}: command {route.command} ({route.method} {route.path or '/'})"
        command = getattr(commands, route.command, None)
        if not (isinstance(command, type) and issubclass(command, BaseModel)):
            problems.append(f"{where}: no such command in {commands.__name__}")
            continue
        declared.add(command)
        if command not in kind.commands:
            problems.append(f"{where}: aggregate {kind.name} does not handle it")
        fields = {f.alias or name for name, f in command.model_fields.items()}
        wanted = [*_PARAMETER.findall(route.path), *route.query.values()]
        wanted += [route.body_field] if route.body_field else []
        for name in wanted:
            if name not in fields and _camel(name) not in fields:
                problems.append(f"{where}: {name!r} is not a field of {route.command}")
    for command in sorted(set(kind.commands) - declared, key=lambda c: c.__name__):
        problems.append(
            f"{context.name}: aggregate {kind.name} handles {command.__name__}, "
            "but no route declares it"
        )
    return problems


def _queries(context: BoundedContext, queries: ModuleType) -> list[str]:
    problems = []
    for route in context.queries:
        where = f"{context.name}: query {route.handler} (GET {route.path})"
        handler = getattr(queries, route.handler, None)
        if not callable(handler):
            problems.append(f"{where}: no such handler in {queries.__name__}")
            continue
        parameters = list(inspect.signature(handler).parameters)[1:]  # after the store
        given = {_snake(name) for name in _PARAMETER.findall(route.path)} | {"paging"}
        for name in _PARAMETER.findall(route.path):
            if _snake(name) not in parameters:
                problems.append(f"{where}: the handler takes no {_snake(name)!r} for {{{name}}}")
        for name in parameters:
            if name not in given:
                problems.append(f"{where}: the route gives no value for {name!r}")
    if context.commands and location_function(context) is None:
        problems.append(f"{context.name}: Location {context.location} is no query route")
    return problems


def _projections(
    context: BoundedContext, kind: AggregateKind[AggregateState], read_models: ModuleType
) -> list[str]:
    problems = []
    projections: dict[str, Projection] = {p.name: p for p in read_models.PROJECTIONS}
    stream = set(kind.events)
    for name in context.projections:
        projection = projections.get(name)
        where = f"{context.name}: projection {name}"
        if projection is None:
            problems.append(f"{where}: not in {read_models.__name__}.PROJECTIONS")
            continue
        if projection.aggregate_type != context.aggregate_type:
            problems.append(f"{where} reads {projection.aggregate_type}, not the context's stream")
        said = set(projection.handles) | set(projection.ignores)
        for event in sorted(stream - said, key=lambda e: e.__name__):
            problems.append(
                f"{where} neither handles nor ignores {event.__name__}: say which in "
                f"its handles or ignores"
            )
        for event in sorted(said - stream, key=lambda e: e.__name__):
            problems.append(f"{where} names {event.__name__}, which {kind.name} never raises")
        for event in sorted(set(projection.handles) & set(projection.ignores), key=str):
            problems.append(f"{where} both handles and ignores {event.__name__}")
    for name in sorted(set(projections) - set(context.projections)):
        problems.append(f"{context.name}: read model {name} is not declared: no projector feeds it")
    return problems


def _subscriptions(
    contexts: Sequence[BoundedContext], functions: Sequence[FunctionSpec], published: set[str]
) -> list[str]:
    streams = {(c.source, c.aggregate_type) for c in contexts}
    problems = []
    for spec in functions:
        for subscription in spec.subscriptions:
            where = f"{spec.name}: trigger {subscription.name}"
            filters = subscription.filters
            if "type" in filters and filters["type"] not in published:
                problems.append(f"{where} waits for {filters['type']}, which no context publishes")
            if "aggregatetype" in filters:
                stream = (filters.get("source"), filters["aggregatetype"])
                if stream not in streams:
                    problems.append(f"{where} listens to {stream}, which no context publishes")
            if not {"type", "aggregatetype"} & set(filters):
                problems.append(f"{where} filters on neither type nor aggregatetype")
    return problems


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()

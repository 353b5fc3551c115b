"""The functions-framework targets of a bounded context, built from its declaration.

A context writes no function file: its command, query and projector targets, and its rebuild
and lag functions, are the same few lines for every context, so they are built here from the
declaration and the context package's conventions (``commands``, ``queries``, ``read_models``).
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from uuid import UUID

from flask import Request, Response

from eventualshop.kernel.declaration import Access, BoundedContext, CommandRoute, QueryRoute
from eventualshop.kernel.paging import Paging
from eventualshop.runtime.auth import Guard, revoked_subject
from eventualshop.runtime.consumer import consumer
from eventualshop.runtime.http import (
    QueryAnswer,
    command_function,
    query_function,
    query_value,
    read_json_body,
)
from eventualshop.runtime.problems import ProblemError, problem
from eventualshop.runtime.registry import FunctionSpec, location_function

if TYPE_CHECKING:
    from eventualshop.runtime.parts import Parts

Target = Callable[..., Any]


def build(root: Parts, spec: FunctionSpec) -> Target:
    context = root.context(spec.context)
    how, _, what = (spec.derived or "").partition(":")
    if how == "command":
        return _command(root, spec, context, _declared(context.commands, "command", what))
    if how == "query":
        return _query(root, spec, context, _declared(context.queries, "handler", what))
    if how == "projector":
        return _projector(root, spec, context, what)
    if how == "rebuild":
        return _rebuild(root, context, spec.access or "admin")
    if how == "lag" and spec.route is not None:
        access = spec.access or "admin"
        return query_function(
            spec.route, lambda _ids, _paging: _lag(root, context), guard(root, context, access, "")
        )
    raise ValueError(f"function {spec.name!r}: cannot build {spec.derived!r}")


def _declared(routes: tuple[Any, ...], field: str, name: str) -> Any:
    return next(route for route in routes if getattr(route, field) == name)


def _command(
    root: Parts, spec: FunctionSpec, context: BoundedContext, route: CommandRoute
) -> Target:
    commands = importlib.import_module(f"{context.package}.commands")
    assert spec.route is not None
    return command_function(
        getattr(commands, route.command),
        spec.route,
        lambda: root.service(context.name),
        query=route.query,
        body_field=route.body_field,
        location=command_location(root, context),
        after_commit=root.relay_after_commit(context.name),
        authorize=guard(root, context, route.access, route.path),
    )


def command_location(root: Parts, context: BoundedContext) -> Callable[[], str]:
    """The ``Location`` of the context's commands (``{aggregateId}`` to fill in): its query's
    path, after the deployment's prefix (``location_prefix``: ``/function/<that query's
    function>`` on the OpenFaaS gateway), read when a command is answered, not at the start."""
    path = context.routes + context.location
    serving = location_function(context) or ""

    def location() -> str:
        return root.settings().location_prefix.replace("{function}", serving) + path

    return location


def _query(root: Parts, spec: FunctionSpec, context: BoundedContext, route: QueryRoute) -> Target:
    handler = getattr(importlib.import_module(f"{context.package}.queries"), route.handler)
    pages = "paging" in inspect.signature(handler).parameters

    def answer(ids: Mapping[str, UUID], paging: Paging) -> QueryAnswer:
        arguments: dict[str, Any] = {snake(name): value for name, value in ids.items()}
        if pages:
            arguments["paging"] = paging
        found: QueryAnswer = handler(root.read_model_store(), **arguments)
        return found

    assert spec.route is not None
    return query_function(spec.route, answer, guard(root, context, route.access, route.path))


def _projector(root: Parts, spec: FunctionSpec, context: BoundedContext, name: str) -> Target:
    def handle(event: Any) -> None:
        root.projector(context.name, name).handle(event)

    return consumer(spec, root.aggregate(context.name).events, handle, root.dead_letter_store)


def _rebuild(root: Parts, context: BoundedContext, access: Access) -> Target:
    """POST …/admin/rebuild-projection?name=<projection>|all: replay the event store into fresh
    read models and swap them in when complete; queries keep answering meanwhile."""
    from eventualshop.runtime import admin

    authorize = guard(root, context, access, "")

    def rebuild(request: Request) -> Response:
        if request.method != "POST":
            return problem(405, "Method not allowed", "use POST")
        try:
            authorize(request)({})
            read_json_body(request)  # no body is needed, but an oversized one is still refused
            name = (query_value(request, "name") or "").strip()
        except ProblemError as error:
            return error.response()
        if not name:
            return problem(
                400,
                "Invalid request",
                "name the projection to rebuild, or all",
                errors={"name": ["must not be empty"]},
            )
        known = admin.rebuild_names(root, context.name)
        if name not in known:
            return problem(
                400,
                "Invalid request",
                f"unknown projection {name!r}",
                errors={"name": [f"must be one of: {', '.join(known)}"]},
            )
        reports = admin.rebuild(root, context.name, [name])
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

    return rebuild


def _lag(root: Parts, context: BoundedContext) -> dict[str, object]:
    from eventualshop.runtime import admin

    return {
        "projections": [
            {
                "projection": item.projection,
                "lastAppliedPosition": item.last_applied_position,
                "lastWrittenPosition": item.last_written_position,
                "aggregatesBehind": item.aggregates_behind,
                "eventsBehind": item.events_behind,
            }
            for item in admin.lag(root, context.name)
        ]
    }


def snake(name: str) -> str:
    """``cartId`` -> ``cart_id``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def guard(root: Parts, context: BoundedContext, access: Access, path: str) -> Guard:
    """The route's access rule (``runtime.auth``); an owner is read from the event store, so a
    resource created a moment ago is already its owner's."""
    parameters = re.findall(r"\{(\w+)\}", path)
    owner = resolve(context.owner) if context.owner else None

    def owner_of(aggregate_id: UUID) -> UUID | None:
        state = root.service(context.name).repository.load(aggregate_id)
        if state is None:
            return None
        found: UUID = owner(state) if owner is not None else state.id
        return found

    return Guard(
        access,
        owner_field=context.owner_field,
        aggregate_parameter=parameters[0] if parameters else None,
        owner_of=owner_of,
        revoked=lambda user: revoked_subject(root.document_exists, user),
    )


def resolve(reference: str) -> Any:
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)

"""The OpenAPI 3.1 document of every HTTP function, assembled from the declarations and the
pydantic command models (pydantic writes the JSON Schemas; this module only places them).

A route that the registry declares is in the document by construction, so a client, a gateway
and schemathesis all see the same contract the functions enforce. Query answers are read-model
documents, which have no pydantic model: they are described as objects, and lists by their page.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from flask import Flask, Response
from pydantic.json_schema import models_json_schema

from eventualshop.kernel.paging import MAX_LIMIT
from eventualshop.runtime.http import MAX_IDEMPOTENCY_KEY
from eventualshop.runtime.problems import PROBLEM_JSON
from eventualshop.runtime.registry import Answers, FunctionKind, FunctionSpec

if TYPE_CHECKING:
    from pydantic import BaseModel

    from eventualshop.kernel.declaration import BoundedContext, CommandRoute
    from eventualshop.runtime.root import Root

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{model}"
_PARAMETER = re.compile(r"\{([A-Za-z]+)\}")

PROBLEM: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; ``errors`` names each field at fault.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "a stable code for a domain rejection"},
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["type", "title", "status", "detail"],
}
ACCEPTED: dict[str, Any] = {
    "type": "object",
    "properties": {
        "aggregateId": {"type": "string", "format": "uuid"},
        "commandId": {"type": "string"},
        "version": {"type": "integer", "minimum": 0},
        "events": {"type": "array", "items": {"type": "string"}},
        "duplicate": {"type": "boolean"},
    },
    "required": ["aggregateId", "commandId", "version", "events", "duplicate"],
}
PAGE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "items": {"type": "array", "items": {"type": "object"}},
        "page": {
            "type": "object",
            "properties": {
                "current": {"type": "integer", "minimum": 1},
                "size": {"type": "integer", "minimum": 0},
                "hasPrevious": {"type": "boolean"},
                "hasNext": {"type": "boolean"},
            },
            "required": ["current", "size", "hasPrevious", "hasNext"],
        },
    },
    "required": ["items", "page"],
}
REBUILT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "rebuilt": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "projection": {"type": "string"},
                    "events": {"type": "integer"},
                    "documents": {"type": "integer"},
                    "lastPosition": {"type": "integer"},
                },
            },
        }
    },
    "required": ["rebuilt"],
}
LAG: dict[str, Any] = {
    "type": "object",
    "properties": {
        "projections": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "projection": {"type": "string"},
                    "lastAppliedEventId": {"type": ["string", "null"]},
                    "lastAppliedPosition": {"type": "integer"},
                    "lastWrittenPosition": {"type": "integer"},
                    "behind": {"type": "integer"},
                },
            },
        }
    },
    "required": ["projections"],
}

#: What any command answers besides 202 (http.py: command_function).
COMMAND_PROBLEMS = {
    "400": "a field, a path parameter or a header is invalid (``errors`` names it)",
    "404": "no such aggregate",
    "409": "rejected by the domain (``code``) or a write conflict after the retries",
    "413": "the body is over 64 KiB",
    "415": "the body is not JSON",
    "422": "the Idempotency-Key was first used with another request",
    "503": "a store the function needs does not answer; retry after ``Retry-After``",
}
#: The one security scheme: Identity's access token (``runtime/auth.py``).
BEARER = "bearer"
SECURITY_SCHEMES: dict[str, Any] = {
    BEARER: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "the accessToken of POST /api/v1/identities/sign-in (EdDSA, verified "
        "with GET /.well-known/jwks.json). Not needed with EVENTUALSHOP_AUTH=off",
    }
}
#: What a route that needs a token may answer besides its own (``runtime.auth.Guard``).
UNAUTHENTICATED = (
    "no token, or a bad one (expired, forged, another issuer or audience), or the token of a "
    "deleted user; ``WWW-Authenticate: Bearer``"
)
FORBIDDEN = {
    "owner": "the resource is another user's (an admin may)",
    "admin": "only an admin may",
}
QUERY_PROBLEMS = {
    "400": "a path parameter or the paging is invalid",
    "404": "nothing there",
    "503": "the read-model store does not answer; retry after ``Retry-After``",
}


def document(root: Root, *, title: str = "EventualShop", version: str = "1") -> dict[str, Any]:
    """The whole API: one operation per routed function, in the registry's order."""
    routed = [spec for spec in root.functions if spec.route is not None]
    models = _command_models(root, routed)
    schemas = _schemas(models.values())
    paths: dict[str, dict[str, Any]] = {}
    for spec in routed:
        assert spec.route is not None
        operation = _operation(root, spec, models, schemas)
        paths.setdefault(spec.route.path, {})[spec.route.method.lower()] = operation
    schemas = {k: v for k, v in schemas.items() if not k.startswith("@")}
    schemas |= {"Problem": PROBLEM, "CommandAccepted": ACCEPTED, "Page": PAGE}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": title,
            "version": version,
            "description": "Commands answer 202 and a Location to poll; queries read the read "
            "models, which follow the commands asynchronously.",
        },
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def _command_models(root: Root, specs: Sequence[FunctionSpec]) -> dict[str, type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    for spec in specs:
        how, _, what = (spec.derived or "").partition(":")
        if how == "command":
            context = root.context(spec.context)
            module = importlib.import_module(f"{context.package}.commands")
            found[spec.name] = getattr(module, what)
    return found


def _schemas(models: Any) -> dict[str, Any]:
    """The schemas of the command models, also under each model's class name: two contexts may
    name a command alike (an address command), and pydantic then keys them by module."""
    unique = list(dict.fromkeys(models))
    refs, top = models_json_schema(
        [(model, "validation") for model in unique], ref_template=REF, by_alias=True
    )
    schemas: dict[str, Any] = top.get("$defs", {})
    named = {
        f"{model.__module__}.{model.__qualname__}": schemas[
            refs[(model, "validation")]["$ref"].rsplit("/", 1)[-1]
        ]
        for model in unique
    }
    return {**schemas, **{f"@{name}": schema for name, schema in named.items()}}


def _operation(
    root: Root,
    spec: FunctionSpec,
    models: dict[str, type[BaseModel]],
    schemas: dict[str, Any],
) -> dict[str, Any]:
    assert spec.route is not None
    context = root.contexts.get(spec.context)
    path_names = _PARAMETER.findall(spec.route.path)
    operation: dict[str, Any] = {
        "operationId": spec.name,
        "tags": [spec.context],
        "parameters": [_path_parameter(name) for name in path_names],
    }
    how, _, what = (spec.derived or "").partition(":")
    if how == "command" and context is not None:
        route = next(r for r in context.commands if r.command == what)
        model = models[spec.name]
        schema = schemas[f"@{model.__module__}.{model.__qualname__}"]
        _command(operation, route, schema, path_names, context)
    elif how == "query" and context is not None:
        _query(operation, context, what)
    elif how == "rebuild":
        operation["summary"] = "rebuild read models into fresh collections, then swap them in"
        operation["parameters"].append(
            {"name": "name", "in": "query", "required": True, "schema": {"type": "string"}}
        )
        operation["responses"] = _responses(
            "200",
            REBUILT,
            {
                "400": "unknown projection",
                "413": "the body is over 64 KiB",
                "415": "the body is not JSON",
                "503": COMMAND_PROBLEMS["503"],
            },
        )
    elif how == "lag":
        operation["summary"] = "how far each read model is behind the event store"
        operation["responses"] = _responses("200", LAG, {"503": QUERY_PROBLEMS["503"]})
    elif spec.answers is not None:  # a hand-written HTTP function, which says what it answers
        _hand_written(operation, spec.answers, schemas)
    else:
        operation["responses"] = {"default": {"description": "see the function"}}
    accepts_commands = how == "command" or (
        spec.answers is not None and spec.answers.result == "CommandAccepted"
    )
    if spec.kind is FunctionKind.COMMAND and accepts_commands:
        operation["parameters"].append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "a repeat of the same request gets the first answer",
                "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY},
            }
        )
    _secure(operation, spec)
    return operation


def _hand_written(operation: dict[str, Any], answers: Answers, schemas: dict[str, Any]) -> None:
    """A hand-written function's body and answers, from its :class:`Answers`; the models'
    schemas join the document's (``schemas``), as a command's do."""
    for name, description in answers.query:
        operation["parameters"].append(
            {
                "name": name,
                "in": "query",
                "required": True,
                "description": description,
                "schema": {"type": "string"},
            }
        )
    if answers.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": _model_schema(answers.body, schemas, "validation")}
            },
        }
    problems = dict(answers.problems)
    if answers.result is None:
        operation["responses"] = _responses(answers.success, {}, problems)
        del operation["responses"][answers.success]["content"]  # e.g. 204: no body
        return
    result = (
        {"$ref": REF.format(model=answers.result)}
        if ":" not in answers.result
        else _model_schema(answers.result, schemas, "serialization")
    )
    operation["responses"] = _responses(answers.success, result, problems)


def _model_schema(
    name: str, schemas: dict[str, Any], mode: Literal["validation", "serialization"]
) -> dict[str, Any]:
    """A reference to the pydantic model ``"module:Model"``, its schema (as it is read, or as it
    is written) added to ``schemas``."""
    module, _, model_name = name.partition(":")
    model: type[BaseModel] = getattr(importlib.import_module(module), model_name)
    found = model.model_json_schema(by_alias=True, ref_template=REF, mode=mode)
    schemas.update(found.pop("$defs", {}))
    schemas[model.__name__] = found
    return {"$ref": REF.format(model=model.__name__)}


def _secure(operation: dict[str, Any], spec: FunctionSpec) -> None:
    """The declared access (``FunctionSpec.access``) as the operation's ``security`` and its
    401 and 403 answers; an anonymous route (or one without a declared access) names none."""
    if spec.access in (None, "anonymous"):
        return
    operation["security"] = [{BEARER: []}]
    operation["x-access"] = spec.access
    responses: dict[str, Any] = operation["responses"]
    problem = {PROBLEM_JSON: {"schema": {"$ref": REF.format(model="Problem")}}}
    responses.setdefault(
        "401",
        {
            "description": UNAUTHENTICATED,
            "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}},
            "content": problem,
        },
    )
    if spec.access in FORBIDDEN:
        responses.setdefault("403", {"description": FORBIDDEN[spec.access], "content": problem})


def _path_parameter(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "format": "uuid"},
    }


def _command(
    operation: dict[str, Any],
    route: CommandRoute,
    model: dict[str, Any],
    path_names: Sequence[str],
    context: BoundedContext,
) -> None:
    properties: dict[str, Any] = dict(model.get("properties", {}))
    required = set(model.get("required", []))
    for client_name, field in route.query.items():
        operation["parameters"].append(
            {
                "name": client_name,
                "in": "query",
                "required": field in required,
                "schema": properties[field],
            }
        )
    taken = {*path_names, *route.query.values()}
    if route.body_field:
        body: dict[str, Any] | None = properties[route.body_field]
    else:
        rest = {name: value for name, value in properties.items() if name not in taken}
        body = None
        if rest:
            body = copy.deepcopy({k: v for k, v in model.items() if k != "title"})
            body["properties"] = rest
            body["required"] = [name for name in model.get("required", []) if name in rest]
            if not body["required"]:
                del body["required"]
    operation["summary"] = route.command
    if body is not None:
        operation["requestBody"] = {
            "required": bool(route.body_field) or "required" in body,
            "content": {"application/json": {"schema": body}},
        }
    responses = _responses("202", {"$ref": REF.format(model="CommandAccepted")}, COMMAND_PROBLEMS)
    responses["202"]["headers"] = {
        "Location": {
            "description": f"the read model to poll ({context.routes}{context.location})",
            "schema": {"type": "string"},
        }
    }
    operation["responses"] = responses


def _query(operation: dict[str, Any], context: BoundedContext, handler_name: str) -> None:
    handler = getattr(importlib.import_module(f"{context.package}.queries"), handler_name)
    operation["summary"] = handler_name.replace("_", " ")
    if "paging" in inspect.signature(handler).parameters:
        operation["parameters"] += [
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 10},
            },
            {
                "name": "offset",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 0, "maximum": 10_000_000, "default": 0},
            },
        ]
        answer: dict[str, Any] = {"$ref": REF.format(model="Page")}
    else:
        answer = {"type": "object", "description": "the read-model document"}
    operation["responses"] = _responses("200", answer, QUERY_PROBLEMS)


def _responses(status: str, schema: dict[str, Any], problems: dict[str, str]) -> dict[str, Any]:
    responses: dict[str, Any] = {
        status: {"description": "done", "content": {"application/json": {"schema": schema}}}
    }
    for code, description in problems.items():
        responses[code] = {
            "description": description,
            "content": {PROBLEM_JSON: {"schema": {"$ref": REF.format(model="Problem")}}},
        }
    return responses


#: The documentation page: self-contained (no script or style from a CDN), so it works offline
#: and behind a cluster's egress rules. It reads ``openapi.json`` beside it.
DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>EventualShop API</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem}
h2{border-bottom:1px solid #ccc}.op{margin:1rem 0;padding:.5rem 1rem;border-left:4px solid #888}
.get{border-color:#2a7}.post{border-color:#27c}.put{border-color:#c82}.delete{border-color:#c33}
code,pre{background:#f4f4f4;padding:0 .2rem}pre{padding:.5rem;overflow:auto;font-size:13px}
</style></head><body><h1>EventualShop API</h1>
<p>The OpenAPI 3.1 document: <a href="openapi.json">openapi.json</a>.</p><div id="api"></div>
<script>
const ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"};
const esc = s => String(s).replace(/[&<>"]/g, c => ENTITIES[c]);
fetch("openapi.json").then(r => r.json()).then(doc => {
  let html = "";
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      html += `<div class="op ${method}"><h3><code>${method.toUpperCase()} ${esc(path)}</code> `
        + `${esc(op.summary || "")}</h3><p>function <code>${esc(op.operationId)}</code></p>`;
      for (const p of op.parameters || [])
        html += `<div>${esc(p.in)} <code>${esc(p.name)}</code>${p.required ? " (required)" : ""}`
          + ` <code>${esc(JSON.stringify(p.schema))}</code></div>`;
      if (op.requestBody)
        html += `<details><summary>body</summary><pre>${esc(JSON.stringify(
          op.requestBody.content["application/json"].schema, null, 2))}</pre></details>`;
      const answers = Object.entries(op.responses).map(
        ([code, r]) => `<code title="${esc(r.description)}">${code}</code>`);
      html += "<div>answers: " + answers.join(" ") + "</div></div>";
    }
  }
  html += "<h2>Schemas</h2>";
  for (const [name, schema] of Object.entries(doc.components.schemas))
    html += `<details><summary><code>${esc(name)}</code></summary><pre>`
      + `${esc(JSON.stringify(schema, null, 2))}</pre></details>`;
  document.getElementById("api").innerHTML = html;
});
</script></body></html>
"""


def add_api_document(app: Flask, root: Root) -> None:
    """``GET /openapi.json`` (built once, on first request) and ``GET /docs``."""
    built: list[dict[str, Any]] = []

    def api() -> Response:
        if not built:
            built.append(document(root))
        return Response(json.dumps(built[0]), mimetype="application/json")

    def docs() -> Response:
        return Response(DOCS_PAGE, mimetype="text/html")

    app.add_url_rule("/openapi.json", endpoint="openapi", view_func=api, methods=["GET"])
    app.add_url_rule("/docs", endpoint="docs", view_func=docs, methods=["GET"])

"""The one entry point every deployed function starts from: functions-framework's app for the
target, plus the health paths its platform probes.

``gunicorn 'eventualshop.runtime.entry:create_app()'`` in the image (FUNCTION_SOURCE,
FUNCTION_TARGET and FUNCTION_SIGNATURE_TYPE say which function), and ``function/func.py`` of a
generated func project, both come here, so no target carries health code of its own.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from eventualshop.runtime.start import quiet_start

with quiet_start():  # the health checks import the settings, pydantic and Flask (start.py)
    from eventualshop.runtime import health
    from eventualshop.runtime.deliveries import require_on_functions
    from eventualshop.runtime.event_requests import answer_as_a_function
    from eventualshop.runtime.logs import configure_logging

from eventualshop.runtime.registry import FunctionKind

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

    from flask import Flask, Response

    from eventualshop.runtime.registry import FunctionSpec
    from eventualshop.runtime.root import Root

log = logging.getLogger("eventualshop.entry")


class EntryError(RuntimeError):
    """The source module serves no registered function under that target."""


def create_app(
    target: str | None = None, source: str | None = None, signature_type: str | None = None
) -> Flask:
    target = target or os.environ.get("FUNCTION_TARGET", "")
    source = source or os.environ.get("FUNCTION_SOURCE", "functions/main.py")
    # Every function logs one JSON object per line, whatever its source file: only
    # functions/main.py's targets installed the handler themselves.
    configure_logging()
    with quiet_start():  # functions-framework, the source and its target: built once
        import functions_framework

        app: Flask = functions_framework.create_app(  # type: ignore[no-untyped-call]
            target, source, signature_type
        )
    # An empty path (gunicorn's for the request target http://host) was a 308 HTML page to /,
    # its Location built from the Host header the client sent. / is the only rule ending with
    # a slash, and the matcher reads strict_slashes on every request, so it holds for the rules
    # already added: "" is / and the target answers it. A // was no redirect here (werkzeug
    # strips leading slashes, /<path:path> takes the rest), unlike on serve (runtime/local.py);
    # merge_slashes off keeps a rule added later from making it one.
    app.url_map.merge_slashes = False
    for rule in app.url_map.iter_rules():
        if rule.rule.endswith("/"):
            rule.strict_slashes = False
    # functions-framework loaded the source under its file's stem; its composition root is the
    # one the target was built from (a platform module imports the shared one).
    module = sys.modules.get(Path(source).stem)
    root = _loaded_root(module, Path(source).stem)
    spec = spec_of(root, target, source)
    health.install(app, root, spec, dict(os.environ))
    # Where EVENTUALSHOP_DELIVERY_KEY is set (OpenFaaS's stack), a Trigger's function and the
    # sink take a POST only with it: the gateway answers /function/<name> to anyone.
    require_on_functions(app, root, spec)
    # What a target lets escape is a problem, as on `serve`: not Flask's HTML 500 with a
    # traceback of many lines, nor functions-framework's 400 page quoting the request.
    answer_as_a_function(app, spec.signature_type)
    if spec.kind is FunctionKind.SCHEDULED:
        _tick_on_a_plain_post(app, spec, getattr(module, target))
    app.extensions["eventualshop"] = root  # whoever holds the app can release its stores
    # A misconfigured function starts anyway, unready, its probe and one log line saying why:
    # a process that failed to boot would say it in a traceback, restarted in a loop.
    invalid = root.settings_problem()
    if invalid is not None:
        log.error("function %s is not ready: %s", spec.name, invalid)
        return app
    missing = health.missing_configuration(
        root.settings(), health.needs(root, spec, os.environ), dict(os.environ)
    )
    if missing:
        log.error(health.configuration_line(spec, missing))
        return app
    wrong = health.unusable_setting(root, spec)
    if wrong is not None:
        log.error("function %s is not ready: %s", spec.name, wrong)
    return app


def _tick_on_a_plain_post(app: Flask, spec: FunctionSpec, target: Callable[[None], int]) -> None:
    """A scheduled function also runs on a POST that is no CloudEvent. Knative's PingSource
    sends a CloudEvent, which functions-framework hands the target; OpenFaaS's cron-connector
    posts an empty body without a header, which functions-framework refused (415), so on
    OpenFaaS no sweep ran. Its work carries nothing from the request either way."""
    from flask import jsonify, request

    def tick() -> Response | None:
        if request.method != "POST" or request.path != "/":
            return None
        if "ce-specversion" in request.headers or request.mimetype.startswith(
            "application/cloudevents"
        ):
            return None  # binary or structured mode: the CloudEvent path, as before
        return jsonify({"function": spec.name, "done": target(None)})

    app.before_request(tick)


def root_of(app: Flask) -> Root:
    """The composition root an app of :func:`create_app` serves from."""
    root: Root = app.extensions["eventualshop"]
    return root


def _loaded_root(module: ModuleType | None, name: str) -> Root:
    found = getattr(module, "ROOT", None)
    if found is None:
        raise EntryError(f"the function source {name!r} has no composition root named ROOT")
    root: Root = found
    return root


def spec_of(root: Root, target: str, source: str) -> FunctionSpec:
    """The registered function that ``source`` serves under ``target``."""
    wanted = Path(source).as_posix()
    for spec in root.functions:
        if spec.target == target and wanted.endswith(spec.source):
            return spec
    raise EntryError(f"no registered function is served by {source} under the target {target!r}")

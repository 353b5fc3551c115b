"""Liveness and readiness of one deployed function, on the paths every platform probes.

func and Knative probe ``/health/liveness`` and ``/health/readiness``, OpenFaaS ``/_/health``
and ``/_/ready``, and older manifests ``/healthz``. Liveness says only that the process answers
(restarting a pod cures no database outage). Readiness says that *this* function can do its work:
its configuration names what it needs (outside the embedded default no store silently becomes an
SQLite file in the pod) and the stores it depends on answer within a bounded time.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from flask import Flask, Response

from eventualshop.kernel.environment import is_set
from eventualshop.runtime.registry import FunctionKind, FunctionSpec
from eventualshop.runtime.settings import PREFIX, Settings

if TYPE_CHECKING:
    from eventualshop.runtime.root import Root

log = logging.getLogger("eventualshop.health")

LIVENESS_PATHS = ("/health/liveness", "/_/health", "/healthz")
READINESS_PATHS = ("/health/readiness", "/_/ready")
#: A readiness probe must answer before the kubelet's (1 s default) or OpenFaaS's timeout gives
#: up: a store that has not answered by then counts as unreachable.
CHECK_SECONDS = 0.8
ENV_PREFIX = PREFIX


@dataclass(frozen=True, slots=True)
class Needs:
    """What a function depends on, by the kind of work it does."""

    event_stores: tuple[str, ...] = ()  # the contexts whose event store it reads or appends to
    read_models: bool = False
    publishes: bool = False
    dead_letters: bool = False
    secrets: tuple[str, ...] = ()  # environment variables of its context's secret settings
    #: A route only some callers may use: it checks their tokens against the public keys.
    verifies_tokens: bool = False


def needs(root: Root, spec: FunctionSpec, environ: Mapping[str, str]) -> Needs:
    need = _needs(root, spec)
    if spec.route is not None and spec.access not in (None, "anonymous"):
        # With authorization on, a token is refused at once when its user was deleted: every
        # request reads the revocations in the read-model store, so without it the check would
        # pass everyone.
        return replace(
            need,
            verifies_tokens=True,
            read_models=need.read_models or _auth_on(_auth_values(environ)),
        )
    return need


def _needs(root: Root, spec: FunctionSpec) -> Needs:
    how = (spec.derived or "").partition(":")[0]
    own = (spec.context,) if spec.context in root.contexts else ()
    secrets = spec.secrets
    if how == "command":
        return Needs(event_stores=own, publishes=True, secrets=secrets)
    if how == "query":
        return Needs(read_models=True)
    if how in ("projector", "rebuild", "lag"):
        # A projector fills gaps from its own context's event store.
        return Needs(event_stores=own, read_models=True)
    if spec.kind is FunctionKind.SCHEDULED:  # the outbox sweep: every context's outbox
        return Needs(event_stores=tuple(root.contexts), publishes=True)
    if spec.kind is FunctionKind.SINK:
        return Needs(dead_letters=True)
    return Needs(event_stores=own, read_models=True, publishes=True, secrets=secrets)


def missing_configuration(config: Settings, need: Needs, environ: dict[str, str]) -> list[str]:
    """The environment variables this function needs and lacks; none for the embedded default
    (in-process broker: one process on a laptop, where SQLite files are the point)."""
    if config.broker == "inprocess":
        return []
    missing: list[str] = []
    # A context's own store (EVENTUALSHOP_<CONTEXT>_EVENT_STORE_URL) serves it; the dead
    # letters live in the shared one.
    stores = [c for c in need.event_stores if not config.own_event_store(c)]
    if (stores or need.dead_letters) and not config.event_store_url:
        missing.append(f"{ENV_PREFIX}EVENT_STORE_URL")
    if need.read_models and not config.read_model_url:
        missing.append(f"{ENV_PREFIX}READ_MODEL_URL")
    if need.publishes and config.broker == "knative" and not config.knative_sink:
        missing.append("K_SINK")
    if (
        need.publishes
        and config.broker == "rabbitmq"
        and "rabbitmq_url" not in config.model_fields_set
    ):
        missing.append(f"{ENV_PREFIX}RABBITMQ_URL")
    missing.extend(name for name in need.secrets if not is_set(environ, name))
    if need.verifies_tokens and _needs_public_keys(environ):
        # Without them the function would verify with a key of its own making and refuse every
        # token Identity signs.
        missing.append(f"{ENV_PREFIX}AUTH_JWKS")
    return missing


def _auth_values(environ: Mapping[str, str]) -> Mapping[str, object]:
    """Which authorization settings are set (a file that cannot be read counts as set: the
    settings' own check refuses it, naming it)."""
    from eventualshop.runtime.auth import AuthSettings

    return AuthSettings.from_environment_values(environ)


def _auth_on(values: Mapping[str, object]) -> bool:
    return str(values.get("auth", "on")).lower() != "off"


def _needs_public_keys(environ: dict[str, str]) -> bool:
    values = _auth_values(environ)
    keys = ("auth_jwks", "auth_signing_key", "auth_signing_key_file")
    return _auth_on(values) and not any(values.get(key) for key in keys)


def unreachable(root: Root, need: Needs, *, seconds: float = CHECK_SECONDS) -> list[str]:
    """The stores this function depends on that did not answer one cheap read in time."""
    checks: list[tuple[str, Callable[[], object]]] = [
        (f"event store of {context}", _last_position(root, context))
        for context in need.event_stores
    ]
    if need.read_models:
        checks.append(("read-model store", lambda: root.read_model_store().get("readiness", "_")))
    if need.dead_letters:
        checks.append(("dead-letter store", lambda: root.dead_letter_store().list(limit=1)))
    # All at once, under one deadline: one after another, a function that needs its event store
    # and the read models took up to twice ``seconds``, past the probe's own timeout (Knative's
    # is 1 s), so a slow first connect failed the probe and put off the next by its period.
    running = [(name, _CHECKS.start(root, name, check)) for name, check in checks]
    deadline = time.monotonic() + seconds
    return [
        name for name, found in running if not found.answered(max(0.0, deadline - time.monotonic()))
    ]


def _last_position(root: Root, context: str) -> Callable[[], object]:
    return lambda: root.event_store(context).last_position()


class _Checks:
    """One check per store in flight at a time, on a daemon thread: a connect that hangs must
    neither hang the probe nor keep the process from exiting, and probes every few seconds
    must not pile up threads behind it. A check still running (a first open that migrates the
    schema, say) is waited on again by the next probe instead of being started twice."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[tuple[int, str], _Check] = {}

    def start(self, root: Root, name: str, check: Callable[[], object]) -> _Check:
        """The check of ``name`` in flight, or a new one if none is."""
        key = (id(root), name)
        with self._lock:
            found = self._running.get(key)
            if found is None or found.done.is_set():
                found = self._running[key] = _Check(check)
        return found


class _Check:
    def __init__(self, check: Callable[[], object]) -> None:
        self.done = threading.Event()
        self.failed: BaseException | None = None
        self._check = check
        threading.Thread(target=self._run, name="eventualshop-readiness", daemon=True).start()

    def answered(self, seconds: float) -> bool:
        """Whether the check succeeded within ``seconds`` (from now)."""
        return self.done.wait(seconds) and self.failed is None

    def _run(self) -> None:
        try:
            self._check()
        except Exception as error:
            self.failed = error
        finally:
            self.done.set()


_CHECKS = _Checks()


def readiness(
    root: Root, spec: FunctionSpec, environ: dict[str, str]
) -> tuple[int, dict[str, object]]:
    need = needs(root, spec, environ)
    invalid = root.settings_problem()
    if invalid is not None:
        return 503, {"status": "misconfigured", "function": spec.name, "invalid": [invalid]}
    missing = missing_configuration(root.settings(), need, environ)
    if missing:
        # Configuration first: probing stores that are not configured would open SQLite files.
        return 503, {"status": "misconfigured", "function": spec.name, "set": missing}
    wrong = unusable_setting(root, spec)
    if wrong is not None:
        return 503, {"status": "misconfigured", "function": spec.name, "invalid": [wrong]}
    down = unreachable(root, need)
    if down:
        return 503, {"status": "unavailable", "function": spec.name, "unreachable": down}
    return 200, {"status": "ready", "function": spec.name}


def unusable_setting(root: Root, spec: FunctionSpec) -> str | None:
    """A setting present but unusable beyond the platform's own: its context's, or its keys'."""
    return context_problem(root, spec) or keys_problem(spec)


def context_problem(root: Root, spec: FunctionSpec) -> str | None:
    """What is wrong with the settings of the function's own context (``EVENTUALSHOP_IDENTITY_…``
    out of range, say): the check its first request would otherwise make, answering 503. Only a
    function whose requests run its context's ``configure`` hook is asked: a command, or a
    hand-written command or saga step (each builds the context's application service). A query
    or a projector never reads those settings, nor gets the context's secrets."""
    how = (spec.derived or "").partition(":")[0]
    builds_service = how == "command" or (
        spec.derived is None and spec.kind in (FunctionKind.COMMAND, FunctionKind.SAGA)
    )
    if not builds_service or spec.context not in root.contexts:
        return None
    try:
        return root.context_problem(spec.context)
    except Exception:  # a fault of ours, not a setting: its traceback, and the function unready
        log.exception("function %s: configuring %s failed", spec.name, spec.context)
        return f"configuring {spec.context} failed (the function's log has the traceback)"


def keys_problem(spec: FunctionSpec) -> str | None:
    """What is wrong with the keys an HTTP function checks tokens (or Identity signs them) with:
    a JWKS or a signing key it could not use would refuse every token or fail every sign-in."""
    if spec.route is None:
        return None
    from eventualshop.runtime.auth import keys_problem as problem

    return problem()


def configuration_line(spec: FunctionSpec, missing: Sequence[str]) -> str:
    """The one log line a misconfigured function writes at start."""
    return f"function {spec.name} is not ready: set {', '.join(missing)}"


def install(app: Flask, root: Root, spec: FunctionSpec, environ: dict[str, str]) -> None:
    """Add the probe paths to a function's app (static rules win over the function's catch-all
    ``/<path:path>``, so the function itself never sees them)."""

    def live() -> Response:
        return _json(200, {"status": "alive", "function": spec.name})

    def ready() -> Response:
        status, body = readiness(root, spec, environ)
        return _json(status, body, retry=status == 503)

    for path in LIVENESS_PATHS:
        app.add_url_rule(path, endpoint=f"health:{path}", view_func=live, methods=["GET"])
    for path in READINESS_PATHS:
        app.add_url_rule(path, endpoint=f"health:{path}", view_func=ready, methods=["GET"])


def _json(status: int, body: dict[str, object], *, retry: bool = False) -> Response:
    headers = {"Retry-After": "5", "Cache-Control": "no-store"} if retry else {}
    return Response(json.dumps(body), status=status, mimetype="application/json", headers=headers)

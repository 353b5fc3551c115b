"""The delivery key: what an event must carry to reach a CloudEvent function or the dead-letter
sink over HTTP.

Those functions believe what they are given: a projector writes into the read model whatever an
event says, the sink keeps a letter an operator may replay. Knative reaches them from its Broker
only (their Services are cluster-local), but ``serve`` answers ``POST /functions/<name>`` on the
API's own port, and the OpenFaaS gateway answers ``/function/<name>`` for every function: there
anyone could have had a read model show what no aggregate raised, or kept a dead letter no
Trigger gave up on. So every such POST carries ``Authorization: Bearer <key>``, which
``eventualshop dispatch`` sends, and one without it is a 401 before its body is read.

The key is ``EVENTUALSHOP_DELIVERY_KEY`` (or its ``_FILE``); unset, ``serve`` and ``dispatch``
share one generated in the data folder on first use (``delivery.key``, mode 0600), as the
embedded shop keeps its other keys. A deployed function checks it only where it is set and its
events come from the RabbitMQ dispatcher: a Knative Broker cannot add a header.
"""

from __future__ import annotations

import errno
import hmac
from pathlib import Path
from typing import TYPE_CHECKING

from eventualshop.kernel.environment import kept_key
from eventualshop.runtime.problems import problem
from eventualshop.runtime.registry import FunctionKind
from eventualshop.runtime.settings import DELIVERY_KEY_FORM

if TYPE_CHECKING:
    from flask import Flask, Request, Response

    from eventualshop.runtime.registry import FunctionSpec
    from eventualshop.runtime.root import Root
    from eventualshop.runtime.settings import Settings

KEPT_KEY_FILE = "delivery.key"
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="eventualshop-deliveries"'}


def kept_key_path(config: Settings) -> Path:
    """Where the data folder keeps the generated key."""
    return Path(config.data_dir) / KEPT_KEY_FILE


def delivery_key(config: Settings) -> str:
    """The key deliveries carry: the configured one, else the one kept in the data folder
    (made on first use)."""
    if config.delivery_key is not None:
        return config.delivery_key.get_secret_value()
    path = kept_key_path(config)
    key = kept_key(path).decode("utf-8", "replace")
    if not DELIVERY_KEY_FORM.fullmatch(key):  # a file edited by hand: never sent nor accepted
        raise OSError(errno.EINVAL, "holds no usable delivery key (delete it)", str(path))
    return key


def authorization(key: str) -> dict[str, str]:
    """The header a delivery carries."""
    return {"Authorization": f"Bearer {key}"}


def refusal(request: Request, key: str) -> Response | None:
    """``None`` when ``request`` carries ``key``; else the 401 problem to answer, the key
    compared in constant time, so the answer's timing tells nothing of it."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8", "replace"), key.encode()
    ):
        return None
    detail = (
        "a delivery carries the delivery key: Authorization: Bearer <key>"
        if not given.strip()
        else "that is not the delivery key"
    )
    return problem(401, "Unauthorized", detail, headers=CHALLENGE)


def delivered(spec: FunctionSpec) -> bool:
    """Whether ``spec`` gets its requests from a broker: a Trigger's function or the sink."""
    return bool(spec.subscriptions) or spec.kind is FunctionKind.SINK


def require_on_functions(app: Flask, root: Root, spec: FunctionSpec) -> None:
    """A deployed function's check (``runtime.entry``): a POST to a delivered function carries
    the key where ``EVENTUALSHOP_DELIVERY_KEY`` is set, read per request as the settings are.
    Not on Knative (its Broker cannot send it, and the Services are cluster-local), nor on a
    scheduled function (OpenFaaS's cron-connector cannot either; a tick takes nothing from the
    request). Installed before any other check, so a refused request's body is never read."""
    if not delivered(spec):
        return
    from flask import request

    from eventualshop.runtime.health import LIVENESS_PATHS, READINESS_PATHS

    probes = frozenset((*LIVENESS_PATHS, *READINESS_PATHS))

    def check() -> Response | None:
        # Only the health probes go without the key, whatever the method: the sink is an HTTP
        # function that took a PUT or a GET as a letter, and any method but POST used to pass.
        if request.path in probes:
            return None
        config = root.settings()  # unreadable settings: a 503 problem, never let through
        if config.delivery_key is None or config.broker == "knative":
            return None
        return refusal(request, config.delivery_key.get_secret_value())

    app.before_request_funcs.setdefault(None, []).insert(0, check)

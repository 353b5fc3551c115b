"""One API host: a Gateway API ``HTTPRoute`` per public function, on one Gateway.

Knative gives every Service its own host name, where ``POST /`` is the function; clients of the
original call ``/api/v1/...`` paths on one host, and a command's ``Location``
(``<routes>/<id>/details``) must resolve there. Each rule matches its function's
method and path (path parameters as one segment) and sends the request to that Knative Service,
rewriting the host to the Service's cluster-local name, which is how Knative's ingress finds the
revision. One route per function, not one route of many rules: Gateway API allows 16 rules in a
route, and a context alone has more functions than that. A path's ``OPTIONS`` (a browser's
CORS preflight) goes to one of the path's functions, which answers for all of them.

Admin functions (rebuild, lag) get no route here: they stay cluster-local.
"""

from __future__ import annotations

import re
from typing import Any

from eventualshop.runtime.deploy.config import DeployConfig, is_public
from eventualshop.runtime.registry import UUID_PATTERN, FunctionSpec

GATEWAY_API = "gateway.networking.k8s.io/v1"
_PARAMETER = re.compile(r"\{[A-Za-z]+\}")


def path_regex(path: str) -> str:
    """``/carts/{cartId}/items`` -> ``/carts/[^/]+/items`` (the whole path; implementations
    anchor RegularExpression matches at both ends)."""
    parts = _PARAMETER.split(path)
    # A path parameter is a UUID in its one form (the functions refuse anything else), so a
    # literal sibling such as ``/things/items`` never falls to ``/things/{thingId}``.
    return UUID_PATTERN.join(re.escape(part).replace("\\-", "-") for part in parts)


def http_route(
    spec: FunctionSpec, config: DeployConfig, *, options: bool = False
) -> dict[str, Any]:
    """``options``: the route also takes the path's ``OPTIONS`` (a browser's CORS preflight),
    which every function at the path answers alike (``runtime.cors``); one route per path has it,
    so no two routes match the same request."""
    assert spec.route is not None
    pattern = path_regex(spec.route.path)
    methods = [spec.route.method, *(["OPTIONS"] if options else [])]
    return {
        "apiVersion": GATEWAY_API,
        "kind": "HTTPRoute",
        "metadata": {
            "name": spec.name,
            "labels": {
                "app.kubernetes.io/part-of": "eventualshop",
                "eventualshop.dev/function": spec.name,
                "eventualshop.dev/context": spec.context,
            },
        },
        "spec": {
            "parentRefs": [{"name": config.gateway, "namespace": config.gateway_namespace}],
            "rules": [
                {
                    "matches": [
                        {"path": {"type": "RegularExpression", "value": pattern}, "method": method}
                        for method in methods
                    ],
                    "filters": [
                        {
                            "type": "URLRewrite",
                            "urlRewrite": {
                                "hostname": f"{spec.name}.{config.namespace}.svc.cluster.local"
                            },
                        }
                    ],
                    "backendRefs": [{"name": spec.name, "port": 80}],
                }
            ],
        },
    }


def routed(functions: list[FunctionSpec]) -> list[FunctionSpec]:
    return [spec for spec in functions if spec.route is not None and is_public(spec)]


def answers_options(functions: list[FunctionSpec]) -> set[str]:
    """Per public path, the function whose route takes its ``OPTIONS``: the first in the order
    given (``generated`` gives them by name, so the choice is stable)."""
    first: dict[str, str] = {}
    for spec in routed(functions):
        assert spec.route is not None
        first.setdefault(spec.route.path, spec.name)
    return set(first.values())

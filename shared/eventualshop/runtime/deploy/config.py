"""What the generated artefacts name: image, namespace, broker, secret. One place, one default."""

from __future__ import annotations

import re
from dataclasses import dataclass

from eventualshop.runtime.registry import FunctionKind, FunctionSpec
from eventualshop.runtime.settings import Settings

DEFAULT_IMAGE = "ghcr.io/eventualshop/functions:latest"
DEFAULT_NAMESPACE = "eventualshop"
PART_OF_LABEL = "eventualshop.dev/part-of"
PART_OF_FUNCTIONS = "functions"
# A label, not an annotation: Knative Serving keeps services carrying it off the public ingress.
VISIBILITY_LABEL = "networking.knative.dev/visibility"
CONTAINER_PORT = 8080
HEALTH_PATH = "/healthz"
# What func and Knative probe (served by every function through runtime/entry.py).
LIVENESS_PATH = "/health/liveness"
READINESS_PATH = "/health/readiness"
# OpenFaaS's own defaults, named in stack.yml anyway so a reader sees what is probed.
OPENFAAS_LIVENESS_PATH = "/_/health"
OPENFAAS_READINESS_PATH = "/_/ready"

ENV_PREFIX: str = str(Settings.model_config.get("env_prefix", ""))

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_ATTRIBUTE = re.compile(r"^[a-z0-9]{1,20}$")


def setting(name: str) -> str:
    """The environment variable of a :class:`Settings` field (fails for a field that is gone)."""
    if name not in Settings.model_fields:
        raise KeyError(f"Settings has no field {name!r}")
    return f"{ENV_PREFIX}{name.upper()}"


@dataclass(frozen=True, slots=True)
class DeployConfig:
    image: str = DEFAULT_IMAGE
    namespace: str = DEFAULT_NAMESPACE
    broker: str = "eventualshop"
    broker_config: str = "eventualshop-rabbitmq"
    rabbitmq_cluster: str = "rabbitmq"  # a RabbitmqCluster (cluster operator) in the namespace
    secret: str = "eventualshop-config"  # holds the store URLs and keys, never committed
    sink_binding: str = "eventualshop-functions"
    openfaas_gateway: str = "${OPENFAAS_URL:-http://127.0.0.1:8080}"
    # Where OpenFaaS runs functions, and the gateway's per-function path (``/function/<name>``).
    openfaas_namespace: str = "openfaas-fn"
    openfaas_function_base: str = "http://gateway.openfaas:8080/function"
    # The Gateway API Gateway that carries the one API host (the cluster's implementation).
    gateway: str = "eventualshop"
    gateway_namespace: str = "eventualshop"


def min_scale(spec: FunctionSpec) -> int:
    """Clients wait on commands and queries: one warm instance each spares them a cold start
    (about half a second, bench/coldstart.py). Event-triggered functions only add lag when cold;
    they scale from zero. The dev overlay sets every function back to zero."""
    return 1 if is_public(spec) else 0


def resources(spec: FunctionSpec) -> dict[str, dict[str, str]]:
    """Requests so the scheduler packs instances honestly; a memory limit so a leak restarts one
    instance instead of starving its node. No CPU limit: throttling a Python process mid-request
    costs latency, and the request already reserves its share."""
    del spec  # every function runs the same image and runtime today
    return {"requests": {"cpu": "100m", "memory": "160Mi"}, "limits": {"memory": "384Mi"}}


# Operators' functions (rebuild a read model, read the projection lag): routed, but only inside
# the cluster, never on the public API host.
ADMIN = ("rebuild", "lag")


def is_admin(spec: FunctionSpec) -> bool:
    return (spec.derived or "").partition(":")[0] in ADMIN


def is_public(spec: FunctionSpec) -> bool:
    """Only the clients' commands and queries face the outside; CloudEvent functions hear from
    the broker alone, admin functions from the cluster."""
    return spec.kind in (FunctionKind.COMMAND, FunctionKind.QUERY) and not is_admin(spec)


def check_declarations(functions: tuple[FunctionSpec, ...]) -> None:
    """Reject what Kubernetes would reject later, naming the declaration at fault."""
    names: set[str] = set()
    triggers: set[str] = set()
    for spec in functions:
        if not _DNS_LABEL.match(spec.name):
            raise ValueError(f"function {spec.name!r}: not a DNS-1123 label (a Service name)")
        if spec.name in names:
            raise ValueError(f"function {spec.name!r} is declared twice")
        names.add(spec.name)
        routed = spec.kind in (FunctionKind.COMMAND, FunctionKind.QUERY)
        if (spec.route is None) == routed:
            raise ValueError(
                f"function {spec.name!r}: commands and queries, only they, need a route"
            )
        if spec.kind == FunctionKind.SCHEDULED and not spec.schedule:
            raise ValueError(f"function {spec.name!r}: a scheduled function needs a schedule")
        if spec.schedule and spec.signature_type != "cloudevent":
            raise ValueError(f"function {spec.name!r}: a PingSource sends CloudEvents")
        if spec.subscriptions and spec.signature_type != "cloudevent":
            raise ValueError(f"function {spec.name!r}: a Trigger delivers CloudEvents")
        for subscription in spec.subscriptions:
            if not _DNS_LABEL.match(subscription.name):
                raise ValueError(f"trigger {subscription.name!r}: not a DNS-1123 label")
            if subscription.name in triggers:
                raise ValueError(f"trigger {subscription.name!r} is declared twice")
            triggers.add(subscription.name)
            for attribute in subscription.filters:
                if not _ATTRIBUTE.match(attribute):
                    raise ValueError(
                        f"trigger {subscription.name!r}: {attribute!r} is not a CloudEvent "
                        "attribute name (lower-case letters and digits)"
                    )
    for spec in functions:
        for subscription in spec.subscriptions:
            sink = subscription.delivery.dead_letter_sink
            if sink is not None and sink not in names:
                raise ValueError(
                    f"trigger {subscription.name!r}: no function {sink!r} to dead-letter to"
                )

"""An OpenFaaS stack file: the same image and functions as on Knative, for ``faas-cli deploy``,
and the dispatcher Deployment that plays the Broker.

OpenFaaS has no Broker: events reach CloudEvent functions from ``eventualshop dispatch`` (the
RabbitMQ dispatcher, by the same Trigger declarations) posting to the gateway's
``/function/<name>``, and the cron-connector plays the PingSources (its empty POST is a
scheduled function's tick: ``runtime/entry.py``). Secrets in OpenFaaS are files, not variables:
every secret a function reads (the store and RabbitMQ URLs, which carry passwords, its
context's secrets such as the cart's card-token key, and its own, the signing key) is an
OpenFaaS secret named after its variable as on Knative (``eventualshop-event-store-url``),
mounted as a file that ``<VARIABLE>_FILE`` names (``kernel/environment.py`` reads it). Only the
public JWKS comes from the deploying shell (``faas-cli`` expands ``${VAR}``). The dispatcher, a
plain Deployment, reads the same secrets as variables.

The gateway answers ``/function/<name>`` for every function, to anyone who reaches it: the
functions the dispatcher delivers to (a Trigger's, and the dead-letter sink) and the dispatcher
share the delivery key (``runtime.deliveries``), so an event reaches them only from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventualshop.kernel.environment import FILE_SUFFIX
from eventualshop.runtime.deliveries import delivered
from eventualshop.runtime.deploy.config import (
    OPENFAAS_LIVENESS_PATH,
    OPENFAAS_READINESS_PATH,
    DeployConfig,
    min_scale,
    resources,
    setting,
)
from eventualshop.runtime.deploy.knative import function_env, labels, own_secret
from eventualshop.runtime.registry import FunctionSpec

_URLS = ("rabbitmq_url", "event_store_url", "read_model_url")
#: The public keys every function verifies tokens with (``runtime.auth``): public, so a plain
#: variable from the deploying shell; without it a function would verify with a
#: key of its own making and refuse every token.
JWKS = "EVENTUALSHOP_AUTH_JWKS"
DISPATCHER = "eventualshop-dispatcher"
#: Where OpenFaaS mounts a function's secrets, one file per secret.
SECRETS_DIR = "/var/openfaas/secrets"
#: The gateway's path of a function (faas-netes' ``/function/<name>``), before a Location's path.
GATEWAY_LOCATION_PREFIX = "/function/{function}"


def stack(functions: Sequence[FunctionSpec], config: DeployConfig) -> dict[str, Any]:
    return {
        "version": 1.0,
        "provider": {"name": "openfaas", "gateway": config.openfaas_gateway},
        "functions": {spec.name: _function(spec, config) for spec in functions},
    }


def _function(spec: FunctionSpec, config: DeployConfig) -> dict[str, Any]:
    environment = dict(function_env(spec))
    # No Broker ingress here: functions publish straight to RabbitMQ.
    environment[setting("broker")] = "rabbitmq"
    if spec.route is not None:  # what checks a token, and the JWKS document that publishes it
        environment[JWKS] = "${" + JWKS + "}"
        # No one API host on OpenFaaS: a client calls /function/<name>/<path> on the gateway,
        # so a command's Location names the query function too.
        environment[setting("location_prefix")] = GATEWAY_LOCATION_PREFIX
    secrets = _secret_variables(spec)
    for variable in secrets:  # the file's path, never its content
        environment[variable + FILE_SUFFIX] = f"{SECRETS_DIR}/{own_secret(variable)}"
    function_labels = {
        key: value for key, value in labels(spec).items() if not key.startswith("networking.")
    }
    # OpenFaaS CE scales from one at least; Pro honours zero.
    function_labels["com.openfaas.scale.min"] = str(max(1, min_scale(spec)))
    function_labels["com.openfaas.scale.max"] = str(spec.max_scale)
    annotations = {
        "com.openfaas.health.http.path": OPENFAAS_LIVENESS_PATH,
        "com.openfaas.ready.http.path": OPENFAAS_READINESS_PATH,
    }
    if spec.route is not None:
        annotations["eventualshop.dev/route"] = f"{spec.route.method} {spec.route.path}"
    if spec.subscriptions:
        annotations["eventualshop.dev/triggers"] = ",".join(s.name for s in spec.subscriptions)
    if spec.schedule:
        annotations["topic"] = "cron-function"  # the cron-connector's convention
        annotations["schedule"] = spec.schedule
    function: dict[str, Any] = {
        "lang": "dockerfile",
        "handler": ".",
        "image": config.image,
        "skip_build": True,
        "environment": environment,
        "labels": function_labels,
        "annotations": annotations,
        "requests": resources(spec)["requests"],
        "limits": resources(spec)["limits"],
    }
    function["secrets"] = [own_secret(variable) for variable in secrets]
    return function


def _secret_variables(spec: FunctionSpec) -> list[str]:
    """The variables a function reads from OpenFaaS secrets: the URLs every function is given,
    its context's secrets, its own, and the delivery key where the dispatcher delivers to it."""
    key = [setting("delivery_key")] if delivered(spec) else []
    return [setting(name) for name in _URLS] + [*spec.secrets, *spec.own_secrets, *key]


def dispatcher(config: DeployConfig) -> dict[str, Any]:
    """Delivers RabbitMQ events to the CloudEvent functions through the gateway, with the
    Triggers' retries and dead letters. One replica: a second would only compete for the same
    queues (each message is acked once delivered, parked for a retry or dead-lettered)."""
    labels = {"app.kubernetes.io/name": DISPATCHER, "app.kubernetes.io/part-of": "eventualshop"}
    container = {
        "name": "dispatcher",
        "image": config.image,
        "command": [
            "eventualshop",
            "dispatch",
            "--subscriber-base",
            config.openfaas_function_base,
        ],
        # The RabbitMQ URL, the event store URL (where dead letters are kept) and the delivery
        # key every POST carries, from the OpenFaaS secrets the functions mount: faas-netes
        # keeps each under its name as the key.
        "env": [
            {"name": setting("broker"), "value": "rabbitmq"},
            *(
                _from_secret(setting(name))
                for name in ("rabbitmq_url", "event_store_url", "delivery_key")
            ),
        ],
        "resources": {
            "requests": {"cpu": "100m", "memory": "160Mi"},
            "limits": {"memory": "384Mi"},
        },
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": DISPATCHER, "namespace": config.openfaas_namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": DISPATCHER}},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


def _from_secret(variable: str) -> dict[str, Any]:
    """A container's variable from the OpenFaaS secret of that name (its one key)."""
    secret = own_secret(variable)
    return {"name": variable, "valueFrom": {"secretKeyRef": {"name": secret, "key": secret}}}

"""Knative manifests from the function registry: Broker, Services, SinkBinding, Triggers,
PingSources, a kustomization that applies them, and one ``func.yaml`` per function.

Names are the registry's: a Service is named after its function, a Trigger after its
Subscription, a PingSource after its scheduled function, so every reference can be checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventualshop.runtime.deploy.config import (
    CONTAINER_PORT,
    LIVENESS_PATH,
    PART_OF_FUNCTIONS,
    PART_OF_LABEL,
    READINESS_PATH,
    VISIBILITY_LABEL,
    DeployConfig,
    is_public,
    min_scale,
    resources,
    setting,
)
from eventualshop.runtime.registry import Delivery, FunctionSpec, Subscription

SERVING = "serving.knative.dev/v1"
EVENTING = "eventing.knative.dev/v1"
SOURCES = "sources.knative.dev/v1"
RABBITMQ_CONFIG = "eventing.knative.dev/v1alpha1"
BROKER_CLASS_ANNOTATION = "eventing.knative.dev/broker.class"
BROKER_CLASS = "RabbitMQBroker"
MAX_SCALE_ANNOTATION = "autoscaling.knative.dev/max-scale"
MIN_SCALE_ANNOTATION = "autoscaling.knative.dev/min-scale"
#: The dev overlay's image: built on the laptop and loaded into its cluster (kind load).
DEV_IMAGE = "dev.local/eventualshop/functions"


def service_ref(name: str) -> dict[str, str]:
    return {"apiVersion": SERVING, "kind": "Service", "name": name}


def broker_ref(config: DeployConfig) -> dict[str, str]:
    return {"apiVersion": EVENTING, "kind": "Broker", "name": config.broker}


def labels(spec: FunctionSpec) -> dict[str, str]:
    result = {
        "app.kubernetes.io/name": spec.name,
        "app.kubernetes.io/part-of": "eventualshop",
        PART_OF_LABEL: PART_OF_FUNCTIONS,  # the SinkBinding selects on this one
        "eventualshop.dev/context": spec.context,
        "eventualshop.dev/kind": str(spec.kind),
    }
    if not is_public(spec):
        result[VISIBILITY_LABEL] = "cluster-local"
    return result


def own_secret(variable: str) -> str:
    """The Secret of one restricted variable: ``EVENTUALSHOP_X_KEY`` in ``eventualshop-x-key``."""
    return variable.lower().replace("_", "-")


def own_secret_env(spec: FunctionSpec) -> list[dict[str, Any]]:
    return [
        {"name": v, "valueFrom": {"secretKeyRef": {"name": own_secret(v), "key": v}}}
        for v in spec.own_secrets
    ]


def function_env(spec: FunctionSpec) -> list[tuple[str, str]]:
    """What selects the function inside the shared image, and how it publishes."""
    return [
        ("FUNCTION_TARGET", spec.target),
        ("FUNCTION_SIGNATURE_TYPE", spec.signature_type),
        ("FUNCTION_SOURCE", spec.source),
        (setting("broker"), "knative"),
    ]


def delivery(policy: Delivery, *, trigger: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "retry": policy.retry,
        "backoffPolicy": policy.backoff_policy,
        "backoffDelay": policy.backoff_delay,
    }
    if policy.dead_letter_sink is not None:
        sink: dict[str, Any] = {"ref": service_ref(policy.dead_letter_sink)}
        if trigger is not None:
            # Knative does not tell the sink which Trigger gave up; the relative URI (resolved
            # against the sink Service's address) does, so a letter replays to that Trigger only.
            sink["uri"] = f"/?trigger={trigger}"
        spec["deadLetterSink"] = sink
    return spec


def broker(config: DeployConfig, default_delivery: Delivery) -> list[dict[str, Any]]:
    broker_config = {
        "apiVersion": RABBITMQ_CONFIG,
        "kind": "RabbitmqBrokerConfig",
        "metadata": {"name": config.broker_config},
        "spec": {
            "rabbitmqClusterReference": {"name": config.rabbitmq_cluster},
            "queueType": "quorum",
        },
    }
    broker = {
        "apiVersion": EVENTING,
        "kind": "Broker",
        "metadata": {
            "name": config.broker,
            "annotations": {BROKER_CLASS_ANNOTATION: BROKER_CLASS},
        },
        "spec": {
            "config": {
                "apiVersion": RABBITMQ_CONFIG,
                "kind": "RabbitmqBrokerConfig",
                "name": config.broker_config,
            },
            # For Triggers that declare none; every Trigger generated here declares its own.
            "delivery": delivery(default_delivery),
        },
    }
    return [broker_config, broker]


def service(spec: FunctionSpec, config: DeployConfig) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": spec.name, "labels": labels(spec)}
    if spec.route is not None:
        # For the API gateway in front: Knative gives each Service its own host, not a path.
        metadata["annotations"] = {
            "eventualshop.dev/route": f"{spec.route.method} {spec.route.path}"
        }
    # The entry point (runtime/entry.py) serves the probes beside the function: liveness says the
    # process answers, readiness that the function's configuration and stores are there.
    container = {
        "name": "function",
        "image": config.image,
        "ports": [{"name": "http1", "containerPort": CONTAINER_PORT}],
        "env": [{"name": name, "value": value} for name, value in function_env(spec)]
        + own_secret_env(spec),
        "envFrom": [{"secretRef": {"name": config.secret}}],
        "resources": resources(spec),
        "readinessProbe": {"httpGet": {"path": READINESS_PATH}, "periodSeconds": 5},
        "livenessProbe": {
            "httpGet": {"path": LIVENESS_PATH},
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
    }
    return {
        "apiVersion": SERVING,
        "kind": "Service",
        "metadata": metadata,
        "spec": {
            "template": {
                "metadata": {
                    "labels": labels(spec),
                    "annotations": {
                        MIN_SCALE_ANNOTATION: str(min_scale(spec)),
                        MAX_SCALE_ANNOTATION: str(spec.max_scale),
                    },
                },
                "spec": {
                    "containerConcurrency": spec.concurrency,
                    "containers": [container],
                },
            }
        },
    }


def sink_binding(config: DeployConfig) -> dict[str, Any]:
    """K_SINK for every function: the Broker's address as its controller publishes it.

    A RabbitMQBroker's ingress address belongs to its class and controller; resolving it from
    the Broker's status keeps it out of the manifests, and K_SINK is what Settings reads.
    """
    return {
        "apiVersion": SOURCES,
        "kind": "SinkBinding",
        "metadata": {"name": config.sink_binding},
        "spec": {
            "subject": {
                "apiVersion": SERVING,
                "kind": "Service",
                "selector": {"matchLabels": {PART_OF_LABEL: PART_OF_FUNCTIONS}},
            },
            "sink": {"ref": broker_ref(config)},
        },
    }


def trigger(spec: FunctionSpec, subscription: Subscription, config: DeployConfig) -> dict[str, Any]:
    return {
        "apiVersion": EVENTING,
        "kind": "Trigger",
        "metadata": {
            "name": subscription.name,
            "labels": {
                "app.kubernetes.io/part-of": "eventualshop",
                "eventualshop.dev/function": spec.name,
                "eventualshop.dev/context": spec.context,
            },
        },
        "spec": {
            "broker": config.broker,
            "filter": {"attributes": dict(sorted(subscription.filters.items()))},
            "subscriber": {"ref": service_ref(spec.name)},
            "delivery": delivery(subscription.delivery, trigger=subscription.name),
        },
    }


def ping_source(spec: FunctionSpec) -> dict[str, Any]:
    assert spec.schedule is not None
    return {
        "apiVersion": SOURCES,
        "kind": "PingSource",
        "metadata": {
            "name": spec.name,
            "labels": {
                "app.kubernetes.io/part-of": "eventualshop",
                "eventualshop.dev/function": spec.name,
            },
        },
        "spec": {
            "schedule": spec.schedule,
            "timezone": "UTC",
            "contentType": "application/json",
            "data": '{"function":"' + spec.name + '"}',
            "sink": {"ref": service_ref(spec.name)},
        },
    }


def kustomization(resources: Sequence[str], config: DeployConfig) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": config.namespace,
        "resources": list(resources),
    }


#: The overlays: ``kubectl apply -k overlays/<name>`` (beside knative/, not in it: kustomize
#: refuses a base that contains its overlay). Inline patches keep each overlay one file; they
#: select every Knative Service, so a new function needs no edit here.
_ALL_SERVICES = {"group": "serving.knative.dev", "version": "v1", "kind": "Service"}


def overlays(config: DeployConfig) -> dict[str, dict[str, Any]]:
    scale_to_zero = (
        "- op: add\n"
        "  path: /spec/template/metadata/annotations/autoscaling.knative.dev~1min-scale\n"
        "  value: '0'\n"
    )
    image = config.image.rsplit(":", 1)[0]
    return {
        # A laptop cluster (kind, minikube): nothing stays warm, the image built locally. Under
        # dev.local, which Knative Serving does not resolve to a digest in a registry
        # (``registries-skipping-tag-resolving``): docker.io/eventualshop/functions:local is in
        # none, so every Revision failed with "Unable to fetch image".
        "dev": {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": ["../../knative"],
            "patches": [{"target": _ALL_SERVICES, "patch": scale_to_zero}],
            "images": [{"name": image, "newName": DEV_IMAGE, "newTag": "local"}],
        },
        # Production: the generated scale and resources, a pinned image tag (set it on release:
        # ``kustomize edit set image``), never ``latest``.
        "production": {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": ["../../knative"],
            "images": [{"name": image, "newTag": "0.1.0"}],
        },
    }

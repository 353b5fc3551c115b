"""A func (Knative Functions) project per function: ``knative/func/<name>/``.

``func`` builds a Python function from ``pyproject.toml`` plus a ``function`` package whose
``func.py`` exports ``new()``; its scaffolding serves that instance with the ``func-python``
middleware (health at ``/health/liveness`` and ``/health/readiness``). ``new()`` here returns
:class:`eventualshop.runtime.funcpython.FuncFunction` for the function's target, so the project
holds no code of its own and follows the registry when regenerated.
"""

from __future__ import annotations

from typing import Any

from eventualshop.runtime.deploy.config import (
    LIVENESS_PATH,
    READINESS_PATH,
    DeployConfig,
    min_scale,
    resources,
    setting,
)
from eventualshop.runtime.deploy.knative import own_secret
from eventualshop.runtime.deploy.render import HEADER
from eventualshop.runtime.registry import FunctionSpec

# The package every project depends on: this repository's wheel (``uv build``), found by pip
# from the index or the ``PIP_FIND_LINKS`` the builder is given.
PACKAGE = "eventualshop"
PACKAGE_VERSION = "0.1.0"
# func's newest func.yaml layout that the schema in schemas/ describes; func migrates older
# files itself, so this must not run ahead of the schema.
FUNC_SPEC_VERSION = "0.36.0"
# func.yaml requires a creation stamp; a fixed one keeps regeneration byte-for-byte stable.
FUNC_CREATED = "2026-01-01T00:00:00Z"


def _comment(prefix: str) -> str:
    return "".join(f"{prefix} {line}\n" for line in HEADER.splitlines())


def registry_of(image: str) -> str:
    """``ghcr.io/eventualshop/functions:latest`` -> ``ghcr.io/eventualshop``: func names each
    function's own image ``<registry>/<name>``."""
    return image.rsplit("/", 1)[0]


def func_yaml(spec: FunctionSpec, config: DeployConfig, labels: dict[str, str]) -> dict[str, Any]:
    """No ``deploy.subscriptions``: func would create Triggers of its own without the delivery
    policy; the Triggers in knative/triggers/ name the same Service and serve either way."""
    envs: list[dict[str, str]] = [{"name": setting("broker"), "value": "knative"}]
    envs.append({"value": "{{ secret:" + config.secret + " }}"})  # every key, as envFrom does
    for variable in spec.own_secrets:  # a key only some functions may read (the signing key)
        envs.append(
            {"name": variable, "value": f"{{{{ secret:{own_secret(variable)}:{variable} }}}}"}
        )
    return {
        "specVersion": FUNC_SPEC_VERSION,
        "name": spec.name,
        "runtime": "python",
        "registry": registry_of(config.image),
        # The intended namespace; ``deploy.namespace`` is where func last deployed it.
        "namespace": config.namespace,
        "created": FUNC_CREATED,
        "invoke": spec.signature_type,
        "run": {"envs": envs},
        "deploy": {
            "options": {
                "scale": {"min": min_scale(spec), "max": spec.max_scale},
                "resources": {
                    "requests": resources(spec)["requests"],
                    "limits": {**resources(spec)["limits"], "concurrency": spec.concurrency},
                },
            },
            "labels": [{"key": key, "value": value} for key, value in labels.items()],
            "healthEndpoints": {"liveness": LIVENESS_PATH, "readiness": READINESS_PATH},
        },
    }


def pyproject(spec: FunctionSpec) -> str:
    return f"""{_comment("#")}[project]
name = "function"
version = "{PACKAGE_VERSION}"
description = "EventualShop function {spec.name}"
requires-python = ">=3.11"
dependencies = ["{PACKAGE}=={PACKAGE_VERSION}"]

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["function"]
"""


def package_init() -> str:
    return f'''{_comment("#")}"""The func entry point: ``new()`` (func.py)."""

from .func import new

__all__ = ["new"]
'''


def func_py(spec: FunctionSpec) -> str:
    return f'''{_comment("#")}"""A func instance of a registered function: TARGET of SOURCE_MODULE.

func-python serves it, with its health at /health/liveness and /health/readiness.
"""

from eventualshop.runtime.funcpython import FuncFunction

TARGET = "{spec.target}"
SIGNATURE_TYPE = "{spec.signature_type}"
SOURCE_MODULE = "{spec.module}"


def new() -> FuncFunction:
    return FuncFunction(TARGET, SIGNATURE_TYPE, SOURCE_MODULE)
'''


def files(spec: FunctionSpec, config: DeployConfig, labels: dict[str, str]) -> dict[str, Any]:
    """Relative path inside the project -> a YAML document (dict) or text."""
    return {
        "func.yaml": func_yaml(spec, config, labels),
        "pyproject.toml": pyproject(spec),
        "function/__init__.py": package_init(),
        "function/func.py": func_py(spec),
    }

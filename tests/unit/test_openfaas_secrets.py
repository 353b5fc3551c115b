"""Every function of the generated ``stack.yml`` is ready with what an operator gives OpenFaaS:
the public JWKS from the deploying shell, and every secret as an OpenFaaS secret, a file under
``/var/openfaas/secrets`` that ``<VARIABLE>_FILE`` names.

The finding: the stack put the store and RabbitMQ URLs, which carry passwords, into each
function's plain environment (``faas-cli`` expanded them from the shell into the Deployment), and
gave the cart's commands no card-token key at all, so with a store URL set they could never
become ready (``misconfigured``, ``set: EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr

from eventualshop.runtime import health
from eventualshop.runtime.auth import AuthSettings, jwks
from eventualshop.runtime.deploy.openfaas import SECRETS_DIR
from eventualshop.runtime.registry import FunctionSpec
from functions.main import ROOT
from functions.registry import FUNCTIONS

HERE = Path(__file__).resolve().parents[2]
TEXT = (HERE / "stack.yml").read_text()
STACK = yaml.safe_load(TEXT)["functions"]
SIGNING_KEY = (
    Ed25519PrivateKey.generate()
    .private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    .decode()
)
#: What ``faas-cli secret create <name>`` is given, by name, as the README's OpenFaaS section says.
SECRETS = {
    "eventualshop-event-store-url": "postgresql://shop:s3cret@postgres:5432/eventualshop\n",
    "eventualshop-read-model-url": "mongodb://shop:s3cret@mongodb:27017/eventualshop\n",
    "eventualshop-rabbitmq-url": "amqp://shop:s3cret@rabbitmq:5672/%2F\n",
    "eventualshop-shopping-cart-card-token-key": "a-card-token-key-of-32-characters\n",
    "eventualshop-auth-signing-key": SIGNING_KEY,
    "eventualshop-delivery-key": "a-delivery-key-of-32-characters-0\n",
}
#: What the deploying shell exports for ``faas-cli`` to expand: the public keys (set below),
#: and the URLs the README used to ask for, so a stack that still expanded them is judged on
#: the rest too.
SHELL = {
    # model_construct: the key given, nothing read from this process's environment
    "EVENTUALSHOP_AUTH_JWKS": json.dumps(
        jwks(AuthSettings.model_construct(auth_signing_key=SecretStr(SIGNING_KEY)))
    ),
    "EVENTUALSHOP_EVENT_STORE_URL": SECRETS["eventualshop-event-store-url"].strip(),
    "EVENTUALSHOP_READ_MODEL_URL": SECRETS["eventualshop-read-model-url"].strip(),
    "EVENTUALSHOP_RABBITMQ_URL": SECRETS["eventualshop-rabbitmq-url"].strip(),
}


@pytest.fixture(scope="module")
def mounted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The secrets as OpenFaaS mounts them: one file per secret, named after it."""
    folder = tmp_path_factory.mktemp("openfaas-secrets")
    for name, value in SECRETS.items():
        (folder / name).write_text(value)
    return folder


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)  # a fallback to SQLite files would land here, not in the tree
    for name in list(os.environ):
        if name.startswith(("EVENTUALSHOP_", "K_SINK", "FUNCTION_")):
            monkeypatch.delenv(name)
    ROOT.reset()
    yield
    ROOT.reset()


@cache
def _substituted() -> dict[str, Any]:
    """The stack as faas-cli reads it: it replaces ``${VAR}`` and ``${VAR:-default}`` in the
    file's text, then parses it (``substituteEnvironment`` in openfaas/go-sdk's
    ``stack/stack.go``)."""

    def value(match: re.Match[str]) -> str:
        return SHELL.get(match.group(1)) or match.group(2) or ""

    functions: dict[str, Any] = yaml.safe_load(re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", value, TEXT))[
        "functions"
    ]
    return functions


def _deployed(name: str, mounted: Path) -> dict[str, str]:
    """The function's environment in its pod, the secrets' folder where this test mounted them."""
    environment = _substituted()[name]["environment"]
    for variable, content in environment.items():
        assert isinstance(content, str), f"{name}: {variable} arrives as {type(content).__name__}"
    return {k: v.replace(SECRETS_DIR, str(mounted)) for k, v in environment.items()}


def test_no_url_is_a_plain_variable() -> None:
    for name, function in STACK.items():
        plain = [v for v in function["environment"] if v.endswith("_URL")]
        assert plain == [], f"{name}: {plain} in the Deployment's environment"


def test_every_secret_a_function_mounts_is_one_the_readme_says_to_create() -> None:
    named = {secret for function in STACK.values() for secret in function.get("secrets", [])}
    assert named == set(SECRETS)
    readme = (HERE / "README.md").read_text()
    for secret in SECRETS:
        assert f"faas-cli secret create {secret}" in readme, secret


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.name)
def test_every_function_is_configured_by_its_secrets(
    spec: FunctionSpec, mounted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = _deployed(spec.name, mounted)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert ROOT.settings_problem() is None
    settings = ROOT.settings()
    assert settings.event_store_url == SECRETS["eventualshop-event-store-url"].strip()
    assert settings.broker == "rabbitmq"
    need = health.needs(ROOT, spec, environment)
    assert health.missing_configuration(settings, need, environment) == []
    assert health.unusable_setting(ROOT, spec) is None


def test_a_secret_file_that_cannot_be_read_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("EVENTUALSHOP_BROKER", "rabbitmq")
    monkeypatch.setenv("EVENTUALSHOP_EVENT_STORE_URL_FILE", str(tmp_path / "absent"))
    problem = ROOT.settings_problem()
    assert problem is not None
    assert problem.startswith("EVENTUALSHOP_EVENT_STORE_URL_FILE: cannot read "), problem
    assert "\n" not in problem


def test_a_variable_set_beside_its_file_wins(
    monkeypatch: pytest.MonkeyPatch, mounted: Path
) -> None:
    monkeypatch.setenv("EVENTUALSHOP_EVENT_STORE_URL", "postgresql://db/other")
    monkeypatch.setenv(
        "EVENTUALSHOP_EVENT_STORE_URL_FILE", str(mounted / "eventualshop-event-store-url")
    )
    assert ROOT.settings().event_store_url == "postgresql://db/other"


def test_a_function_whose_key_file_cannot_be_read_starts_unready_and_says_which(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mounted: Path
) -> None:
    """Asking which settings are set read the file too, and its error escaped: the function
    failed to boot with a traceback instead of answering its probe."""
    from eventualshop.runtime.entry import create_app, root_of

    spec = next(s for s in FUNCTIONS if s.derived == "command:CreateCatalog")
    for name, value in _deployed(spec.name, mounted).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("EVENTUALSHOP_AUTH_JWKS")
    monkeypatch.setenv("EVENTUALSHOP_AUTH_JWKS_FILE", str(tmp_path / "absent"))
    app = create_app(spec.target, str(HERE / spec.source), spec.signature_type)
    try:
        answer = app.test_client().get("/health/readiness")
    finally:
        root_of(app).reset()
    assert answer.status_code == 503
    assert answer.get_json()["invalid"] == [
        f"EVENTUALSHOP_AUTH_JWKS_FILE: cannot read {tmp_path / 'absent'}: No such file or directory"
    ]

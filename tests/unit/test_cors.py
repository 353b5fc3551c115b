"""A browser page on another origin can call the API, as the original's gateway allowed (any
origin, header and method; reference §7.1), or only the origins a deployment names.

The finding: no function sent an ``Access-Control-*`` header or answered a preflight. On `serve`
Flask answered ``OPTIONS`` itself (200, an ``Allow`` header, nothing for CORS), and behind the
generated HTTPRoutes, which matched one method each, an ``OPTIONS`` found no route at all. So a
front end served from another origin (a dev server on :5173, the original's Blazor app) could not
send one request: the browser stopped at the preflight, or hid the answer from the page.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from eventualshop.runtime.cors import Origins
from eventualshop.runtime.entry import create_app
from eventualshop.runtime.local import build_app
from eventualshop.runtime.registry import FunctionSpec
from eventualshop.runtime.settings import Settings
from functions.main import ROOT
from functions.registry import FUNCTIONS

PAGE = "http://localhost:5173"
CARTS = "/api/v1/shopping-carts"
#: What a front end's fetch with a token and a JSON body makes its browser ask first.
PREFLIGHT = {
    "Origin": PAGE,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
}
HERE = Path(__file__).resolve().parents[2]


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FlaskClient]:
    """`serve`'s app on the embedded defaults (authorization on)."""
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("EVENTUALSHOP_AUTH", "on")
    monkeypatch.delenv("EVENTUALSHOP_CORS_ORIGINS", raising=False)
    ROOT.reset()
    yield build_app(ROOT).test_client()
    ROOT.reset()


def _concrete(path: str) -> str:
    return re.sub(r"\{[A-Za-z]+\}", lambda _: str(uuid.uuid4()), path)


def test_a_preflight_from_any_origin_is_allowed_by_default(shop: FlaskClient) -> None:
    answer = shop.options(CARTS, headers=PREFLIGHT)

    assert answer.status_code == 204
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in answer.headers["Access-Control-Allow-Methods"].split(", ")
    assert (
        answer.headers["Access-Control-Allow-Headers"]
        == PREFLIGHT["Access-Control-Request-Headers"]
    )
    assert int(answer.headers["Access-Control-Max-Age"]) > 0
    assert "Access-Control-Allow-Credentials" not in answer.headers  # bearer tokens, no cookies


def test_a_preflight_is_told_every_method_of_its_path_whichever_function_answers(
    shop: FlaskClient,
) -> None:
    by_path: dict[str, set[str]] = {}
    for spec in FUNCTIONS:
        if spec.route is not None:
            by_path.setdefault(spec.route.path, set()).add(spec.route.method)
    shared = {path: methods for path, methods in by_path.items() if len(methods) > 1}
    assert shared, "the registry has a path with several methods (GET and DELETE of an account)"
    for path, methods in shared.items():
        for method in methods:
            answer = shop.options(
                _concrete(path),
                headers={"Origin": PAGE, "Access-Control-Request-Method": method},
            )
            assert answer.status_code == 204, (path, method)
            assert methods <= set(answer.headers["Access-Control-Allow-Methods"].split(", "))
            assert methods <= set(answer.headers["Allow"].split(", "))


def test_answers_carry_the_origin_and_the_headers_a_page_may_read(shop: FlaskClient) -> None:
    cart = {"customerId": str(uuid.uuid4()), "currency": "USD"}
    refused = shop.post(CARTS, json=cart, headers={"Origin": PAGE})
    signed_up = shop.post(
        "/api/v1/identities/sign-up",
        json={
            "firstName": "Augusta",
            "lastName": "Lovelace",
            "email": "ada@example.com",
            "password": "Analytic-Engine-1843",
            "passwordConfirmation": "Analytic-Engine-1843",
        },
        headers={"Origin": PAGE},
    )

    # A refusal the page must be able to read, and a success whose Location it must follow.
    assert refused.status_code == 401
    assert refused.headers["Access-Control-Allow-Origin"] == "*"
    assert signed_up.status_code == 202, signed_up.get_data(as_text=True)
    assert signed_up.headers["Access-Control-Allow-Origin"] == "*"
    exposed = signed_up.headers["Access-Control-Expose-Headers"].split(", ")
    assert {"Location", "CorrelationId", "WWW-Authenticate", "Retry-After"} <= set(exposed)


def test_only_the_named_origins_are_allowed_when_the_deployment_names_them(
    shop: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTUALSHOP_CORS_ORIGINS", "https://shop.example.com, " + PAGE)
    ROOT.reconfigure()

    named = shop.options(CARTS, headers=PREFLIGHT)
    other = shop.options(CARTS, headers=PREFLIGHT | {"Origin": "https://evil.example"})
    answer = shop.post(CARTS, json={}, headers={"Origin": "https://SHOP.example.com"})
    unnamed = shop.post(CARTS, json={}, headers={"Origin": "https://evil.example"})

    assert named.headers["Access-Control-Allow-Origin"] == PAGE
    assert "Origin" in named.headers["Vary"]
    assert "Access-Control-Allow-Origin" not in other.headers
    assert "Access-Control-Allow-Methods" not in other.headers
    assert answer.headers["Access-Control-Allow-Origin"] == "https://SHOP.example.com"
    assert "Access-Control-Allow-Origin" not in unnamed.headers
    assert "Origin" in unnamed.headers["Vary"]  # a cache keeps the two answers apart


def test_no_origin_is_allowed_when_the_setting_is_empty(
    shop: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTUALSHOP_CORS_ORIGINS", "")
    ROOT.reconfigure()

    preflight = shop.options(CARTS, headers=PREFLIGHT)
    answer = shop.post(CARTS, json={}, headers={"Origin": PAGE})

    assert preflight.status_code == 204
    assert preflight.headers["Allow"] == "OPTIONS, POST"
    assert "Content-Type" not in preflight.headers
    assert preflight.get_data() == b""
    assert not [name for name, _ in preflight.headers if name.startswith("Access-Control")]
    assert not [name for name, _ in answer.headers if name.startswith("Access-Control")]


def test_a_request_without_an_origin_gets_no_cors_header(shop: FlaskClient) -> None:
    answer = shop.post(CARTS, json={})
    assert "Access-Control-Allow-Origin" not in answer.headers


@pytest.mark.parametrize(
    "value",
    ["https://shop.example.com/", "shop.example.com", "*, https://shop.example.com", "ftp://x"],
)
def test_a_setting_that_names_no_origin_stops_the_start_saying_which(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTUALSHOP_CORS_ORIGINS", value)
    ROOT.reset()
    try:
        problem = ROOT.settings_problem()
    finally:
        monkeypatch.delenv("EVENTUALSHOP_CORS_ORIGINS")
        ROOT.reset()

    assert problem is not None
    assert "EVENTUALSHOP_CORS_ORIGINS" in problem
    assert "is not an origin" in problem
    assert "example.com" not in problem  # a setting's value is never repeated


def test_the_origins_read_as_written() -> None:
    assert Origins.parse("*").allow_origin(PAGE) == "*"
    assert Origins.parse(" ").allow_origin(PAGE) is None
    listed = Origins.parse("https://a.example:8443,http://localhost:5173")
    assert listed.allow_origin("https://a.example:8443") == "https://a.example:8443"
    assert listed.allow_origin("https://a.example") is None
    assert listed.allow_origin(None) is None
    assert Origins.parse("").listed == frozenset()
    assert not Origins.parse("").any_origin
    read = Settings(cors_origins="http://localhost:5173").origins
    assert read.listed == frozenset({"http://localhost:5173"})
    assert not read.any_origin


def test_a_deployed_function_answers_the_preflight_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app the image and functions-framework's command serve: it routes every method to the
    target, so the function, not Flask, answers."""
    monkeypatch.chdir(HERE)
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("EVENTUALSHOP_CORS_ORIGINS", raising=False)
    spec = next(s for s in FUNCTIONS if s.route is not None and s.route.path == CARTS)
    ROOT.reset()
    try:
        client = create_app(spec.target, spec.source, spec.signature_type).test_client()
        preflight = client.options(CARTS, headers=PREFLIGHT)
        refused = client.post(CARTS, json={}, headers={"Origin": PAGE})
    finally:
        ROOT.reset()

    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert refused.status_code == 400  # a refusal the page reads
    assert refused.headers["Access-Control-Allow-Origin"] == "*"


#: The HTTP functions deployed from a source file of their own (Identity's credential functions):
#: functions-framework loads their module attribute as it is, not through the composition root.
OWN_SOURCE_HTTP = [
    spec for spec in FUNCTIONS if spec.route is not None and spec.module != "functions.main"
]


@pytest.mark.parametrize("spec", OWN_SOURCE_HTTP, ids=lambda spec: spec.name)
def test_a_function_deployed_from_its_own_source_answers_the_preflight_too(
    spec: FunctionSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found after the first change: `serve` reached these through the composition root, which
    answered for them, but deployed, sign-in (the first call of any front end) answered a
    preflight 405, so no page on another origin could sign in."""
    assert spec.route is not None
    monkeypatch.chdir(HERE)
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("EVENTUALSHOP_CORS_ORIGINS", raising=False)
    ROOT.reset()
    try:
        client = create_app(spec.target, spec.source, spec.signature_type).test_client()
        path = re.sub(r"\{[A-Za-z]+\}", lambda _: str(uuid.uuid4()), spec.route.path)
        preflight = client.options(
            path, headers=PREFLIGHT | {"Access-Control-Request-Method": spec.route.method}
        )
        refused = client.open(path, method=spec.route.method, json={}, headers={"Origin": PAGE})
    finally:
        ROOT.reset()

    assert preflight.status_code == 204, preflight.get_data(as_text=True)
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert spec.route.method in preflight.headers["Access-Control-Allow-Methods"]
    assert refused.headers["Access-Control-Allow-Origin"] == "*", refused.status_code

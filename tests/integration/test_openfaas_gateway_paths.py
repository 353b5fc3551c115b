"""On OpenFaaS a client reaches a function through the gateway at ``/function/<name>/<path>``
(the function sees ``/<path>``), and the ``Location`` a command answers with must resolve there.

The finding: every command answered ``Location: /api/v1/<resources>/<id>/details``, a path of the
one API host that Knative's HTTPRoutes and ``eventualshop serve`` provide; the OpenFaaS gateway
has no such path, so a client following it got a 404. The gateway is emulated here as faas-netes
routes (the function named in the path, the rest handed on), each function configured by what
the generated ``stack.yml`` gives it, the stores embedded.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask, request
from werkzeug.wrappers import Response

from eventualshop.kernel.environment import FILE_SUFFIX
from functions.main import ROOT

HERE = Path(__file__).resolve().parents[2]
STACK: dict[str, Any] = yaml.safe_load((HERE / "stack.yml").read_text())["functions"]
#: Given to the functions by this test instead: the embedded stores and broker, no tokens.
REPLACED = {"EVENTUALSHOP_BROKER", "EVENTUALSHOP_AUTH_JWKS"}
PASSWORD = "Gateway-Paths-2026"


@pytest.fixture(autouse=True)
def _shop(shop_environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTUALSHOP_AUTH", "off")
    monkeypatch.setenv("EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY", "a key for these tests only")


def _configured_as_deployed(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The function's settings from the stack, but for the stores, the broker and the keys."""
    for variable, value in STACK[name]["environment"].items():
        ours = variable.startswith("EVENTUALSHOP_") and variable not in REPLACED
        if ours and not variable.endswith(FILE_SUFFIX):
            monkeypatch.setenv(variable, value)
    ROOT.reconfigure()


def _through_gateway(method: str, url: str, body: dict[str, Any] | None = None) -> Response:
    """``url`` on the OpenFaaS gateway: ``/function/<name>/<path>`` is function ``<name>``
    (of the stack) with the request's path ``/<path>``; anything else is the gateway's 404."""
    found = re.fullmatch(r"/function/([a-z0-9-]+)(/.*)", url)
    if found is None or found.group(1) not in STACK:
        return Response("Not Found", status=404)
    name, path = found.groups()
    with Flask(__name__).test_request_context(path, method=method, json=body):
        answer: Response = ROOT.target(name)(request)
        return answer


CASES = [
    pytest.param(
        "shopping-cart-create-cart",
        "/api/v1/shopping-carts",
        {"customerId": str(uuid.uuid4()), "currency": "USD"},
        id="cart",
    ),
    pytest.param(
        "catalog-create-catalog",
        "/api/v1/catalogs",
        {"catalogId": str(uuid.uuid4()), "title": "Keyboards", "description": "For typists"},
        id="catalog",
    ),
    pytest.param(
        "identity-sign-up",
        "/api/v1/identities/sign-up",
        {
            "firstName": "Augusta",
            "lastName": "Lovelace",
            "email": f"{uuid.uuid4().hex[:8]}@example.com",
            "password": PASSWORD,
            "passwordConfirmation": PASSWORD,
        },
        id="identity",
    ),
]


@pytest.mark.parametrize(("function", "path", "body"), CASES)
def test_a_commands_location_is_a_gateway_path_that_answers_with_its_aggregate(
    function: str, path: str, body: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _configured_as_deployed(function, monkeypatch)

    accepted = _through_gateway("POST", f"/function/{function}{path}", body)

    assert accepted.status_code == 202, accepted.get_data(as_text=True)
    location = accepted.headers["Location"]
    aggregate = accepted.get_json()["aggregateId"]
    assert re.fullmatch(rf"/function/[a-z0-9-]+/api/v1/[a-z-]+/{aggregate}(/details)?", location)
    ROOT.catch_up()  # the projectors, fed from the event store (no broker delivers here)
    answer = _through_gateway("GET", location)
    assert answer.status_code == 200, (location, answer.get_data(as_text=True))
    assert aggregate in answer.get_data(as_text=True)


def test_every_http_function_of_the_stack_answers_with_gateway_locations() -> None:
    # The same setting on every HTTP function, so no command is left with a path the gateway
    # does not have (the test above follows three of them).
    prefixes = {
        name: function["environment"].get("EVENTUALSHOP_LOCATION_PREFIX")
        for name, function in STACK.items()
        if "eventualshop.dev/route" in function["annotations"]
    }
    assert prefixes
    assert set(prefixes.values()) == {"/function/{function}"}, prefixes


@pytest.mark.parametrize(
    "prefix", ["function/{function}", "/function/{function}/", "/function/{name}", "/a b"]
)
def test_a_location_prefix_no_client_could_follow_keeps_the_functions_unready(
    prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTUALSHOP_LOCATION_PREFIX", prefix)
    ROOT.reconfigure()

    problem = ROOT.settings_problem()

    assert problem is not None
    assert problem.startswith("EVENTUALSHOP_LOCATION_PREFIX: must be empty or a path"), problem

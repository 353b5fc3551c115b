"""schemathesis against the local shop: every operation of /openapi.json, with generated valid
and invalid requests, answers no 5xx and only what the document says (status, content type,
headers, body schema).

Bounded in examples (not time): ``EXAMPLES`` per operation and mode, derandomised so a run is
reproducible. Half of the valid requests address a cart that exists, so commands reach the
domain instead of stopping at 404.

Authorization on, as by default: every request carries an admin's access token (the admin may
call every route, so a request reaches its validation and the domain instead of stopping at 401
or 403; who may do what has tests of its own). Once more with ``EVENTUALSHOP_AUTH=off``, the
original's anonymous API, with fewer examples.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from eventualshop.runtime.local import LocalShop
from eventualshop.runtime.openapi import document
from functions.identity.admin import create_admin
from functions.main import ROOT

EXAMPLES = int(os.environ.get("EVENTUALSHOP_TEST_API_EXAMPLES", "15"))
#: The anonymous API differs only in the absence of the check: a smoke run of it.
EXAMPLES_AUTH_OFF = max(1, EXAMPLES // 3)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Invalid requests need something to get wrong: an operation with no input has no negative case.
CASES = [
    (f"{method.upper()} {path}", mode)
    for path, methods in document(ROOT)["paths"].items()
    for method, operation in methods.items()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or operation["parameters"] or "requestBody" in operation
]


@dataclass
class Served:
    app: Flask
    auth: str
    headers: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module", params=["on", "off"])
def shop(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    with pytest.MonkeyPatch.context() as env:
        for name in list(os.environ):  # a developer's own settings must not leak in
            if name.startswith("EVENTUALSHOP_") and not name.startswith("EVENTUALSHOP_TEST_"):
                env.delenv(name)
        env.delenv("K_SINK", raising=False)
        data_dir: Path = tmp_path_factory.mktemp("api")
        env.setenv("EVENTUALSHOP_DATA_DIR", str(data_dir))
        env.setenv("EVENTUALSHOP_AUTH", request.param)
        env.setenv("EVENTUALSHOP_IDENTITY_PASSWORD_HASH", "cheapest")
        ROOT.reset()
        local = LocalShop(ROOT)
        local.start()
        try:
            served = Served(local.app, request.param)
            if request.param == "on":
                email, password = f"api-{uuid.uuid4().hex[:8]}@example.com", "Contract-Test-1!"
                create_admin(ROOT, email, password)
                signed_in = local.app.test_client().post(
                    "/api/v1/identities/sign-in", json={"email": email, "password": password}
                )
                assert signed_in.status_code == 200, signed_in.get_data(as_text=True)
                token = signed_in.get_json()["accessToken"]
                served.headers["Authorization"] = f"Bearer {token}"
            yield served
        finally:
            local.stop()
            ROOT.reset()


@pytest.fixture(scope="module")
def cart(shop: Served) -> str:
    answer = shop.app.test_client().post(
        "/api/v1/shopping-carts",
        json={"customerId": str(uuid.uuid4()), "currency": "USD"},
        headers=shop.headers,
    )
    assert answer.status_code == 202, answer.get_data(as_text=True)
    cart_id: str = answer.get_json()["aggregateId"]
    return cart_id


@pytest.mark.parametrize(("label", "mode"), CASES)
def test_the_shop_answers_every_generated_request_as_documented(
    shop: Served, cart: str, label: str, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", shop.app)
    operation = schema[label.split(" ", 1)[1]][label.split(" ", 1)[0]]
    strategies = [operation.as_strategy(generation_mode=mode)]
    if mode is GenerationMode.POSITIVE and "{cartId}" in operation.path:
        strategies.append(
            operation.as_strategy(generation_mode=mode, path_parameters={"cartId": cart})
        )

    @given(case=st.one_of(strategies))
    @settings(
        max_examples=EXAMPLES if shop.auth == "on" else EXAMPLES_AUTH_OFF,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        # The token wins over any Authorization header a case was generated with.
        case.call_and_validate(checks=CHECKS, headers=dict(shop.headers))

    run()

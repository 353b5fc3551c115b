"""schemathesis against the local shop: every operation of /openapi.json, with generated valid
and invalid requests, answers no 5xx and only what the document says (status, content type,
headers, body schema).

Bounded in examples (not time): ``EXAMPLES`` per operation and mode, derandomised so a run is
reproducible. Half of the valid requests address a cart that exists, so commands reach the
domain instead of stopping at 404.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
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
from functions.main import ROOT

EXAMPLES = int(os.environ.get("EVENTUALSHOP_TEST_API_EXAMPLES", "15"))
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


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    with pytest.MonkeyPatch.context() as env:
        for name in list(os.environ):  # a developer's own settings must not leak in
            if name.startswith("EVENTUALSHOP_") and not name.startswith("EVENTUALSHOP_TEST_"):
                env.delenv(name)
        env.delenv("K_SINK", raising=False)
        data_dir: Path = tmp_path_factory.mktemp("api")
        env.setenv("EVENTUALSHOP_DATA_DIR", str(data_dir))
        # The contract of the API itself; the document does not describe bearer tokens yet, so
        # this runs the original's anonymous API (authorization has tests of its own).
        env.setenv("EVENTUALSHOP_AUTH", "off")
        ROOT.reset()
        local = LocalShop(ROOT)
        local.start()
        try:
            yield local.app
        finally:
            local.stop()
            ROOT.reset()


@pytest.fixture(scope="module")
def cart(shop: Flask) -> str:
    answer = shop.test_client().post(
        "/api/v1/shopping-carts", json={"customerId": str(uuid.uuid4()), "currency": "USD"}
    )
    assert answer.status_code == 202
    cart_id: str = answer.get_json()["aggregateId"]
    return cart_id


@pytest.mark.parametrize(("label", "mode"), CASES)
def test_the_shop_answers_every_generated_request_as_documented(
    shop: Flask, cart: str, label: str, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", shop)
    operation = schema[label.split(" ", 1)[1]][label.split(" ", 1)[0]]
    strategies = [operation.as_strategy(generation_mode=mode)]
    if mode is GenerationMode.POSITIVE and "{cartId}" in operation.path:
        strategies.append(
            operation.as_strategy(generation_mode=mode, path_parameters={"cartId": cart})
        )

    @given(case=st.one_of(strategies))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=CHECKS)

    run()

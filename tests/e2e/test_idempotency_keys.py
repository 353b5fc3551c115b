"""An Idempotency-Key is bound to the request it first came with."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from eventualshop.runtime.local import LocalShop
from functions.main import ROOT

from .conftest import _forget

CARTS = "/api/v1/shopping-carts"


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FlaskClient]:
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", str(tmp_path))
    _forget()
    shop = LocalShop(ROOT)
    yield shop.app.test_client()
    shop.stop()
    _forget()


def test_the_same_key_with_the_same_request_gets_the_first_answer(client: FlaskClient) -> None:
    body = {"customerId": str(uuid.uuid4()), "currency": "USD"}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = client.post(CARTS, json=body, headers=key)
    again = client.post(CARTS, json=body, headers=key)
    assert first.status_code == again.status_code == 202
    assert again.get_json() == first.get_json() | {"duplicate": True}


def test_the_same_key_with_another_body_is_refused_and_creates_nothing(
    client: FlaskClient,
) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = client.post(
        CARTS, json={"customerId": str(uuid.uuid4()), "currency": "USD"}, headers=key
    )
    other_customer = str(uuid.uuid4())
    again = client.post(CARTS, json={"customerId": other_customer, "currency": "EUR"}, headers=key)
    assert first.status_code == 202
    assert again.status_code == 422
    assert again.mimetype == "application/problem+json"
    assert again.get_json()["code"] == "idempotency-key-reused"
    assert "Idempotency-Key" in again.get_json()["errors"]


def test_the_same_key_on_another_cart_is_refused(client: FlaskClient) -> None:
    carts = [
        client.post(CARTS, json={"customerId": str(uuid.uuid4()), "currency": "USD"}).get_json()[
            "aggregateId"
        ]
        for _ in range(2)
    ]
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = client.put(f"{CARTS}/{carts[0]}/check-out", headers=key)
    again = client.put(f"{CARTS}/{carts[1]}/check-out", headers=key)
    assert first.status_code == 409  # an empty cart: rejected, and the rejection is kept
    assert again.status_code == 422

"""A projector that failed until its retries ran out: the event waits as a dead letter, is
listed, and ``eventualshop dead-letters replay`` (LocalShop.replay) brings it to the read model."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from eventualshop.runtime.broker.binding import CloudEventMessage
from eventualshop.runtime.broker.deadletters import DeadLetter
from eventualshop.runtime.deliveries import authorization
from eventualshop.runtime.local import LocalShop
from functions.main import ROOT

from .conftest import _forget


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalShop]:
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", str(tmp_path))
    _forget()
    local = LocalShop(ROOT)
    yield local
    local.stop()
    _forget()


def cart_created(cart_id: uuid.UUID) -> CloudEventMessage:
    data = (
        f'{{"cartId":"{cart_id}","customerId":"{uuid.uuid4()}",'
        '"total":{"amount":"0.00","currency":"USD"},"status":"Active"}'
    )
    return CloudEventMessage(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "/eventualshop/shopping-cart",
            "type": "eventualshop.shopping-cart.CartCreated.v1",
            "subject": str(cart_id),
            "time": datetime.now(UTC).isoformat(),
            "datacontenttype": "application/json",
            "aggregatetype": "ShoppingCart",
            "aggregateversion": "1",
            "correlationid": "replay-test",
        },
        data.encode(),
    )


def test_a_dead_lettered_event_is_listed_then_replayed_into_the_read_model(
    shop: LocalShop,
) -> None:
    cart_id = uuid.uuid4()
    letter = DeadLetter.of(
        "shopping-cart-details",
        cart_created(cart_id),
        reason="status 500: read model unavailable",
        attempts=9,
        dead_at=datetime.now(UTC),
    )
    shop.dead_letters.add(letter)
    client = shop.app.test_client()
    assert client.get(f"/api/v1/shopping-carts/{cart_id}/details").status_code == 404
    assert [d.event_id for d in shop.dead_letters.list()] == [letter.event_id]

    assert shop.replay() == 1

    details = client.get(f"/api/v1/shopping-carts/{cart_id}/details")
    assert details.status_code == 200
    assert details.get_json()["status"] == "Active"
    assert shop.dead_letters.list() == []
    assert len(shop.dead_letters.list(include_replayed=True)) == 1


def test_an_event_a_projector_cannot_read_is_dead_lettered_under_its_trigger(
    shop: LocalShop,
) -> None:
    message = cart_created(uuid.uuid4())
    broken = CloudEventMessage(message.attributes, b'{"cartId": "not a uuid"}')
    from eventualshop.runtime.broker.binding import to_binary

    headers, body = to_binary(broken)
    answer = shop.app.test_client().post(
        "/functions/shopping-cart-details",
        headers=headers | authorization(shop.delivery_key),
        data=body,
    )

    assert answer.status_code == 200  # acknowledged: retrying cannot make it readable
    (letter,) = shop.dead_letters.list()
    assert letter.trigger == "shopping-cart-details"  # a Trigger the broker can replay to
    assert letter.reason.startswith("malformed")
    assert shop.replay() == 1


def test_a_structured_event_nested_100000_deep_is_refused_with_400_and_never_retried(
    shop: LocalShop,
) -> None:
    answer = shop.app.test_client().post(
        "/functions/shopping-cart-details",
        headers={"Content-Type": "application/cloudevents+json"} | authorization(shop.delivery_key),
        data="[" * 100_000,
    )

    assert answer.status_code == 400  # a 5xx would make the broker retry it
    assert answer.mimetype == "application/problem+json"
    assert "not valid JSON" in answer.get_json()["detail"]


def test_replaying_a_letter_replayed_before_says_so_and_sends_nothing(
    shop: LocalShop, capsys: pytest.CaptureFixture[str]
) -> None:
    # Was: "replayed 0 dead letters", as if the id matched nothing to replay.
    from functions.main import cli

    shop.dead_letters.add(
        DeadLetter.of(
            "shopping-cart-details",
            cart_created(uuid.uuid4()),
            reason="status 500: read model unavailable",
            attempts=9,
            dead_at=datetime.now(UTC),
        )
    )
    (letter,) = shop.dead_letters.list()
    assert cli(["dead-letters", "replay", str(letter.id)]) == 0
    assert capsys.readouterr().out.strip() == "replayed 1 dead letters"

    assert cli(["dead-letters", "replay", str(letter.id)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "replayed 0 dead letters"
    assert err.strip().startswith(f"eventualshop: dead letter {letter.id} was replayed before, at ")
    assert len(shop.dead_letters.list(include_replayed=True)) == 1

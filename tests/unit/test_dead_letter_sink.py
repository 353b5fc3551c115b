"""The dead-letter sink keeps what a Trigger gave up on, whatever the sender named it, and
never more than its limit: served as the image serves it (``runtime.entry.create_app``)."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from eventualshop.runtime.entry import create_app
from functions.main import ROOT

HERE = Path(__file__).resolve().parents[2]
LIMIT = 1024 * 1024  # what the sink says a dead letter may hold


@pytest.fixture
def sink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FlaskClient]:
    monkeypatch.chdir(HERE)
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", str(tmp_path))
    for name in ("EVENTUALSHOP_BROKER", "EVENTUALSHOP_EVENT_STORE_URL", "K_SINK"):
        monkeypatch.delenv(name, raising=False)
    ROOT.reset()
    yield create_app("keep", "functions/platform/dead_letters.py", "http").test_client()
    ROOT.reset()


def failed_event(**attributes: str) -> dict[str, str]:
    """The headers of what a Knative dispatcher POSTs to the sink (binary mode)."""
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "e-1",
        "ce-source": "/eventualshop/shopping-cart",
        "ce-type": "eventualshop.shopping-cart.CartCreated",
        "ce-knativeerrorcode": "500",
        "ce-knativeerrordata": base64.b64encode(b"the projector failed").decode(),
        "Content-Type": "application/json",
    }
    return headers | {f"ce-{name}": value for name, value in attributes.items()}


def kept() -> list[tuple[str, str, str]]:
    return [(d.event_id, d.event_type, d.reason) for d in ROOT.dead_letter_store().list()]


def test_a_failed_event_is_kept_with_why_it_failed(sink: FlaskClient) -> None:
    answer = sink.post("/?trigger=cart-details", data=b'{"cartId": 1}', headers=failed_event())

    assert answer.status_code == 202, answer.get_data(as_text=True)
    assert kept() == [
        ("e-1", "eventualshop.shopping-cart.CartCreated", "status 500: the projector failed")
    ]


def test_an_id_and_a_type_longer_than_their_columns_are_kept(sink: FlaskClient) -> None:
    # Was a 400 for the id (and a 500 on PostgreSQL for the type): the event was kept nowhere.
    headers = failed_event(id="i" * 300, type="t" * 300)

    answer = sink.post("/?trigger=cart-details", data=b"{}", headers=headers)

    assert answer.status_code == 202, answer.get_data(as_text=True)
    [(event_id, event_type, _)] = kept()
    assert (event_id, event_type) == ("i" * 255, "t" * 255)
    [letter] = ROOT.dead_letter_store().list()
    assert letter.attributes["id"] == "i" * 300


@pytest.mark.parametrize("chunked", [False, True], ids=["with-a-length", "chunked"])
def test_a_body_over_the_limit_is_a_413_and_nothing_is_kept(
    sink: FlaskClient, chunked: bool
) -> None:
    # Was: a chunked body had no Content-Length to check, and 5 MiB were kept.
    body = b"x" * (LIMIT + 1)
    headers = failed_event() | {"Content-Type": "text/plain"}
    if chunked:  # no Content-Length: the server marks the input as ending (gunicorn does)
        answer = sink.post(
            "/?trigger=cart-details",
            input_stream=io.BytesIO(body),
            headers=headers | {"Transfer-Encoding": "chunked"},
            environ_overrides={"wsgi.input_terminated": True},
        )
    else:
        answer = sink.post("/?trigger=cart-details", data=body, headers=headers)

    assert answer.status_code == 413, answer.get_data(as_text=True)
    assert answer.mimetype == "application/problem+json"
    assert kept() == []


def test_a_trigger_named_twice_is_a_400_and_nothing_is_kept(sink: FlaskClient) -> None:
    # Was: the first of them taken, so a replay went to a Trigger the sender may not have meant.
    answer = sink.post("/?trigger=a&trigger=b", headers=failed_event(), data=b"{}")

    assert answer.status_code == 400
    assert answer.get_json()["errors"] == {"trigger": ["must be sent once"]}
    assert kept() == []

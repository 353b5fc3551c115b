"""A deployed function the dispatcher delivers to (a Trigger's, the dead-letter sink) takes a POST
only with the delivery key where ``EVENTUALSHOP_DELIVERY_KEY`` is set: served as the image serves
it (``runtime.entry.create_app``), as on OpenFaaS, whose gateway answers ``/function/<name>`` to
anyone. Not where the Knative Broker delivers (it cannot send the key), nor where no key is set.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from eventualshop.catalog.read_models import GRID
from eventualshop.runtime.entry import create_app, root_of
from functions.main import ROOT
from tests.fixtures.deliveries import catalog_created, failed_event

HERE = Path(__file__).resolve().parents[2]
KEY = "a-delivery-key-from-a-secret-0123456789"


@pytest.fixture(autouse=True)
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(HERE)
    for name in list(os.environ):
        if name.startswith(("EVENTUALSHOP_", "K_SINK", "FUNCTION_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", str(tmp_path))
    ROOT.reset()
    yield
    ROOT.reset()


def served(name: str) -> Flask:
    spec = ROOT.function(name)
    return create_app(spec.target, str(HERE / spec.source), spec.signature_type)


def grid() -> list[dict[str, object]]:
    return list(ROOT.read_model_store().find(GRID))


@pytest.mark.parametrize(
    "sent",
    [{}, {"Authorization": "Bearer not-the-delivery-key-0123456789"}],
    ids=["anonymous", "wrong key"],
)
def test_with_a_key_set_a_projector_and_the_sink_refuse_a_post_without_it(
    sent: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTUALSHOP_DELIVERY_KEY", KEY)
    monkeypatch.setenv("EVENTUALSHOP_BROKER", "rabbitmq")  # as stack.yml sets it
    projector, sink = served("catalog-grid"), served("dead-letters")
    headers, body = catalog_created(uuid.uuid4())
    try:
        projected = projector.test_client().post("/", headers=headers | sent, data=body)
        kept = sink.test_client().post("/?trigger=x", headers=failed_event() | sent, data=b"{}")
        for answer in (projected, kept):
            assert answer.status_code == 401, answer.get_data(as_text=True)
            assert answer.mimetype == "application/problem+json"
            assert answer.headers["WWW-Authenticate"].startswith("Bearer ")
        assert grid() == []
        assert ROOT.dead_letter_store().list(include_replayed=True) == []
        # The probes are GETs, and answer without it.
        assert projector.test_client().get("/health/liveness").status_code == 200
    finally:
        root_of(projector).reset()


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "GET"])
def test_with_a_key_set_the_sink_refuses_any_method_without_it(
    method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Was: only a POST was asked for the key; the sink, an HTTP function, kept a PUT (or a
    # GET) without it as a letter (202).
    monkeypatch.setenv("EVENTUALSHOP_DELIVERY_KEY", KEY)
    monkeypatch.setenv("EVENTUALSHOP_BROKER", "rabbitmq")
    sink = served("dead-letters")
    try:
        answer = sink.test_client().open(
            "/?trigger=x", method=method, headers=failed_event(), data=b"{}"
        )
        keyed = sink.test_client().open(
            "/?trigger=x",
            method=method,
            headers=failed_event() | {"Authorization": f"Bearer {KEY}"},
            data=b"{}",
        )
    finally:
        root_of(sink).reset()
    assert answer.status_code == 401, answer.get_data(as_text=True)
    assert keyed.status_code == 405  # with the key, still only a POST is a letter
    assert ROOT.dead_letter_store().list(include_replayed=True) == []


def test_with_the_key_a_projector_projects_and_the_sink_keeps(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "eventualshop-delivery-key"  # as OpenFaaS mounts it
    secret.write_text(KEY + "\n")
    monkeypatch.setenv("EVENTUALSHOP_DELIVERY_KEY_FILE", str(secret))
    monkeypatch.setenv("EVENTUALSHOP_BROKER", "rabbitmq")
    projector, sink = served("catalog-grid"), served("dead-letters")
    catalog = uuid.uuid4()
    headers, body = catalog_created(catalog)
    key = {"Authorization": f"Bearer {KEY}"}
    try:
        projected = projector.test_client().post("/", headers=headers | key, data=body)
        kept = sink.test_client().post("/?trigger=x", headers=failed_event() | key, data=b"{}")
    finally:
        root_of(projector).reset()
    assert projected.status_code == 200, projected.get_data(as_text=True)
    assert kept.status_code == 202, kept.get_data(as_text=True)
    assert [d["id"] for d in grid()] == [str(catalog)]


@pytest.mark.parametrize(
    "environment",
    [
        {"EVENTUALSHOP_BROKER": "knative", "EVENTUALSHOP_DELIVERY_KEY": KEY},
        {"EVENTUALSHOP_BROKER": "knative"},
    ],
    ids=["knative, a key set all the same", "no key set"],
)
def test_where_the_broker_cannot_send_the_key_none_is_asked_for(
    environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("K_SINK", "http://broker-ingress.example/eventualshop")
    sink = served("dead-letters")
    try:
        kept = sink.test_client().post("/?trigger=x", headers=failed_event(), data=b"{}")
    finally:
        root_of(sink).reset()
    assert kept.status_code == 202, kept.get_data(as_text=True)


def test_a_scheduled_function_ticks_on_the_cron_connectors_post_without_a_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The cron-connector cannot send a header, and a tick takes nothing from the request.
    monkeypatch.setenv("EVENTUALSHOP_DELIVERY_KEY", KEY)
    sweep = served("timer-sweep")
    try:
        answer = sweep.test_client().post("/")
    finally:
        root_of(sweep).reset()
    assert answer.status_code == 200, answer.get_data(as_text=True)

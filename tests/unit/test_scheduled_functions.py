"""The scheduled functions (the outbox sweep, the timer sweep) run on their platform's clock.

Knative's PingSource sends them a CloudEvent. OpenFaaS's cron-connector, which the generated
``stack.yml`` names in their ``topic``/``schedule`` annotations, posts an empty body with no
header at all to the gateway's ``/function/<name>`` (``InvokeFunction`` in
openfaas/cron-connector's ``types/cron_function.go``), and functions-framework refused that as
no CloudEvent: on OpenFaaS nothing published what the relay could not and no timer ever fired.
Each function is loaded here as its image loads it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from eventualshop.runtime.entry import create_app, root_of
from eventualshop.runtime.registry import FunctionKind, FunctionSpec
from functions.main import ROOT
from functions.registry import FUNCTIONS

HERE = Path(__file__).resolve().parents[2]
SCHEDULED = [spec for spec in FUNCTIONS if spec.kind is FunctionKind.SCHEDULED]
#: What each scheduled target asks its composition root to do.
WORK = {"outbox-sweep": "sweep", "timer-sweep": "fire_timers"}


@pytest.fixture(autouse=True)
def _own_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(HERE)
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", str(tmp_path))
    for name in ("EVENTUALSHOP_BROKER", "EVENTUALSHOP_EVENT_STORE_URL", "K_SINK"):
        monkeypatch.delenv(name, raising=False)
    ROOT.reset()
    yield
    ROOT.reset()


def _app(spec: FunctionSpec, monkeypatch: pytest.MonkeyPatch) -> tuple[Flask, list[str]]:
    """The function's app, its root's work replaced by a count of the calls."""
    app = create_app(spec.target, spec.source, spec.signature_type)
    calls: list[str] = []

    def work() -> int:
        calls.append(spec.name)
        return 3

    monkeypatch.setattr(root_of(app), WORK[spec.name], work)
    return app, calls


def test_every_scheduled_function_is_known_here() -> None:
    assert sorted(spec.name for spec in SCHEDULED) == sorted(WORK)


@pytest.mark.parametrize("spec", SCHEDULED, ids=lambda spec: spec.name)
def test_the_cron_connectors_empty_post_runs_the_function(
    spec: FunctionSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, calls = _app(spec, monkeypatch)
    answer = app.test_client().post("/", data=b"")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json() == {"function": spec.name, "done": 3}
    assert calls == [spec.name]


@pytest.mark.parametrize("spec", SCHEDULED, ids=lambda spec: spec.name)
def test_the_ping_sources_cloudevent_still_runs_it_once(
    spec: FunctionSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, calls = _app(spec, monkeypatch)
    headers = {
        "ce-specversion": "1.0",
        "ce-id": str(uuid.uuid4()),
        "ce-source": "/apis/v1/namespaces/eventualshop/pingsources/" + spec.name,
        "ce-type": "dev.knative.sources.ping",
        "Content-Type": "application/json",
    }
    answer = app.test_client().post("/", data=b"{}", headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert calls == [spec.name]


def test_a_function_that_is_not_scheduled_still_refuses_a_post_that_is_no_cloudevent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    projector = next(s for s in FUNCTIONS if s.kind is FunctionKind.PROJECTOR)
    app = create_app(projector.target, projector.source, projector.signature_type)
    answer = app.test_client().post("/", data=b"")
    assert 400 <= answer.status_code < 500


@pytest.mark.parametrize("spec", SCHEDULED, ids=lambda spec: spec.name)
def test_a_get_is_not_a_tick(spec: FunctionSpec, monkeypatch: pytest.MonkeyPatch) -> None:
    app, calls = _app(spec, monkeypatch)
    app.test_client().get("/")
    assert calls == []

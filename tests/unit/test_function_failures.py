"""Every deployed function logs one JSON object per line, and answers a failure that is not the
request's as the local server does: a dependency that cannot be reached is a 503 problem with
``Retry-After`` and one log line; anything else a 500 problem.

The finding: only the functions served from ``functions/main.py`` installed the JSON log handler
(its module ``__getattr__`` did, as functions-framework asked it for the target). The fourteen
others, Identity's credential functions, the sagas, the availability projector and the platform
jobs, have their own source files, so they logged in Python's plain format, several lines per
error (pika alone writes seven per refused connection). And an outbox sweep whose database was
down answered a 500 HTML page, its traceback in a dozen plain lines, every minute.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from eventualshop.kernel.errors import DeliverLater
from eventualshop.runtime.entry import create_app
from eventualshop.runtime.logs import QUIET_LEVELS
from eventualshop.runtime.registry import FunctionSpec
from functions.main import ROOT
from functions.registry import FUNCTIONS
from tests.ports import closed_port

HERE = Path(__file__).resolve().parents[2]
#: The functions with a source file of their own (not ``functions/main.py``).
OWN_SOURCE = [spec for spec in FUNCTIONS if spec.module != "functions.main"]
SCHEDULED_BY_NAME = {spec.name: spec for spec in FUNCTIONS if spec.schedule}


@pytest.fixture(autouse=True)
def _fresh_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[logging.Logger]:
    """The logging of a process that has configured nothing yet, as a function's image starts."""
    monkeypatch.chdir(HERE)
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", str(tmp_path))
    for name in ("EVENTUALSHOP_BROKER", "EVENTUALSHOP_EVENT_STORE_URL", "K_SINK"):
        monkeypatch.delenv(name, raising=False)
    root_logger = logging.getLogger()
    monkeypatch.setattr(root_logger, "handlers", [])
    monkeypatch.setattr(root_logger, "level", logging.WARNING)
    for name in QUIET_LEVELS:
        monkeypatch.setattr(logging.getLogger(name), "level", logging.NOTSET)
    ROOT.reset()
    yield root_logger
    ROOT.reset()


def _json_lines(err: str) -> list[dict[str, object]]:
    lines = [line for line in err.splitlines() if line.strip()]
    for line in lines:
        assert line.startswith("{"), f"a line that is no JSON object: {line!r}\n{err}"
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize("spec", OWN_SOURCE, ids=lambda spec: spec.name)
def test_a_function_with_a_source_of_its_own_logs_json_lines(
    spec: FunctionSpec, capsys: pytest.CaptureFixture[str]
) -> None:
    create_app(spec.target, spec.source, spec.signature_type)
    capsys.readouterr()

    logging.getLogger("eventualshop.probe").warning("a first line\nand a second")

    (entry,) = _json_lines(capsys.readouterr().err)
    assert entry["level"] == "WARNING"
    assert entry["message"] == "a first line\nand a second"
    assert logging.getLogger("pika").level == QUIET_LEVELS["pika"]


@pytest.mark.parametrize("name", sorted(SCHEDULED_BY_NAME))
def test_a_sweep_whose_database_is_down_answers_503_and_logs_one_line(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = SCHEDULED_BY_NAME[name]
    url = f"postgresql://shop:s3cret@127.0.0.1:{closed_port()}/shop"
    monkeypatch.setenv("EVENTUALSHOP_EVENT_STORE_URL", url)
    monkeypatch.setenv("EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY", "a key for these tests only")
    app = create_app(spec.target, spec.source, spec.signature_type)
    capsys.readouterr()

    answer = app.test_client().post("/", data=b"")  # OpenFaaS's cron-connector

    assert answer.status_code == 503, answer.get_data(as_text=True)
    assert answer.mimetype == "application/problem+json"
    assert answer.headers["Retry-After"]
    assert answer.get_json()["code"] == "database-unavailable"
    (entry,) = _json_lines(capsys.readouterr().err)
    assert "database unavailable" in str(entry["message"]), entry
    assert "s3cret" not in json.dumps(entry)


def test_an_unexpected_error_in_a_function_is_a_500_problem_with_its_traceback_logged(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = SCHEDULED_BY_NAME["outbox-sweep"]
    app = create_app(spec.target, spec.source, spec.signature_type)

    def broken() -> int:
        raise ZeroDivisionError("a defect of ours")

    monkeypatch.setattr(ROOT, "sweep", broken)
    capsys.readouterr()

    answer = app.test_client().post("/", data=b"")

    assert answer.status_code == 500
    assert answer.mimetype == "application/problem+json"
    assert "ZeroDivisionError" not in answer.get_data(as_text=True)
    (entry,) = _json_lines(capsys.readouterr().err)
    assert entry["level"] == "ERROR"
    assert "ZeroDivisionError: a defect of ours" in str(entry["error"])


PROJECTORS = [spec for spec in FUNCTIONS if spec.subscriptions and spec.schedule is None]


def test_a_post_that_is_no_cloudevent_is_a_problem_that_repeats_none_of_the_request(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Was: functions-framework's HTML 400, "Got HTTP headers: … Got data: …", which quoted the
    # request's headers (its bearer token) and body back.
    spec = PROJECTORS[0]
    app = create_app(spec.target, spec.source, spec.signature_type)

    answer = app.test_client().post(
        "/",
        json={"card": "4539 1488 0343 6467"},
        headers={"Authorization": "Bearer a-token-of-the-caller"},
    )

    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert answer.mimetype == "application/problem+json"
    text = answer.get_data(as_text=True)
    assert "a-token-of-the-caller" not in text
    assert "4539" not in text
    assert "a-token-of-the-caller" not in capsys.readouterr().err


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_an_http_error_of_the_framework_is_a_problem_with_its_own_words(method: str) -> None:
    spec = PROJECTORS[0]
    app = create_app(spec.target, spec.source, spec.signature_type)

    answer = app.test_client().open("/", method=method)

    assert answer.status_code == 405, answer.get_data(as_text=True)
    assert answer.mimetype == "application/problem+json"
    assert answer.get_json()["detail"] == "The method is not allowed for the requested URL."
    assert answer.headers["Allow"]


def test_the_log_line_of_a_broker_that_refuses_says_why(caplog: pytest.LogCaptureFixture) -> None:
    # Was: "… broker unavailable: AMQPConnectionError: " with nothing after it.
    from eventualshop.runtime.broker.amqp import connect
    from eventualshop.runtime.unavailable import out_of_service

    try:
        connect(f"amqp://guest:guest@127.0.0.1:{closed_port()}/%2F")
    except Exception as error:
        refused = error

    with (
        caplog.at_level(logging.WARNING, logger="eventualshop.unavailable"),
        Flask(__name__).test_request_context("/api/v1/shopping-carts", method="POST"),
    ):
        answer = out_of_service("CreateCart", refused)

    assert answer is not None
    assert answer.status_code == 503
    (line,) = [r.getMessage() for r in caplog.records if r.name == "eventualshop.unavailable"]
    assert line.endswith("broker unavailable: AMQPConnectionError: [Errno 111] Connection refused")


#: Bodies a sender can POST that are no readable CloudEvent, as (headers, body). Found by a probe
#: of the image's app: each was a 500 with a traceback, which Knative retries as if the function
#: had failed, instead of the 400 that ``serve`` answers and Knative does not retry.
_BINARY = {"ce-specversion": "1.0", "ce-id": "e-1", "ce-source": "/probe", "ce-type": "probe"}
UNREADABLE = {
    "a structured body that is a JSON array": (
        {"Content-Type": "application/cloudevents+json"},
        b"[1, 2]",
    ),
    "a structured body that is not UTF-8": (
        {"Content-Type": "application/cloudevents+json"},
        b'{"specversion": "1.0", "id": "\xff"}',
    ),
    "a structured body nested too deeply": (
        {"Content-Type": "application/cloudevents+json"},
        b'{"specversion": "1.0", "id": "e", "source": "/p", "type": "t", "data": '
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}",
    ),
    "binary JSON data nested too deeply": (
        _BINARY | {"Content-Type": "application/json"},
        b"[" * 100_000,
    ),
    "the batched content mode": (
        {"Content-Type": "application/cloudevents-batch+json"},
        b'[{"specversion": "1.0", "id": "e", "source": "/p", "type": "t"}]',
    ),
    "specversion 0.3": (_BINARY | {"ce-specversion": "0.3"}, b""),
}


@pytest.mark.parametrize("spec", PROJECTORS, ids=lambda spec: spec.name)
@pytest.mark.parametrize("sent", UNREADABLE.values(), ids=list(UNREADABLE))
def test_a_body_that_is_no_readable_cloudevent_is_a_400_problem_not_retried(
    spec: FunctionSpec,
    sent: tuple[dict[str, str], bytes],
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = create_app(spec.target, spec.source, spec.signature_type)
    capsys.readouterr()
    headers, body = sent

    answer = app.test_client().post("/", data=body, headers=headers)

    assert answer.status_code == 400, answer.get_data(as_text=True)[:300]
    assert answer.mimetype == "application/problem+json"
    assert answer.get_json()["detail"]
    assert "Traceback" not in capsys.readouterr().err


class _Raising:
    def __init__(self, spec: FunctionSpec, error: Exception) -> None:
        self.spec = spec
        self.error = error

    def __call__(self, _event: object) -> None:
        raise self.error


@pytest.mark.parametrize(
    ("error", "status"),
    [(DeliverLater("its predecessor is not applied yet"), 503), (ValueError("a bug"), 500)],
)
def test_the_in_process_broker_is_answered_as_a_deployed_function_answers(
    error: Exception, status: int
) -> None:
    # Was: 500 for an event that came early, where a deployed function answers 503
    # delivered-early (the retry log said "status 500").
    from eventualshop.runtime.broker.binding import CloudEventMessage
    from eventualshop.runtime.local import DirectSubscriber

    spec = next(s for s in FUNCTIONS if s.subscriptions)
    subscriber = DirectSubscriber(ROOT, spec)
    subscriber.target = _Raising(spec, error)  # type: ignore[assignment]
    message = CloudEventMessage(
        {"specversion": "1.0", "id": "e-1", "source": "/t", "type": "t"}, b"{}"
    )

    assert subscriber(message) == status

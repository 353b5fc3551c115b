"""Every deployed function answers the probes of its platform, through the one entry point.

The finding (issue 9): under functions-framework alone, ``/healthz``, ``/health/readiness`` and
``/_/ready`` answered 405 (commands, projectors, the sweep) or 404 (queries), so no revision or
pod ever became Ready. Each target here is loaded as its image loads it: ``create_app`` with the
source, the target and the signature type of its deployment.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import functions_framework
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from eventualshop.runtime import health
from eventualshop.runtime.entry import create_app
from eventualshop.runtime.registry import FunctionSpec
from functions.main import ROOT
from functions.registry import FUNCTIONS

PROBES = (*health.LIVENESS_PATHS, *health.READINESS_PATHS)
HERE = Path(__file__).resolve().parents[2]
CONFIGURATION = (
    "EVENTUALSHOP_BROKER",
    "EVENTUALSHOP_EVENT_STORE_URL",
    "EVENTUALSHOP_READ_MODEL_URL",
    "EVENTUALSHOP_RABBITMQ_URL",
    "K_SINK",
    "EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY",
)


@pytest.fixture(autouse=True)
def _own_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(HERE)
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", str(tmp_path))
    for name in CONFIGURATION:
        monkeypatch.delenv(name, raising=False)
    ROOT.reset()
    yield
    ROOT.reset()
    while _LOADED:  # functions-framework loads functions/main.py afresh: a Root per app
        _LOADED.pop().extensions["eventualshop"].reset()


_LOADED: list[Flask] = []


def _app(spec: FunctionSpec) -> Flask:
    app = create_app(spec.target, spec.source, spec.signature_type)
    _LOADED.append(app)
    return app


def _ids(spec: FunctionSpec) -> str:
    return spec.name


def _probe(client: FlaskClient, path: str) -> TestResponse:
    """As the platform probes: again while a store is still opening (a first open migrates the
    schema), a bounded number of times."""
    for _ in range(100):
        answer = client.get(path)
        if answer.status_code != 503 or answer.get_json()["status"] != "unavailable":
            break
    return answer


@pytest.mark.parametrize("spec", FUNCTIONS, ids=_ids)
def test_every_function_answers_every_probe_through_the_entry_point(spec: FunctionSpec) -> None:
    client = _app(spec).test_client()
    for path in PROBES:
        answer = _probe(client, path)
        assert answer.status_code == 200, (path, answer.get_data(as_text=True))
        assert answer.get_json()["function"] == spec.name


def test_without_the_entry_point_functions_framework_answers_no_probe() -> None:
    """The finding, kept as the reason for the entry point: if this starts passing, the
    framework learned health paths and the entry point may shrink."""
    command = next(s for s in FUNCTIONS if s.signature_type == "http" and s.route is not None)
    projector = next(s for s in FUNCTIONS if s.subscriptions)
    for spec in (command, projector):
        client = functions_framework.create_app(
            spec.target, spec.source, spec.signature_type
        ).test_client()
        assert client.get("/health/readiness").status_code in (404, 405)


def test_the_function_still_answers_its_own_route_beside_the_probes() -> None:
    spec = next(s for s in FUNCTIONS if s.derived == "query:get_cart_details")
    assert spec.route is not None
    path = spec.route.path.replace("{cartId}", "6f1c2d3e-0000-4000-8000-000000000001")
    answer = _app(spec).test_client().get(path)
    assert answer.status_code == 404
    assert answer.mimetype == "application/problem+json"


@pytest.mark.parametrize("path", ["", "//", "//api/v1/shopping-carts"])
@pytest.mark.parametrize("derived", ["query:get_cart_details", "command:CreateCart"])
def test_no_path_is_a_redirect_built_from_the_host(derived: str, path: str) -> None:
    """An empty path (gunicorn's for the request target ``http://host``) was a 308 HTML page to
    /, its Location built from the Host header the client sent; a // never was (werkzeug strips
    leading slashes, /<path:path> takes the rest), and must not become one."""
    spec = next(s for s in FUNCTIONS if s.derived == derived)
    client = _app(spec).test_client()
    answer = client.get("/", environ_overrides={"PATH_INFO": path}, headers={"Host": "evil.x"})
    assert answer.status_code in (404, 405), answer.get_data(as_text=True)
    assert answer.mimetype == "application/problem+json"
    assert "Location" not in answer.headers


def test_a_command_in_a_pod_without_its_configuration_is_not_ready_and_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("EVENTUALSHOP_BROKER", "knative")
    spec = next(s for s in FUNCTIONS if s.derived == "command:AddCartItem")
    with caplog.at_level(logging.ERROR, logger="eventualshop.entry"):
        client = _app(spec).test_client()
    lines = [r.getMessage() for r in caplog.records if r.name == "eventualshop.entry"]
    assert lines == [
        f"function {spec.name} is not ready: set EVENTUALSHOP_EVENT_STORE_URL, K_SINK, "
        "EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY"
    ]
    assert client.get("/health/liveness").status_code == 200
    ready = client.get("/health/readiness")
    assert ready.status_code == 503
    assert ready.headers["Retry-After"]
    assert ready.get_json()["set"] == [
        "EVENTUALSHOP_EVENT_STORE_URL",
        "K_SINK",
        "EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY",
    ]


ADD_CART_ITEM = "shopping-cart-add-cart-item"
A_URL = "bogus://user:s3cret@db.example/shop"
NO_EVENT_STORE = "mongodb://user:s3cret@127.0.0.1/shop"


@pytest.mark.parametrize(
    ("function", "variable", "value", "never"),
    [
        (ADD_CART_ITEM, "EVENTUALSHOP_EVENT_STORE_URL", A_URL, "s3cret"),
        (ADD_CART_ITEM, "EVENTUALSHOP_ACCOUNT_EVENT_STORE_URL", NO_EVENT_STORE, "s3cret"),
        (ADD_CART_ITEM, "EVENTUALSHOP_BROKER", "kafka", "kafka"),
        # A setting of the function's own context, read by its configure hook. Was: ready, and
        # then every request answered 500 (Identity) or 503, the probe none the wiser.
        ("identity-sign-in", "EVENTUALSHOP_IDENTITY_ACCESS_TOKEN_SECONDS", "-5", "-5"),
        ("identity-sign-up", "EVENTUALSHOP_IDENTITY_SIGN_IN_ATTEMPTS", "-1", "-1"),
        ("warehouse-create-inventory", "EVENTUALSHOP_WAREHOUSE_RESERVATION_TIME", "soon", "soon"),
        # Was: a ValueError from the cart's configure hook, the worker failing to boot.
        (ADD_CART_ITEM, "EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY", "short", "short"),
        # Keys it could not use: every sign-in failed, every token was "not valid".
        ("identity-sign-in", "EVENTUALSHOP_AUTH_SIGNING_KEY", "not a key", "not a key"),
        (ADD_CART_ITEM, "EVENTUALSHOP_AUTH_JWKS", '{"keys": [{"kid": "k", "kty": "RSA"}]}', "RSA"),
    ],
)  # fmt: skip
def test_a_function_with_a_setting_it_cannot_use_is_not_ready_and_says_which(
    function: str,
    variable: str,
    value: str,
    never: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Was: the worker failed to boot with a traceback (the image's entry read the settings), and
    # functions-framework's own command answered every request 500 with a traceback logged.
    monkeypatch.setenv(variable, value)
    spec = next(s for s in FUNCTIONS if s.name == function)
    with caplog.at_level(logging.ERROR, logger="eventualshop.entry"):
        client = _app(spec).test_client()
    lines = [r.getMessage() for r in caplog.records if r.name == "eventualshop.entry"]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"function {spec.name} is not ready: {variable}: "), lines
    assert client.get("/health/liveness").status_code == 200
    ready = client.get("/health/readiness")
    assert ready.status_code == 503
    body = ready.get_json()
    assert body["status"] == "misconfigured"
    (invalid,) = body["invalid"]
    assert invalid.startswith(f"{variable}: "), invalid
    assert never not in ready.get_data(as_text=True) + lines[0]


def test_a_configure_hook_that_fails_on_a_bug_leaves_the_function_up_and_unready(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_surroundings: object) -> None:
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr("eventualshop.warehouse.settings.configure", broken)
    spec = next(s for s in FUNCTIONS if s.name == "warehouse-create-inventory")
    with caplog.at_level(logging.ERROR):
        client = _app(spec).test_client()  # the worker boots
        ready = client.get("/health/readiness")

    assert client.get("/health/liveness").status_code == 200
    assert ready.status_code == 503
    assert ready.get_json()["invalid"] == [
        "configuring warehouse failed (the function's log has the traceback)"
    ]
    assert any(r.exc_info and "a bug of ours" in str(r.exc_info[1]) for r in caplog.records)


def test_a_function_that_never_reads_its_contexts_settings_is_not_held_to_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A cart query gets no card-token key in a deployment: its readiness must not ask for one.
    monkeypatch.setenv("EVENTUALSHOP_BROKER", "knative")
    monkeypatch.setenv("EVENTUALSHOP_READ_MODEL_URL", "mongodb://127.0.0.1:1/shop")
    spec = next(s for s in FUNCTIONS if s.derived == "query:get_cart_details")

    assert health.context_problem(ROOT, spec) is None
    command = next(s for s in FUNCTIONS if s.derived == "command:AddCartItem")
    assert "EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY" in (
        health.context_problem(ROOT, command) or ""
    )


def test_a_misconfigured_function_opens_no_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTUALSHOP_BROKER", "knative")
    spec = next(s for s in FUNCTIONS if s.subscriptions)
    client = _app(spec).test_client()
    assert client.get("/_/ready").status_code == 503
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("derived", "needed"),
    [
        ("query:get_cart_details", ["EVENTUALSHOP_READ_MODEL_URL"]),
        (
            "projector:shopping-cart-details",
            ["EVENTUALSHOP_EVENT_STORE_URL", "EVENTUALSHOP_READ_MODEL_URL"],
        ),
        (None, ["EVENTUALSHOP_EVENT_STORE_URL", "EVENTUALSHOP_RABBITMQ_URL"]),
    ],
)
def test_each_function_asks_only_for_what_it_uses(
    derived: str | None, needed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTUALSHOP_BROKER", "rabbitmq")
    spec = next(
        s for s in FUNCTIONS if s.derived == derived and (derived or s.name == "outbox-sweep")
    )
    answer = _app(spec).test_client().get("/health/readiness")
    assert answer.status_code == 503
    assert answer.get_json()["set"] == needed


def test_a_contexts_own_event_store_is_the_store_its_functions_need(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Was: a projector given only EVENTUALSHOP_SHOPPING_CART_EVENT_STORE_URL still asked for
    # the shared EVENTUALSHOP_EVENT_STORE_URL, which it would not use.
    monkeypatch.setenv("EVENTUALSHOP_BROKER", "rabbitmq")
    monkeypatch.setenv(
        "EVENTUALSHOP_SHOPPING_CART_EVENT_STORE_URL", "postgresql://nobody@127.0.0.1:1/none"
    )
    spec = next(s for s in FUNCTIONS if s.derived == "projector:shopping-cart-details")

    answer = _app(spec).test_client().get("/health/readiness")

    assert answer.status_code == 503
    assert answer.get_json()["set"] == ["EVENTUALSHOP_READ_MODEL_URL"]


def test_a_configured_function_whose_store_does_not_answer_is_not_ready(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Port 9 (discard) on the loopback: nothing listens, so the connect is refused at once.
    monkeypatch.setenv("EVENTUALSHOP_BROKER", "knative")
    monkeypatch.setenv("K_SINK", "http://127.0.0.1:9/")
    monkeypatch.setenv("EVENTUALSHOP_EVENT_STORE_URL", "postgresql://postgres@127.0.0.1:9/none")
    monkeypatch.setenv("EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY", "k" * 32)
    monkeypatch.setenv("EVENTUALSHOP_AUTH", "off")  # no token check: no read-model store needed
    spec = next(s for s in FUNCTIONS if s.derived == "command:CreateCart")
    client = _app(spec).test_client()
    ready = client.get("/_/ready")
    assert ready.status_code == 503
    assert ready.get_json()["unreachable"] == ["event store of shopping-cart"]
    assert client.get("/_/health").status_code == 200


@pytest.mark.parametrize(
    ("given", "needed"),
    [
        ({}, ["EVENTUALSHOP_AUTH_JWKS"]),
        ({"EVENTUALSHOP_AUTH_JWKS": '{"keys": []}'}, []),
        ({"EVENTUALSHOP_AUTH": "off"}, []),
    ],
    ids=["no-public-keys", "public-keys", "auth-off"],
)
def test_a_route_that_checks_tokens_needs_the_public_keys_outside_the_embedded_shop(
    given: dict[str, str], needed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without them it would verify with a key of its own making and refuse Identity's tokens.
    monkeypatch.setenv("EVENTUALSHOP_BROKER", "rabbitmq")
    monkeypatch.setenv("EVENTUALSHOP_READ_MODEL_URL", "memory:")
    monkeypatch.setenv("EVENTUALSHOP_AUTH", "on")
    for name, value in given.items():
        monkeypatch.setenv(name, value)
    owner_only = next(s for s in FUNCTIONS if s.derived == "query:get_cart_details")
    storefront = next(s for s in FUNCTIONS if s.access == "anonymous" and s.derived)

    assert (
        _app(owner_only).test_client().get("/health/readiness").get_json().get("set", []) == needed
    )
    assert "EVENTUALSHOP_AUTH_JWKS" not in (
        _app(storefront).test_client().get("/health/readiness").get_json().get("set", [])
    )


@pytest.mark.parametrize(("auth", "needed"), [("on", ["EVENTUALSHOP_READ_MODEL_URL"]), ("off", [])])
def test_a_command_that_checks_tokens_is_not_ready_without_the_read_models_it_checks_them_in(
    auth: str, needed: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every request with a token asks the read-model store whether its user was deleted. A
    command function configured with everything else would ask an empty SQLite file of its own
    and let a deleted user's token through: it is not ready until it has the store (with
    authorization off nothing is checked, and the store is not needed)."""
    monkeypatch.setenv("EVENTUALSHOP_BROKER", "rabbitmq")
    monkeypatch.setenv("EVENTUALSHOP_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    monkeypatch.setenv("EVENTUALSHOP_EVENT_STORE_URL", f"sqlite:///{tmp_path}/events.sqlite3")
    monkeypatch.setenv("EVENTUALSHOP_AUTH", auth)
    monkeypatch.setenv("EVENTUALSHOP_AUTH_JWKS", '{"keys": []}')
    monkeypatch.setenv("EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY", "k" * 32)
    command = next(s for s in FUNCTIONS if s.derived == "command:AddCartItem")
    assert command.access not in (None, "anonymous")

    answer = _app(command).test_client().get("/health/readiness")

    assert answer.get_json().get("set", []) == needed


CARD = {
    "amount": {"amount": "1.00", "currency": "USD"},
    "creditCard": {
        "expirationDate": "01/01/2099",
        "number": "4111111111111111",
        "holderName": "Ada Lovelace",
        "securityCode": "737",
    },
}
CART = "6f1c2d3e-0000-4000-8000-000000000001"
#: (setting, its value, derived function, method, path, body, the variable the log line names).
MISCONFIGURED = {
    "a store of no kind the shop has, a command": (
        "EVENTUALSHOP_EVENT_STORE_URL",
        "bogus://user:s3cret@db.example/shop",
        "command:CreateCart",
        "POST",
        "/api/v1/shopping-carts",
        {"customerId": CART, "currency": "USD"},
        "EVENTUALSHOP_EVENT_STORE_URL",
    ),
    "a store of no kind the shop has, a query": (
        "EVENTUALSHOP_READ_MODEL_URL",
        "redis://user:s3cret@127.0.0.1/0",
        "query:get_cart_details",
        "GET",
        f"/api/v1/shopping-carts/{CART}/details",
        None,
        "EVENTUALSHOP_READ_MODEL_URL",
    ),
    "a secret the command needs is not set": (
        "EVENTUALSHOP_EVENT_STORE_URL",
        "sqlite:///{data}/events.sqlite3",  # a configured store: the key is no longer made up
        "command:AddCreditCard",
        "POST",
        f"/api/v1/shopping-carts/{CART}/payment-methods/credit-card",
        CARD,
        "EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY",
    ),
}


@pytest.mark.parametrize(
    ("variable", "value", "derived", "method", "path", "body", "named"),
    MISCONFIGURED.values(),
    ids=MISCONFIGURED.keys(),
)
def test_a_request_to_a_misconfigured_function_is_a_503_and_one_log_line_naming_the_setting(
    variable: str,
    value: str,
    derived: str,
    method: str,
    path: str,
    body: dict[str, object] | None,
    named: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Was: 500 "Internal error" and a traceback logged per request, under functions-framework's
    # own command (no probe keeps traffic away there) and the image's entry alike.
    monkeypatch.setenv("EVENTUALSHOP_AUTH", "off")
    monkeypatch.setenv(variable, value.format(data=tmp_path))
    spec = next(s for s in FUNCTIONS if s.derived == derived)
    client = functions_framework.create_app(
        spec.target, spec.source, spec.signature_type
    ).test_client()

    with caplog.at_level(logging.WARNING):
        answer = client.open(path, method=method, json=body)

    assert answer.status_code == 503, answer.get_data(as_text=True)
    assert answer.mimetype == "application/problem+json"
    assert answer.get_json()["code"] == "misconfigured"
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    (line,) = lines
    assert line.exc_info is None  # not our code's fault: no traceback
    assert "misconfigured" in line.getMessage()
    assert "SHOPPING_CART_CARD_TOKEN_KEY" in line.getMessage() or variable in line.getMessage()
    assert "s3cret" not in answer.get_data(as_text=True) + line.getMessage()
    assert variable not in answer.get_data(
        as_text=True
    )  # the operator's business, not the client's


def test_a_lone_function_without_a_broker_says_so_once_not_on_every_command(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Was: "outbox relay after commit failed, the sweep retries: PublishError: no broker
    # configured for this process" on every command of a function served alone on the embedded
    # defaults, after a pass that read the outbox only to fail.
    monkeypatch.setenv("EVENTUALSHOP_AUTH", "off")
    spec = next(s for s in FUNCTIONS if s.derived == "command:CreateCart")
    client = functions_framework.create_app(
        spec.target, spec.source, spec.signature_type
    ).test_client()

    with caplog.at_level(logging.INFO, logger="eventualshop"):
        for _ in range(3):
            body = {"customerId": CART, "currency": "USD"}
            assert client.post("/api/v1/shopping-carts", json=body).status_code == 202

    told = [r.getMessage() for r in caplog.records if "broker" in r.getMessage()]
    assert len(told) == 1, told
    assert "eventualshop sweep" in told[0], told  # what publishes them, once a broker is set


def test_knative_named_without_its_sink_says_to_set_k_sink(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Was: "no broker is configured (EVENTUALSHOP_BROKER)", though the broker was set: the
    # variable missing was K_SINK.
    monkeypatch.setenv("EVENTUALSHOP_AUTH", "off")
    monkeypatch.setenv("EVENTUALSHOP_BROKER", "knative")
    monkeypatch.delenv("K_SINK", raising=False)
    ROOT.reset()

    with caplog.at_level(logging.INFO, logger="eventualshop"):
        ROOT._tell_no_broker()

    told = [r.getMessage() for r in caplog.records if "broker" in r.getMessage()]
    assert len(told) == 1, told
    assert "(K_SINK)" in told[0], told


def test_the_stores_are_checked_at_once_under_one_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    # Was: one after another, each with the whole time: a function that needs two stores that
    # do not answer took twice the time, past a Knative probe's 1 s timeout. Now every check
    # is under way before the probe waits for the first.
    root = ROOT
    hang = threading.Event()
    monkeypatch.setattr(root, "event_store", lambda _context: _Hanging(hang))
    monkeypatch.setattr(root, "read_model_store", lambda: _Hanging(hang))
    need = health.Needs(event_stores=("shopping-cart", "catalog"), read_models=True)
    names = ["event store of shopping-cart", "event store of catalog", "read-model store"]
    under_way: list[int] = []
    answered = health._Check.answered

    def counting(check: health._Check, seconds: float) -> bool:
        running = health._CHECKS._running
        under_way.append(
            sum(1 for (_, name), c in running.items() if name in names and not c.done.is_set())
        )
        return answered(check, seconds)

    monkeypatch.setattr(health._Check, "answered", counting)
    try:
        missing = health.unreachable(root, need, seconds=0.1)
    finally:
        hang.set()

    assert missing == names
    assert under_way[0] == 3, under_way


class _Hanging:
    """A store whose every read waits until the test lets it go."""

    def __init__(self, released: threading.Event) -> None:
        self._released = released

    def last_position(self) -> int:
        self._released.wait(5)
        return 0

    def get(self, *_: object) -> None:
        self._released.wait(5)

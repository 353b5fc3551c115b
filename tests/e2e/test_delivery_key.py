"""``POST /functions/<name>`` on ``serve`` takes an event only with the delivery key
(``runtime.deliveries``), and ``eventualshop dispatch`` sends it.

The finding: those routes share the API's port and took anything, authorization on or not. An
anonymous POST of a ``CatalogCreated`` no aggregate raised was answered 200 and the catalog was
listed by ``GET /api/v1/catalogs``; one to the dead-letter sink was answered 202 and kept a
dead letter an operator might replay.
"""

from __future__ import annotations

import os
import stat
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from eventualshop.runtime.broker import amqp
from eventualshop.runtime.broker.binding import CloudEventMessage, to_amqp
from eventualshop.runtime.broker.rabbitmq import Action, RabbitMqDispatcher, decide
from eventualshop.runtime.deliveries import KEPT_KEY_FILE, authorization
from eventualshop.runtime.local import DirectSubscriber, LocalShop
from functions.main import ROOT, cli
from tests.fixtures.deliveries import catalog_created, failed_event

PROJECTOR = "catalog-grid"
SINK = "dead-letters"
CATALOGS = "/api/v1/catalogs"
CONFIGURED_KEY = "a-delivery-key-from-a-secret-0123456789"
#: What a request without the key sends, and one with a key that is not the shop's.
REFUSED = {
    "anonymous": {},
    "wrong key": {"Authorization": "Bearer not-the-delivery-key-at-all-0123"},
    "another scheme": {"Authorization": "Basic not-the-delivery-key-at-all-0123"},
    "no key after Bearer": {"Authorization": "Bearer "},
}


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An embedded shop's folder, with authorization on (the default) and nothing of the
    developer's settings."""
    for name in list(os.environ):
        if name.startswith("EVENTUALSHOP_") and not name.startswith("EVENTUALSHOP_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("K_SINK", raising=False)
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", str(tmp_path))
    ROOT.reset()
    yield tmp_path
    ROOT.reset()


@pytest.fixture
def shop(data_dir: Path) -> Iterator[LocalShop]:
    local = LocalShop(ROOT)
    yield local
    local.stop()


def listed(client: FlaskClient) -> list[str]:
    answer = client.get(CATALOGS)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body: Any = answer.get_json()
    items = body["items"] if isinstance(body, dict) else body
    return [item["catalogId"] for item in items]


def assert_refused(answer: Any) -> None:
    assert answer.status_code == 401, answer.get_data(as_text=True)
    assert answer.mimetype == "application/problem+json"
    assert answer.headers["WWW-Authenticate"].startswith("Bearer ")
    assert answer.get_json()["status"] == 401


@pytest.mark.parametrize("sent", REFUSED.values(), ids=REFUSED.keys())
def test_an_event_without_the_delivery_key_is_a_401_and_never_projected(
    shop: LocalShop, sent: dict[str, str]
) -> None:
    client = shop.app.test_client()
    catalog = uuid.uuid4()
    headers, body = catalog_created(catalog)

    answer = client.post(f"/functions/{PROJECTOR}", headers=headers | sent, data=body)

    assert_refused(answer)
    assert "Bearer not-the" not in answer.get_data(as_text=True)  # nothing of it echoed
    assert str(catalog) not in listed(client)


@pytest.mark.parametrize("sent", REFUSED.values(), ids=REFUSED.keys())
def test_a_dead_letter_without_the_delivery_key_is_a_401_and_never_kept(
    shop: LocalShop, sent: dict[str, str]
) -> None:
    answer = shop.app.test_client().post(
        f"/functions/{SINK}?trigger={PROJECTOR}", headers=failed_event() | sent, data=b"{}"
    )

    assert_refused(answer)
    assert shop.dead_letters.list(include_replayed=True) == []


def test_with_the_delivery_key_an_event_is_projected_and_a_dead_letter_kept(
    shop: LocalShop, data_dir: Path
) -> None:
    client = shop.app.test_client()
    key = (data_dir / KEPT_KEY_FILE).read_text()
    catalog = uuid.uuid4()
    headers, body = catalog_created(catalog)

    projected = client.post(
        f"/functions/{PROJECTOR}", headers=headers | authorization(key), data=body
    )
    kept = client.post(
        f"/functions/{SINK}?trigger={PROJECTOR}",
        headers=failed_event() | authorization(key),
        data=b"{}",
    )

    assert projected.status_code == 200, projected.get_data(as_text=True)
    assert str(catalog) in listed(client)
    assert kept.status_code == 202, kept.get_data(as_text=True)
    assert len(shop.dead_letters.list()) == 1


@pytest.mark.parametrize("status", [200, 503])
def test_an_event_functions_answer_is_its_status_with_no_content_and_no_content_type(
    shop: LocalShop, data_dir: Path, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    """It was ``text/html`` with no content: Flask's default for a Response given no type."""
    if status != 200:  # as the subscriber answers an event that came early
        monkeypatch.setattr(DirectSubscriber, "__call__", lambda _self, _message: status)
    key = (data_dir / KEPT_KEY_FILE).read_text()
    headers, body = catalog_created(uuid.uuid4())
    answer = shop.app.test_client().post(
        f"/functions/{PROJECTOR}", headers=headers | authorization(key), data=body
    )
    assert answer.status_code == status
    assert answer.get_data() == b""
    assert "Content-Type" not in answer.headers


def test_the_kept_key_is_made_once_readable_by_its_owner_only_and_kept(data_dir: Path) -> None:
    first = LocalShop(ROOT)
    first.stop()
    kept = data_dir / KEPT_KEY_FILE

    assert kept.read_text() == first.delivery_key
    assert len(first.delivery_key) == 64
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600  # a secret: only its owner reads it

    ROOT.reset()  # as a restart would
    again = LocalShop(ROOT)
    again.stop()
    assert again.delivery_key == first.delivery_key


def test_an_empty_kept_key_is_never_the_key(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An empty key would let in an "Authorization: Bearer" with nothing after it.
    (data_dir / KEPT_KEY_FILE).write_text("")

    with pytest.raises(OSError, match="holds no key"):
        LocalShop(ROOT)


def test_the_key_is_read_from_the_file_its_file_variable_names(
    data_dir: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path_factory.mktemp("secrets") / "eventualshop-delivery-key"
    secret.write_text(CONFIGURED_KEY + "\n")
    monkeypatch.setenv("EVENTUALSHOP_DELIVERY_KEY_FILE", str(secret))
    local = LocalShop(ROOT)
    try:
        client = local.app.test_client()
        headers, body = catalog_created(uuid.uuid4())
        answer = client.post(
            f"/functions/{PROJECTOR}", headers=headers | authorization(CONFIGURED_KEY), data=body
        )
    finally:
        local.stop()

    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert not (data_dir / KEPT_KEY_FILE).exists()  # none made where one is given
    assert CONFIGURED_KEY not in repr(ROOT.settings())  # a secret: masked wherever shown


@pytest.mark.parametrize("key", ["short", "sixteen or more but with spaces", "ключ" * 8])
def test_a_key_no_header_can_carry_stops_the_start_in_one_line_never_showing_it(
    data_dir: Path, key: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EVENTUALSHOP_DELIVERY_KEY", key)

    assert cli(["serve", "--port", "1"]) == 2

    err = capsys.readouterr().err
    assert err.startswith("eventualshop: EVENTUALSHOP_DELIVERY_KEY: must be 16 or more"), err
    assert err.count("\n") == 1
    assert key not in err


# ---- eventualshop dispatch ----------------------------------------------------------------------


@pytest.fixture
def served(shop: LocalShop) -> Iterator[str]:
    """``shop`` on a real port: the base URL ``dispatch`` posts to."""
    server = make_server("127.0.0.1", 0, shop.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/functions"
    finally:
        server.shutdown()
        server.server_close()


def dispatcher_of_the_command(base: str, monkeypatch: pytest.MonkeyPatch) -> RabbitMqDispatcher:
    """The dispatcher ``eventualshop dispatch`` builds, caught where it would start consuming
    (no RabbitMQ needed: what it sends is what is tested)."""
    built: list[RabbitMqDispatcher] = []
    monkeypatch.setattr(RabbitMqDispatcher, "run", lambda self: built.append(self))
    monkeypatch.setattr("signal.signal", lambda *_: None)  # pytest keeps its own handlers

    assert cli(["dispatch", "--subscriber-base", base]) == 0

    (dispatcher,) = built
    return dispatcher


def delivered(dispatcher: RabbitMqDispatcher, catalog: uuid.UUID) -> Action:
    """What the dispatcher does with one RabbitMQ delivery of a CatalogCreated to the grid."""
    headers, body = catalog_created(catalog)
    attributes = {k.removeprefix("ce-"): v for k, v in headers.items() if k.startswith("ce-")}
    message = to_amqp(CloudEventMessage(attributes | {"datacontenttype": "application/json"}, body))
    trigger = dispatcher.triggers[PROJECTOR]
    return decide(
        trigger,
        dispatcher.retry_queues[PROJECTOR],
        {**message.headers, amqp.ATTEMPTS_HEADER: 0},
        message.body,
        content_type=message.content_type,
        message_id=message.message_id,
        poster=dispatcher.poster,
    ).action


def test_dispatch_sends_the_key_serve_keeps_in_the_same_data_folder_with_nothing_set(
    shop: LocalShop, served: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatcher = dispatcher_of_the_command(served, monkeypatch)
    catalog = uuid.uuid4()

    assert delivered(dispatcher, catalog) is Action.ACK

    assert str(catalog) in listed(shop.app.test_client())


def test_dispatch_sends_the_configured_key(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTUALSHOP_DELIVERY_KEY", CONFIGURED_KEY)
    local = LocalShop(ROOT)
    server = make_server("127.0.0.1", 0, local.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}/functions"
        dispatcher = dispatcher_of_the_command(base, monkeypatch)
        catalog = uuid.uuid4()
        assert delivered(dispatcher, catalog) is Action.ACK
        assert str(catalog) in listed(local.app.test_client())
        # A dispatcher with another key: refused, dead-lettered (never retried), not projected.
        monkeypatch.setenv("EVENTUALSHOP_DELIVERY_KEY", "another-key-of-sixteen-or-more")
        ROOT.reconfigure()  # the settings read again; the served shop keeps the key it took
        other = uuid.uuid4()
        assert delivered(dispatcher_of_the_command(base, monkeypatch), other) is Action.DEAD
        assert str(other) not in listed(local.app.test_client())
    finally:
        server.shutdown()
        server.server_close()
        local.stop()
    assert not (data_dir / KEPT_KEY_FILE).exists()


def test_dispatch_without_a_key_to_read_says_so_and_makes_none(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Was: it made a key of its own in its data folder, which no `serve` knew (found in
    # review): every delivery a 401, not retried, and every event a dead letter.
    monkeypatch.setattr(RabbitMqDispatcher, "run", lambda self: None)

    assert cli(["dispatch", "--subscriber-base", "http://127.0.0.1:9/functions"]) == 2

    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "no delivery key" in error
    assert not (data_dir / KEPT_KEY_FILE).exists()

"""What gunicorn refuses before the shop sees a request, answered as a problem like the rest.

``eventualshop serve`` runs as a real process here; the image's command has the same check in
``tests/unit/test_deploy_artefacts.py``; both send ``tests/refusals.py``'s requests."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.support import ShopProcess, free_port
from tests.refusals import (
    assert_no_refused_request_logged,
    assert_refusals_are_problems,
    exchange,
)

ROOT = Path(__file__).resolve().parents[2]
GET_ROOT = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[ShopProcess]:
    process = ShopProcess({"EVENTUALSHOP_BROKER": "inprocess"}, tmp_path)
    process.start()
    yield process
    process.close()


def test_what_gunicorn_refuses_in_serve_is_answered_as_a_problem(shop: ShopProcess) -> None:
    assert_refusals_are_problems(shop.port)
    assert_no_refused_request_logged(shop.log.read_text())


def test_a_request_gunicorn_takes_still_reaches_the_shop(shop: ShopProcess) -> None:
    """The worker class changes gunicorn's refusals only: the shop answers as before."""
    status, headers, body = exchange(
        shop.port, b"GET /api/v1/catalogs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert status == 200, body[:200]
    assert headers["content-type"].startswith("application/json")


@contextlib.contextmanager
def functions_framework(
    target: str, tmp_path: Path, signature_type: str = "http"
) -> Iterator[tuple[int, list[bytes]]]:
    """``functions-framework --source functions/main.py --target <target>``, whose gunicorn
    options a function cannot set, listening; yields its port and, once stopped, its log."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTUALSHOP_")} | {
        "EVENTUALSHOP_DATA_DIR": str(tmp_path),
        "EVENTUALSHOP_AUTH": "off",
        "HOME": str(tmp_path),  # gunicorn's control socket, if it opens one, goes there
    }
    command = [
        str(Path(sys.executable).with_name("functions-framework")),
        "--source",
        "functions/main.py",
        "--target",
        target,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--signature-type",
        signature_type,
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE)
    log: list[bytes] = []
    try:
        for _ in range(300):  # bounded in attempts: the test asserts no time
            with contextlib.suppress(OSError):
                exchange(port, GET_ROOT)
                break
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            threading.Event().wait(0.1)
        else:
            pytest.fail("functions-framework never listened")
        yield port, log
    finally:
        server.terminate()
        log.append(server.communicate(timeout=30)[1])


def test_what_gunicorn_refuses_under_functions_frameworks_own_command_is_a_problem(
    tmp_path: Path,
) -> None:
    """The target's build puts the problem answer in place."""
    with functions_framework("shopping_cart_create_cart", tmp_path) as (port, log):
        status, _, _ = exchange(port, GET_ROOT)
        assert status == 405  # the function's own answer: it is served, and takes POST only
        # functions-framework lifts gunicorn's request-line limit (``limit_request_line`` 0):
        # no 414 there, a long line reaches the function.
        assert_refusals_are_problems(port, but=frozenset({414}))
    assert_no_refused_request_logged(log[0].decode(errors="replace"), logged=False)


def test_an_event_function_under_functions_frameworks_own_command_answers_problems(
    tmp_path: Path,
) -> None:
    """As the image's app does: a POST that is no CloudEvent was functions-framework's HTML 400
    page, which quoted the request's headers (a bearer token) and body back; a structured event
    that is a JSON array was a 500 with a traceback, which Knative retries."""

    def post(content_type: str, body: bytes, *headers: bytes) -> bytes:
        head = b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + b"".join(headers)
        return head + b"Content-Type: %s\r\nContent-Length: %d\r\n\r\n%s" % (
            content_type.encode(),
            len(body),
            body,
        )

    no_event = post(
        "application/json",
        b'{"password": 1}',
        b"Authorization: Bearer a-token-of-the-caller\r\n",
    )
    an_array = post("application/cloudevents+json", b"[1, 2]")
    with functions_framework("shopping_cart_details", tmp_path, "cloudevent") as (port, log):
        for raw in (no_event, an_array):
            status, headers, body = exchange(port, raw)
            assert status == 400, body[:300]
            assert headers["content-type"] == "application/problem+json", body[:300]
            assert b"a-token-of-the-caller" not in body
            assert b"password" not in body
    assert b"Traceback" not in log[0]


@pytest.mark.parametrize(
    ("method", "size", "status"),
    [("POST", 70_000, 413), ("POST", 300_000, 413), ("PATCH", 100_000, 405)],
)
def test_a_body_refused_unread_closes_the_connection_and_says_so(
    shop: ShopProcess, method: str, size: int, status: int
) -> None:
    """A 413 (or a 405, or any refusal before the body is read) leaves the body unread; gunicorn
    reads at most 64 KiB of it after the answer and then closes the connection. It used to say
    ``Connection: keep-alive`` all the same, so the client's next request on that connection got
    no answer at all (``RemoteDisconnected``)."""
    import http.client
    import json

    connection = http.client.HTTPConnection("127.0.0.1", shop.port, timeout=10)
    body = json.dumps({"customerId": "0c000000-0000-4000-8000-0000000000c2", "pad": "x" * size})
    connection.request(method, "/api/v1/shopping-carts", body, {"Content-Type": "application/json"})
    refused = connection.getresponse()
    refused.read()

    assert refused.status == status
    assert refused.getheader("Connection") == "close"
    # http.client opens a new connection after one the server said it closes.
    connection.request("GET", "/api/v1/catalogs")
    again = connection.getresponse()
    assert again.status == 200, again.read()[:200]
    connection.close()


def test_a_body_read_in_full_keeps_the_connection(shop: ShopProcess) -> None:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", shop.port, timeout=10)
    connection.request(
        "POST", "/api/v1/shopping-carts", b"{}", {"Content-Type": "application/json"}
    )
    refused = connection.getresponse()
    refused.read()
    assert refused.status == 400
    assert refused.getheader("Connection") == "keep-alive"
    connection.close()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/api/v1/shopping-carts/0c000000-0000-4000-8000-0000000000c1/payment-methods/credit-card",
            b'{"amount": {"amount": "1.00", "currency": "USD"}, "creditCard": {"number": '
            b'"4111111111111111", "holderName": "Ada Lovelace", "expirationDate": "31/12/2099", '
            b'"securityCode": 737}}',
        ),
        (
            "/api/v1/identities/sign-in",
            b'{"email": "ada@example.com", "password": "S3cr3t-PW-xyz123"}',
        ),
    ],
)
def test_a_body_that_is_not_the_chunks_it_says_is_a_bad_request_that_repeats_nothing(
    shop: ShopProcess, path: str, body: bytes
) -> None:
    """A body sent with ``Transfer-Encoding: chunked`` that is not chunked (a client or a proxy
    that says so and sends the JSON as it is): gunicorn reads its first line as a chunk size and
    refuses it with that line in its message (``InvalidChunkSize``). It escaped the body's read
    as a 500, and a command function logged the traceback with that message: the card number
    and the security code in the log."""
    raw = (
        b"POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n%s\r\n\r\n" % (path.encode(), body)
    )
    status, headers, answer = exchange(shop.port, raw)

    log = shop.log.read_text()
    for secret in (b"4111111111111111", b"737", b"S3cr3t-PW-xyz123"):
        assert secret not in answer, answer[:300]
        assert secret.decode() not in log, log[-2000:]
    assert "Traceback" not in log, log[-2000:]
    assert status == 400, answer[:300]
    assert headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("function", ["dead-letters", "identity-user-details"])
def test_an_event_body_that_is_not_the_chunks_it_says_is_a_bad_request_that_repeats_nothing(
    shop: ShopProcess, function: str
) -> None:
    """The same mistake on a function that takes events (with the delivery key): the body's read
    escaped the function, and the error handler logged its traceback, gunicorn's message with the
    body's first line in it, as an unhandled error (a 500, which the broker retries)."""
    key = (shop.data_dir / "delivery.key").read_text().strip()
    marker = b"an-event-body-no-log-may-repeat"
    body = b'{"specversion": "1.0", "id": "x", "source": "/x", "type": "t", "data": "%s"}' % marker
    raw = (
        b"POST /functions/%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Authorization: Bearer %s\r\nContent-Type: application/cloudevents+json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n%s\r\n\r\n" % (function.encode(), key.encode(), body)
    )
    status, headers, answer = exchange(shop.port, raw)

    log = shop.log.read_text()
    assert marker not in answer, answer[:300]
    assert marker.decode() not in log, log[-2000:]
    assert "Traceback" not in log, log[-2000:]
    assert status == 400, answer[:300]
    assert headers["content-type"] == "application/problem+json"

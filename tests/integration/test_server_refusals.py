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


def test_what_gunicorn_refuses_under_functions_frameworks_own_command_is_a_problem(
    tmp_path: Path,
) -> None:
    """``functions-framework --source functions/main.py --target …``, whose gunicorn options a
    function cannot set: the target's build puts the problem answer in place."""
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
        "shopping_cart_create_cart",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE)
    try:
        for _ in range(300):  # bounded in attempts: the test asserts no time
            with contextlib.suppress(OSError):
                status, _, _ = exchange(port, GET_ROOT)
                break
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            threading.Event().wait(0.1)
        else:
            pytest.fail("functions-framework never listened")
        assert status == 405  # the function's own answer: it is served, and takes POST only
        # functions-framework lifts gunicorn's request-line limit (``limit_request_line`` 0):
        # no 414 there, a long line reaches the function.
        assert_refusals_are_problems(port, but=frozenset({414}))
    finally:
        server.terminate()
        _, log = server.communicate(timeout=30)
    assert_no_refused_request_logged(log.decode(errors="replace"), logged=False)


@pytest.mark.parametrize("size", [70_000, 300_000])
def test_a_body_refused_unread_closes_the_connection_and_says_so(
    shop: ShopProcess, size: int
) -> None:
    """A 413 leaves the body unread; gunicorn reads at most 64 KiB of it after the answer and
    then closes the connection. It used to say ``Connection: keep-alive`` all the same, so the
    client's next request on that connection got no answer at all (``RemoteDisconnected``)."""
    import http.client
    import json

    connection = http.client.HTTPConnection("127.0.0.1", shop.port, timeout=10)
    body = json.dumps({"customerId": "0c000000-0000-4000-8000-0000000000c2", "pad": "x" * size})
    connection.request("POST", "/api/v1/shopping-carts", body, {"Content-Type": "application/json"})
    refused = connection.getresponse()
    refused.read()

    assert refused.status == 413
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

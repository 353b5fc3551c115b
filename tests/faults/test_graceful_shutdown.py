"""``eventualshop serve`` on SIGTERM (what Kubernetes sends before it kills a pod): stops
accepting, finishes the requests in flight, delivers what they published, then exits 0."""

from __future__ import annotations

import json
import socket
import time
import uuid
from pathlib import Path

from eventualshop.runtime.root import open_read_model_store

from .support import ShopProcess

BODY = json.dumps({"customerId": str(uuid.uuid4()), "currency": "USD"}).encode()


def test_a_request_in_flight_at_sigterm_is_answered_and_its_events_delivered(
    tmp_path: Path,
) -> None:
    served = ShopProcess({}, tmp_path)
    served.start()
    try:
        in_flight = socket.create_connection(("127.0.0.1", served.port), timeout=30)
        # Headers now, body after the signal: the request is in flight when SIGTERM arrives.
        in_flight.sendall(
            b"POST /api/v1/shopping-carts HTTP/1.1\r\nHost: shop\r\n"
            b"Content-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n"
        )
        time.sleep(0.5)  # let the worker accept the connection before the signal
        assert served.process is not None
        served.process.send_signal(15)
        time.sleep(1.0)
        in_flight.sendall(BODY)
        answer = b""
        while chunk := in_flight.recv(65536):
            answer += chunk
        in_flight.close()
        exit_code = served.process.wait(60)
    finally:
        served.close()

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 202"), answer[:300]
    assert exit_code == 0
    cart = json.loads(body)["aggregateId"]
    # Its events were delivered before the exit: the read model has the cart with no restart
    # (no outbox sweep) needed.
    read_models = open_read_model_store(f"sqlite:///{tmp_path / 'readmodels.sqlite3'}")
    try:
        assert read_models.get("ShoppingCartDetails", cart) is not None
    finally:
        read_models.close()


def test_serve_on_a_port_in_use_says_so_in_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        served = ShopProcess({"EVENTUALSHOP_PORT": str(port)}, tmp_path)
        done = subprocess.run(
            [str(Path(sys.executable).with_name("eventualshop")), "serve"],
            env=served.env | {"EVENTUALSHOP_PORT": str(port)},
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr

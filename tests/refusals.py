"""Requests gunicorn refuses before the shop sees them, and the check that each is answered as a
problem: for ``serve`` (``tests/integration/test_server_refusals.py``) and the image's command
(``tests/unit/test_deploy_artefacts.py``)."""

from __future__ import annotations

import json
import socket

#: What a refused request carries that no log and no answer may repeat: gunicorn's own log line
#: of a refusal, and its message, quoted the request line or the header line it refused.
SECRET = "a-bearer-token-of-the-caller"

#: (what a client sends, the status gunicorn refuses it with); each request is raw bytes, since
#: an HTTP client library refuses to send most of them.
REFUSALS: list[tuple[bytes, int]] = [
    (
        b"GET /api/v1/catalogs HTTP/1.1\r\nHost: x\r\nAuthorization Bearer %s\r\n\r\n"
        % SECRET.encode(),
        400,
    ),
    (
        b"GET /api/v1/catalogs?access_token=%s\x01 HTTP/1.1\r\nHost: x\r\n\r\n" % SECRET.encode(),
        400,
    ),
    (b"GET /api/v1/catalogs?q=" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET /api/v1/catalogs HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431),
    (
        b"GET /api/v1/catalogs HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-H%d: 1\r\n" % i for i in range(120))
        + b"\r\n",
        431,
    ),
    (b"GET /api/v1/catalogs HTTP/9.9\r\nHost: x\r\n\r\n", 400),
    (b"G@T /api/v1/catalogs HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET /api/v1/catalogs HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", 400),
    (b"GET /api/v1/catalogs HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
]


def exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(raw)
        answer = b""
        while chunk := client.recv(65536):  # gunicorn closes the connection after a refusal
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def assert_refusals_are_problems(port: int, *, but: frozenset[int] = frozenset()) -> None:
    """Every one of ``REFUSALS`` (``but`` those of the statuses named) answers its status as
    problem+json, never gunicorn's HTML."""
    for raw, status in REFUSALS:
        if status in but:
            continue
        got, headers, body = exchange(port, raw)
        assert got == status, raw[:60]
        assert headers["content-type"] == "application/problem+json", body[:200]
        assert int(headers["content-length"]) == len(body)
        problem = json.loads(body)
        assert problem["status"] == status
        assert problem["type"].startswith("https://eventualshop.dev/problems/")
        assert problem["title"]
        assert problem["detail"]
        assert len(problem["detail"]) <= 200  # a refused request line is not echoed whole
        # Nor any of it: gunicorn's message quotes the line it refused (a bearer token).
        assert SECRET.encode() not in body, body[:300]
        assert b"<html>" not in body


def assert_no_refused_request_logged(log: str, *, logged: bool = True) -> None:
    """gunicorn's log of the refusals names them (``logged``: functions-framework's own command
    logs gunicorn's errors only), and quotes nothing of the requests."""
    if logged:
        assert "Invalid request from ip=" in log, log[-2000:]
    assert SECRET not in log, [line for line in log.splitlines() if SECRET in line][:3]

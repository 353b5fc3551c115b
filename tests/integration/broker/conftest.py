"""Fixtures for the broker tests: a real RabbitMQ, a local HTTP subscriber, a breakable TCP proxy.

RabbitMQ: ``EVENTUALSHOP_TEST_RABBITMQ_URL`` (default guest/guest on 127.0.0.1:5672). When it is
not reachable and ``rabbitmq-server`` is installed, it is started detached; still unreachable, the
tests skip with the reason (fail under ``CI=true``). Every test gets its own exchange and queue
names and deletes them afterwards, so runs never see each other's messages.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pika
import pytest
from pika.adapters.blocking_connection import BlockingChannel
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from eventualshop.runtime.broker import amqp
from eventualshop.runtime.broker.binding import CloudEventMessage, from_http
from tests.services import unavailable

DEFAULT_RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def _rabbitmq_error(url: str) -> str | None:
    try:
        amqp.connect(url, connect_timeout=3).close()
    except (pika.exceptions.AMQPError, OSError) as error:
        return repr(error)
    return None


def _start_rabbitmq() -> None:
    server, ctl = shutil.which("rabbitmq-server"), shutil.which("rabbitmqctl")
    if server is None:
        return
    subprocess.run([server, "-detached"], capture_output=True, timeout=60, check=False)
    if ctl is not None:
        subprocess.run(
            [ctl, "-q", "await_startup", "--timeout", "60"],
            capture_output=True,
            timeout=90,
            check=False,
        )


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    url = os.environ.get("EVENTUALSHOP_TEST_RABBITMQ_URL", DEFAULT_RABBITMQ_URL)
    error = _rabbitmq_error(url)
    params = pika.URLParameters(url)
    # Starting the local server only helps when the URL points at its default listener.
    if error is not None and params.host in ("127.0.0.1", "localhost") and params.port == 5672:
        _start_rabbitmq()
        deadline = time.monotonic() + 60
        while error is not None and time.monotonic() < deadline:
            time.sleep(1)
            error = _rabbitmq_error(url)
    if error is not None:
        unavailable(f"RabbitMQ not reachable at {params.host}:{params.port}: {error}")
    return url


@dataclass
class Rabbit:
    """A test's own corner of RabbitMQ: unique names, and everything declared is deleted."""

    url: str
    exchange: str = field(default_factory=lambda: f"test-{uuid.uuid4().hex[:12]}")
    queues: list[str] = field(default_factory=list)
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def channel(self) -> BlockingChannel:
        connection = amqp.connect(self.url)
        self.cleanups.append(lambda: connection.close() if connection.is_open else None)
        return connection.channel()

    def bound_queue(self, arguments: dict[str, Any] | None = None, **filters: str) -> str:
        """A durable queue that takes what the exchange routes to the given ``ce-`` filters."""
        name = f"{self.exchange}.probe{len(self.queues)}"
        chan = self.channel()
        amqp.declare_exchange(chan, self.exchange)
        chan.queue_declare(name, durable=True, arguments=arguments)
        binding = {"x-match": "all", **{f"ce-{k}": v for k, v in filters.items()}}
        chan.queue_bind(name, self.exchange, arguments=binding)
        self.queues.append(name)
        return name

    def drain(self, queue: str, expected: int, timeout: float = 10.0) -> list[Any]:
        """Up to ``expected`` messages (method, properties, body), acked, in queue order."""
        chan = self.channel()
        got: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(got) < expected and time.monotonic() < deadline:
            method, properties, body = chan.basic_get(queue, auto_ack=True)
            if method is None:
                time.sleep(0.02)
                continue
            got.append((method, properties, body))
        return got

    def depth(self, queue: str) -> int:
        declared = self.channel().queue_declare(queue, passive=True)
        return int(declared.method.message_count or 0)

    def close(self) -> None:
        for cleanup in reversed(self.cleanups):
            with contextlib.suppress(Exception):  # best effort: never hide the test's failure
                cleanup()
        try:
            with amqp.channel(self.url) as chan:
                for queue in self.queues:
                    chan.queue_delete(queue)
                chan.exchange_delete(self.exchange)
        except (pika.exceptions.AMQPError, OSError):
            pass


@pytest.fixture
def rabbit(rabbitmq_url: str) -> Iterator[Rabbit]:
    corner = Rabbit(rabbitmq_url)
    yield corner
    corner.close()


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


# --------------------------------------------------------------------------------- HTTP subscriber


class HttpSubscriber:
    """A real HTTP server on a free port: records each CloudEvent, answers scripted statuses."""

    def __init__(self) -> None:
        self.statuses: list[int] = [200]
        self.received: list[CloudEventMessage] = []
        self.raw: list[tuple[dict[str, str], bytes]] = []
        self._lock = threading.Lock()
        self._server: BaseWSGIServer = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _app(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        body = request.get_data()
        with self._lock:
            self.raw.append((dict(request.headers), body))
            self.received.append(from_http(request.headers, body))
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return Response(f"answered {status}", status=status)(environ, start_response)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def http_subscriber() -> Iterator[HttpSubscriber]:
    server = HttpSubscriber()
    yield server
    server.close()


# ------------------------------------------------------------------------------------- TCP proxy


class TcpProxy:
    """Forwards a local port to RabbitMQ; ``stop()`` plays a broker that went away (every
    connection cut, the port refusing), ``start()`` brings it back on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would leave the
            # port accepting connections until that call returns.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        try:
            while True:
                readable, _, _ = select.select(list(peers), [], [], 0.5)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            a.close()
            b.close()


@pytest.fixture
def rabbitmq_proxy(rabbitmq_url: str) -> Iterator[TcpProxy]:
    params = pika.URLParameters(rabbitmq_url)
    proxy = TcpProxy(params.host, params.port)
    proxy.start()
    yield proxy
    proxy.stop()


def url_via(rabbitmq_url: str, port: int) -> str:
    params = pika.URLParameters(rabbitmq_url)
    credentials = params.credentials
    assert isinstance(credentials, pika.PlainCredentials)
    vhost = "%2F" if params.virtual_host == "/" else params.virtual_host
    return f"amqp://{credentials.username}:{credentials.password}@127.0.0.1:{port}/{vhost}"

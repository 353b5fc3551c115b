"""Every generated func project starts the way func's Python host builder runs it: the
scaffolding's ``service/main.py`` imports ``new`` from the project's ``function`` package and
hands it to ``func-python`` (``func_python.http.serve`` or ``func_python.cloudevent.serve``).

Every project runs in-process under func-python's own ASGI application (its routing, its health
endpoints, its CloudEvent decoding): probes, the function's route, and for event-triggered
functions a real CloudEvent (the events a command of another project just wrote). Two projects,
one of each kind, are also started as processes with the scaffolding's main module, over HTTP.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from func_python import cloudevent as func_cloudevent
from func_python import http as func_http

from eventualshop.adapters.event_store_sql import SqlEventStore
from eventualshop.runtime.registry import FunctionKind, FunctionSpec
from functions.main import ROOT
from functions.registry import FUNCTIONS

HERE = Path(__file__).resolve().parents[2]
PROJECTS = HERE / "knative" / "func"
# func's scaffolding for Python (templates/python/scaffolding/instanced-*/service/main.py), as
# its host builder writes it beside the function project, less its ulimit tweak.
SCAFFOLDING = """
import logging
from func_python.{kind} import serve

logging.basicConfig(level=logging.INFO)

try:
    from function import new as handler
except ImportError:
    from function import handle as handler

if __name__ == "__main__":
    serve(handler)
"""
ANY_ID = "0b7e7f0c-1111-4c8e-9e57-0d4f7b1c2a33"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with pytest.MonkeyPatch.context() as env:
        for name in list(os.environ):
            if name.startswith("EVENTUALSHOP_") and not name.startswith("EVENTUALSHOP_TEST_"):
                env.delenv(name)
        env.delenv("K_SINK", raising=False)
        folder = tmp_path_factory.mktemp("func")
        env.setenv("EVENTUALSHOP_DATA_DIR", str(folder))
        env.setenv("EVENTUALSHOP_AUTH", "off")  # the projects are driven without tokens
        ROOT.reset()
        yield folder
        ROOT.reset()


def _load(spec: FunctionSpec) -> ModuleType:
    """The project's ``function/func.py``, under a name of its own (every project's package is
    called ``function``)."""
    path = PROJECTS / spec.name / "function" / "func.py"
    found = importlib.util.spec_from_file_location(f"func_{spec.target}", path)
    assert found is not None
    assert found.loader is not None
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    return module


class Asgi:
    """Drives an ASGI application as hypercorn would: lifespan, then HTTP requests."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: Sequence[tuple[str, str]] = (),
        query: str = "",
    ) -> tuple[int, dict[str, str], bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers]
            + [(b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8080),
        }
        chunks = [{"type": "http.request", "body": body, "more_body": False}]
        never = asyncio.Event()

        async def receive() -> dict[str, Any]:
            if chunks:
                return chunks.pop()
            await never.wait()  # the client stays connected
            return {"type": "http.disconnect"}

        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await self.app(scope, receive, send)
        start = next(m for m in sent if m["type"] == "http.response.start")
        answer = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        found = {k.decode().lower(): v.decode() for k, v in start.get("headers", [])}
        return start["status"], found, answer

    async def lifespan(self, event: str) -> None:
        messages = [{"type": f"lifespan.{event}"}]
        done = asyncio.Event()

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop()
            await done.wait()
            return {"type": "lifespan.shutdown"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"].endswith(".complete"):
                done.set()

        task = asyncio.ensure_future(self.app({"type": "lifespan"}, receive, send))
        await done.wait()
        if event == "shutdown":
            await task
        else:
            task.cancel()


def _instance(spec: FunctionSpec) -> Asgi:
    server = func_cloudevent if spec.signature_type == "cloudevent" else func_http
    return Asgi(server.ASGIApplication(_load(spec).new()))


def _by(derived: str) -> FunctionSpec:
    return next(s for s in FUNCTIONS if s.derived == derived)


async def _probes(app: Asgi, spec: FunctionSpec) -> None:
    status, _, body = await app.request("GET", "/health/liveness")
    assert status == 200, (spec.name, body)
    for _ in range(100):  # as the platform probes: again while a store is still opening
        status, _, body = await app.request("GET", "/health/readiness")
        if status == 200 or json.loads(body).get("status") != "unavailable":
            break
    assert status == 200, (spec.name, body)
    assert json.loads(body) == {"status": "ready", "function": spec.name}


def test_every_project_exports_new_from_its_function_package() -> None:
    for spec in FUNCTIONS:
        init = (PROJECTS / spec.name / "function" / "__init__.py").read_text()
        assert "from .func import new" in init
        pyproject = (PROJECTS / spec.name / "pyproject.toml").read_text()
        assert 'dependencies = ["eventualshop==' in pyproject
        module = _load(spec)
        declared = (spec.target, spec.signature_type, spec.module)
        assert declared == (module.TARGET, module.SIGNATURE_TYPE, module.SOURCE_MODULE)


def test_every_project_serves_its_probes_its_route_and_its_events(data_dir: Path) -> None:
    asyncio.run(_every_project(data_dir))


async def _every_project(data_dir: Path) -> None:
    started: list[Asgi] = []

    async def start(spec: FunctionSpec) -> Asgi:
        app = _instance(spec)
        await app.lifespan("startup")
        started.append(app)
        await _probes(app, spec)
        return app

    try:
        # A command writes the events the event-triggered projects then receive.
        create = _by("command:CreateCart")
        app = await start(create)
        assert create.route is not None
        status, headers, body = await app.request(
            "POST",
            create.route.path,
            body=json.dumps({"customerId": str(uuid.uuid4()), "currency": "USD"}).encode(),
            headers=[("content-type", "application/json")],
        )
        assert status == 202, body
        cart = json.loads(body)["aggregateId"]
        assert headers["location"] == f"/api/v1/shopping-carts/{cart}/details"
        discarded = False
        store = SqlEventStore.from_url(f"sqlite:///{data_dir / 'eventstore-shopping-cart.sqlite3'}")
        try:
            events = [entry.payload.encode() for entry in store.pending_outbox()]
        finally:
            store.close()
        assert events

        for spec in FUNCTIONS:
            if spec is create:
                continue
            app = await start(spec)
            if spec.subscriptions or spec.kind is FunctionKind.SCHEDULED:
                for event in events:
                    status, _, body = await app.request(
                        "POST",
                        "/",
                        body=event,
                        headers=[("content-type", "application/cloudevents+json")],
                    )
                    assert 200 <= status < 300, (spec.name, status, body)
            elif spec.kind is FunctionKind.SINK:
                status, _, body = await app.request(
                    "POST",
                    "/",
                    body=events[0],
                    headers=[("content-type", "application/cloudevents+json")],
                    query="trigger=shopping-cart-details",
                )
                assert 200 <= status < 300, (spec.name, status, body)
            else:
                assert spec.route is not None
                path = spec.route.path.replace("{cartId}", cart)
                for name in ("itemId", "methodId", "customerId"):
                    path = path.replace("{" + name + "}", ANY_ID)
                status, headers, body = await app.request(spec.route.method, path)
                if spec.derived == "command:DiscardCart" and status == 202:
                    discarded = True
                # The function itself answered: a problem or a result, never func's 404.
                assert status in (200, 202, 400, 404, 409), (spec.name, status, body)
                assert headers["content-type"].startswith(
                    ("application/json", "application/problem+json")
                ), (spec.name, headers)

        # The projector projects received the cart's events: its details read model has it.
        details = _instance(_by("query:get_cart_details"))
        await details.lifespan("startup")
        started.append(details)
        status, _, body = await details.request("GET", f"/api/v1/shopping-carts/{cart}/details")
        if discarded:  # the sweep's catch-up applied the discard the projectors were not sent
            assert status == 404, body
        else:
            assert status == 200, body
            assert json.loads(body)["cartId"] == cart
    finally:
        for app in started:
            await app.lifespan("shutdown")


# ---- two projects as processes, started by the scaffolding's main module ----------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.parametrize("derived", ["query:get_cart_details", "projector:shopping-cart-details"])
def test_a_project_started_by_the_func_scaffolding_answers_over_http(
    derived: str, tmp_path: Path
) -> None:
    spec = _by(derived)
    kind = "cloudevent" if spec.signature_type == "cloudevent" else "http"
    service = tmp_path / "service"
    service.mkdir()
    (service / "__init__.py").write_text("")
    (service / "main.py").write_text(SCAFFOLDING.format(kind=kind))
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EVENTUALSHOP_")},
        "LISTEN_ADDRESS": f"127.0.0.1:{port}",
        "EVENTUALSHOP_DATA_DIR": str(tmp_path / "var"),
        "EVENTUALSHOP_AUTH": "off",
        # The function package from the project, the scaffolding from its build folder.
        "PYTHONPATH": os.pathsep.join([str(PROJECTS / spec.name), str(tmp_path), str(HERE)]),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "service.main"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # bounded in attempts: no test asserts a time
            try:
                status, body = _get(base + "/health/readiness")
                if status == 200:
                    break
            except OSError:
                assert server.poll() is None, server.stderr.read() if server.stderr else b""
            threading.Event().wait(0.1)
        else:
            pytest.fail(f"{spec.name} never answered its readiness probe")
        assert status == 200, body
        assert json.loads(body)["function"] == spec.name
        assert _get(base + "/health/liveness")[0] == 200
        if spec.route is not None:
            status, body = _get(base + spec.route.path.replace("{cartId}", ANY_ID))
            assert status == 404
            assert json.loads(body)["status"] == 404
        else:
            request = urllib.request.Request(base + "/", data=b"not a cloud event", method="POST")
            try:
                urllib.request.urlopen(request, timeout=10)
            except urllib.error.HTTPError as error:
                assert error.code == 400  # func-python refuses what is not a CloudEvent
            else:
                pytest.fail("a request that is not a CloudEvent was accepted")
    finally:
        server.terminate()
        server.wait(timeout=30)

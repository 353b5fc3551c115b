"""Fault tests' tools: the shop as a real ``eventualshop serve`` process, client threads that
send cart commands and keep every answer, and the checks every fault test ends with.

The checks, after any fault:

* no acknowledged command lost, none applied twice: every cart's stream holds exactly one
  ``CartCreated`` and one ``CartItemAdded`` per item whose command was answered 202 (a client
  retries a command with the same ``Idempotency-Key`` until it gets an answer that is not 503,
  so a command that committed but whose answer was lost is answered, not applied twice);
* convergence: every read model equals a replay of the event store into an empty store.

Also used by ``bench/soak.py`` with longer runs; nothing here asserts a time.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eventualshop.adapters.event_store_sql import SqlEventStore
from eventualshop.kernel.readmodels import ReadModelStore
from eventualshop.kernel.readmodels_memory import InMemoryReadModelStore
from eventualshop.kernel.rebuild import rebuild
from eventualshop.kernel.repository import Repository
from eventualshop.runtime.root import open_read_model_store
from eventualshop.shopping_cart.cart import CART
from eventualshop.shopping_cart.read_models import PROJECTIONS

CARTS = "/api/v1/shopping-carts"
ITEMS_PER_CART = 4
#: Longest a client waits for one answer; a fault must never make a request take this long.
CLIENT_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ShopProcess:
    """``eventualshop serve`` in its own process group (gunicorn master and worker), configured
    only by ``env`` (no variable of the developer's leaks in); its log goes to ``log``."""

    def __init__(self, env: Mapping[str, str], data_dir: Path) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.log = data_dir / "shop.log"
        base = {k: v for k, v in os.environ.items() if not k.startswith("EVENTUALSHOP_")}
        self.env = base | {
            # The cart's faults, through the original's anonymous API (auth has its own tests).
            "EVENTUALSHOP_AUTH": "off",
            "EVENTUALSHOP_DATA_DIR": str(data_dir),
            "EVENTUALSHOP_HOST": "127.0.0.1",
            "EVENTUALSHOP_PORT": str(self.port),
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        command = Path(sys.executable).with_name("eventualshop")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(command), "serve"],
                env=self.env,
                stdout=log,
                stderr=log,
                start_new_session=True,  # one group: a kill reaches the master and its worker
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited with {self.process.returncode}: {self.tail()}")
            with contextlib.suppress(OSError):
                if request(self.base, "GET", "/")[0] == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"serve did not answer within {timeout} s: {self.tail()}")

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM (what Kubernetes sends), then wait for the drain."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        """SIGKILL to the whole group: a crash, nothing drained, nothing flushed."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def close(self) -> None:
        """Kill it: the checks are done, and a graceful drain of a backlog takes time."""
        if self.process is not None and self.process.poll() is None:
            self.kill()

    def tail(self, lines: int = 20) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def log_lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines() if self.log.exists() else []


def request(
    base: str, method: str, path: str, body: Any = None, headers: Mapping[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(base, timeout=CLIENT_TIMEOUT_S)
    try:
        payload = None if body is None else json.dumps(body)
        sent = {"Content-Type": "application/json", **(headers or {})}
        connection.request(method, path, body=payload, headers=sent)
        answer = connection.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        connection.close()


@dataclass(frozen=True)
class Answered:
    command: str
    status: int  # 0: no HTTP answer (connection refused or reset)
    seconds: float
    retry_after: str | None = None


@dataclass
class Load:
    """``threads`` clients, each creating carts and adding ``ITEMS_PER_CART`` items to each."""

    base: str
    threads: int
    answers: list[Answered] = field(default_factory=list)
    #: cart id -> items whose AddCartItem was acknowledged (202)
    acknowledged: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    created: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, seconds: float, during: Callable[[float], None] | None = None) -> None:
        """Send commands for ``seconds``; ``during(elapsed)`` is called about every 0.1 s from
        the test's thread (to cut and restore a server). A command begun before the end is
        retried until it is acknowledged, so the counts are exact."""
        stop = threading.Event()
        workers = [
            threading.Thread(target=self._client, args=(stop,), daemon=True)
            for _ in range(self.threads)
        ]
        started = time.monotonic()
        for worker in workers:
            worker.start()
        while (elapsed := time.monotonic() - started) < seconds:
            if during is not None:
                during(elapsed)
            time.sleep(0.1)
        stop.set()
        for worker in workers:
            worker.join(CLIENT_TIMEOUT_S * 4)

    def _client(self, stop: threading.Event) -> None:
        while not stop.is_set():
            cart = self._until_answered(
                "CreateCart",
                "POST",
                CARTS,
                {"customerId": str(uuid.uuid4()), "currency": "USD"},
            )
            if cart is None:
                continue
            with self._lock:
                self.created.add(cart)
            for number in range(ITEMS_PER_CART):
                if stop.is_set():
                    break
                body = {
                    "catalogId": str(uuid.uuid4()),
                    "inventoryId": str(uuid.uuid4()),
                    "product": {
                        "description": f"Item {number}",
                        "name": f"Item {number}",
                        "brand": "Acme",
                        "category": "Tools",
                        "unit": "each",
                        "sku": f"SKU-{number}",
                    },
                    "quantity": 1,
                    "unitPrice": {"amount": "2.50", "currency": "USD"},
                }
                if self._until_answered("AddCartItem", "POST", f"{CARTS}/{cart}/items", body):
                    with self._lock:
                        self.acknowledged[cart] += 1

    def _until_answered(self, command: str, method: str, path: str, body: Any) -> str | None:
        """Send with one Idempotency-Key until a final answer; the aggregate id on 202."""
        key = str(uuid.uuid4())
        for _ in range(200):
            began = time.monotonic()
            status, text = 0, b""
            headers: Mapping[str, str] = {}
            with contextlib.suppress(OSError, http.client.HTTPException):
                status, headers, text = request(
                    self.base, method, path, body, {"Idempotency-Key": key}
                )
            with self._lock:
                self.answers.append(
                    Answered(command, status, time.monotonic() - began, headers.get("Retry-After"))
                )
            if status == 202:
                aggregate: str = json.loads(text)["aggregateId"]
                return aggregate
            if status not in (0, 503):
                raise AssertionError(f"{command} answered {status}: {text[:300]!r}")
            time.sleep(0.25)
        raise AssertionError(f"{command} never acknowledged")

    def statuses(self) -> Counter[int]:
        return Counter(a.status for a in self.answers)

    def slowest(self) -> float:
        return max((a.seconds for a in self.answers), default=0.0)


def lost_or_duplicated(load: Load, event_store: SqlEventStore) -> list[str]:
    """Carts whose stream disagrees with what was acknowledged: empty when nothing acknowledged
    was lost and nothing applied twice."""
    wrong = []
    for cart in sorted(load.created):
        kinds = Counter(e.event_type for e in event_store.load_events(uuid.UUID(cart)))
        if kinds["CartCreated"] != 1 or kinds["CartItemAdded"] != load.acknowledged[cart]:
            wrong.append(f"{cart}: {dict(kinds)}, acknowledged {load.acknowledged[cart]} items")
    return wrong


def replay_differences(event_store: SqlEventStore, read_models: ReadModelStore) -> list[str]:
    """Documents of the live read models that differ from a replay of the whole event store."""
    replayed = InMemoryReadModelStore()
    rebuild(event_store, Repository(event_store, CART).decode, replayed, PROJECTIONS)
    differences = []
    for projection in PROJECTIONS:
        for collection in projection.collections:
            live = {d["id"]: d for d in read_models.find(collection)}
            truth = {d["id"]: d for d in replayed.find(collection)}
            for id in sorted(set(live) | set(truth)):
                if live.get(id) != truth.get(id):
                    differences.append(f"{collection}/{id}")
    return differences


def converged(
    event_store_url: str, read_model_url: str, timeout: float
) -> tuple[bool, list[str], float]:
    """Poll until the read models equal a replay: (converged, differences, seconds waited)."""
    event_store = SqlEventStore.from_url(event_store_url)
    read_models = open_read_model_store(read_model_url)
    started = time.monotonic()
    try:
        while True:
            differences = replay_differences(event_store, read_models)
            waited = time.monotonic() - started
            if not differences or waited > timeout:
                return not differences, differences, waited
            time.sleep(0.5)
    finally:
        read_models.close()
        event_store.close()

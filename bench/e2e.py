"""End-to-end benchmark: HTTP command -> PostgreSQL event store + outbox -> RabbitMQ -> the five
cart projectors -> MongoDB read models, and a read-model rebuild on SQLite.

    python bench/e2e.py --json [--quick] [--profile]

The last line printed is ONE JSON object:

* ``commands_per_s``: ChangeCartItemQuantity commands over real HTTP from several client threads
  (each owning some carts, so no two commands race for one cart) to the whole shop served by
  werkzeug in a thread, counted from the first command sent to the moment every cart's details
  document in MongoDB shows its last version;
* ``p50_lag_ms``, ``p99_lag_ms``: at half that rate (paced), per command the time from its 202 to
  the details document showing its version (one poller thread, a ``find`` on the pending carts
  about every millisecond, the first time each version is seen);
* ``bare_commits_per_s``: the reference, a single-row INSERT + COMMIT loop on the same PostgreSQL
  database in the same run, half before and half after the e2e phases (the mean; both runs are
  in ``bare_commits_per_s_runs``); ``ratio`` = ``commands_per_s / bare_commits_per_s``;
* ``rebuild_events_per_s``: all five projections rebuilt from an SQLite event store into SQLite
  read models (``rebuild_read_models``), events / wall-clock seconds (``rebuild_cpu_s`` is the
  CPU time it took: lower than ``rebuild_s`` when other jobs share the machine); writing the
  events first is not timed.

* ``cpu_ms_per_command``: CPU of every process over the throughput window, per command: the shop
  (this process: clients, shop, dispatcher, poller), PostgreSQL (the server's own processes and
  the bench database's backends, not other databases'), RabbitMQ (the machine's broker: other
  users of it count too) and this run's nx-27017; each part as ``cpu_ms_per_command_<part>``;
* ``pg_read_models``: the same figures with the read models on PostgreSQL (the event store's
  database, ``SqlReadModelStore``) instead of the MongoDB wire server;
* ``core_commands_per_s`` and ``eventsourcing_commands_per_s`` (``core.py``, ``peer.py``): our
  application service called directly by the client threads with the five cart projectors fed
  from the event store, against the ``eventsourcing`` library's Application with five
  Projection + ProjectionRunner views, each in a fresh database of the same server, measured
  first (before the shop ever ran in this process); ``core_vs_eventsourcing`` is their ratio,
  ``*_cpu_ms_per_command`` their CPU (this process and PostgreSQL), ``*_vs_bare`` against the
  bare commits.

Context: per command, the events raised, the HTTP requests the shop served (the command and the
projector deliveries), the SQL statements and the MongoDB commands it sent (counted in this
process: a pymongo command listener, a SQLAlchemy event, Flask hooks), and the projector
deliveries refused (non-2xx, so retried by the broker after a backoff).

The services: PostgreSQL (a fresh database ``eventualshop_bench_e2e``, dropped at the end),
RabbitMQ (an exchange and queues of this run only, deleted at the end) and a MongoDB wire-protocol
server (``nx-27017``, started here on a free port with a temporary data directory, stopped at the
end). A service that cannot be reached is named on stderr and the figures that need it are left
out. Everything runs in this one process (client threads, the shop's HTTP server, the RabbitMQ
dispatcher), so all of it shares one interpreter lock and the machine's CPUs with the servers.
werkzeug's development server answers every request with ``Connection: close``, so the clients
and the dispatcher open a connection (and the server a thread) per request.

``--profile`` (slows the e2e figures down) prints on stderr the CPU each process used during the
throughput window and, from cProfile in every thread, the shop's CPU by thread role and by
component.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import logging
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "shared"))
sys.path.insert(0, str(ROOT))

POSTGRES_ADMIN_URL = os.environ.get(
    "EVENTUALSHOP_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
RABBITMQ_URL = os.environ.get(
    "EVENTUALSHOP_BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"
)
BENCH_DB = "eventualshop_bench_e2e"
MONGO_DB = "eventualshop_bench_e2e"
CARTS = "/api/v1/shopping-carts"
DETAILS = "ShoppingCartDetails"
PRODUCT = {
    "description": "A bench item",
    "name": "Widget",
    "brand": "Acme",
    "category": "Tools",
    "unit": "each",
    "sku": "W-1",
}


@dataclass(frozen=True)
class Config:
    window: float  # seconds of commands in the throughput phase
    lag_window: float  # seconds of paced commands in the lag phase
    bare_seconds: float  # in two halves: before and after the e2e run
    rebuild_events: int
    clients: int  # client threads, each with its own connection
    carts_per_client: int
    drain_timeout: float  # longest wait for the read model to catch up


QUICK = Config(3.5, 3.5, 1.5, 20_000, 6, 4, 15.0)
FULL = Config(15.0, 15.0, 6.0, 100_000, 6, 4, 60.0)


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# --------------------------------------------------------------------------- services


def postgres_database(name: str = BENCH_DB) -> str | None:
    """A fresh bench database; its URL, or None (reason on stderr) if PostgreSQL is unreachable.
    Each bench names its own (``name``), so benches run at the same time do not drop each
    other's."""
    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {name}")
    except Exception as error:
        note(f"postgresql unreachable at {POSTGRES_ADMIN_URL}: {_first_line(error)}")
        return None
    return f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{name}"


def drop_postgres_database(name: str = BENCH_DB) -> None:
    with contextlib.suppress(Exception):
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def rabbitmq_reachable() -> bool:
    try:
        import pika

        params = pika.URLParameters(RABBITMQ_URL)
        params.connection_attempts = 1
        params.socket_timeout = 3
        pika.BlockingConnection(params).close()
    except Exception as error:
        note(
            f"rabbitmq unreachable at {RABBITMQ_URL}: {_first_line(error) or type(error).__name__}"
        )
        return False
    return True


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _mongo_ping(url: str) -> str | None:
    import pymongo

    client: Any = pymongo.MongoClient(url, serverSelectionTimeoutMS=500, connectTimeoutMS=500)
    try:
        client.admin.command("ping")
    except Exception as error:
        return _first_line(error)
    finally:
        client.close()
    return None


@contextlib.contextmanager
def mongodb_server() -> Iterator[str | None]:
    """nx-27017 on a free port with a temporary data directory; its URL, or None."""
    script = Path(sys.executable).with_name("nx-27017")
    found = str(script) if script.is_file() else shutil.which("nx-27017")
    if found is None:
        note("mongodb: nx-27017 is not installed")
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="eventualshop-bench-nx-") as folder:
        port = _free_port()
        command = [
            found,
            "--data-dir",
            f"{folder}/data",
            "-p",
            str(port),
            "--log-file",
            f"{folder}/server.log",
            "--pid-file",
            f"{folder}/server.pid",
        ]
        with open(f"{folder}/output.txt", "wb") as output:
            server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        url = f"mongodb://127.0.0.1:{port}/{MONGO_DB}"
        NX_PIDS.add(server.pid)
        try:
            error: str | None = "not started"
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and server.poll() is None:
                error = _mongo_ping(url)
                if error is None:
                    break
                time.sleep(0.1)
            if error is not None:
                note(f"mongodb: nx-27017 did not answer on port {port}: {error}")
                yield None
            else:
                yield url
        finally:
            NX_PIDS.discard(server.pid)
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


# --------------------------------------------------------------------------- counters


@dataclass
class Counters:
    """Round trips the shop makes, counted in this process (the shop runs here)."""

    sql: int = 0
    mongo: int = 0
    http_requests: int = 0
    refused_deliveries: int = 0  # a projector's non-2xx: the broker retries after a backoff
    listening: bool = False  # the SQL and MongoDB listeners are installed

    def snapshot(self) -> tuple[int, int, int, int]:
        return self.sql, self.mongo, self.http_requests, self.refused_deliveries


COUNTERS = Counters()


def install_counters(app: Flask) -> None:
    """The Flask hooks on this shop's app; the SQL and MongoDB listeners once per process (they
    are global: installed again for a second shop, they counted every statement twice)."""
    if not COUNTERS.listening:
        _install_listeners()
        COUNTERS.listening = True
    from flask import request

    @app.before_request
    def count_request() -> None:
        COUNTERS.http_requests += 1

    @app.after_request
    def count_refusal(response: Any) -> Any:
        if response.status_code >= 300 and request.path.startswith("/functions/"):
            COUNTERS.refused_deliveries += 1
        return response


def _install_listeners() -> None:
    import pymongo.monitoring
    import sqlalchemy as sa
    from sqlalchemy.engine import Engine

    def on_sql(*_args: Any) -> None:
        COUNTERS.sql += 1  # a racy += loses a few counts at most: context, not a figure

    sa.event.listen(Engine, "before_cursor_execute", on_sql)

    class MongoCounter(pymongo.monitoring.CommandListener):
        def started(self, event: Any) -> None:
            del event
            COUNTERS.mongo += 1

        def succeeded(self, event: Any) -> None:
            pass

        def failed(self, event: Any) -> None:
            pass

    pymongo.monitoring.register(MongoCounter())


# --------------------------------------------------------------------------- HTTP client


class Client:
    """One client connection to the shop (reopened per request: werkzeug closes each one)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        data = None if body is None else json.dumps(body).encode()
        # The key makes the one retry below safe: a command that did go through is not redone.
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        if data is not None:
            headers["Content-Type"] = "application/json"
        for attempt in range(2):
            try:
                self.connection.request(method, path, body=data, headers=headers)
                response = self.connection.getresponse()
                raw = response.read()
                break
            except (OSError, http.client.HTTPException):
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt:
                    raise
        parsed = json.loads(raw) if raw else {}
        return response.status, parsed

    def close(self) -> None:
        self.connection.close()


@dataclass
class Cart:
    id: str
    item: str
    version: int
    quantity: int = 1

    def change(self, client: Client) -> tuple[int, dict[str, Any]]:
        self.quantity = 2 if self.quantity == 1 else 1
        path = f"{CARTS}/{self.id}/items/{self.item}/change-quantity?quantity={self.quantity}"
        return client.call("PUT", path)


def create_cart(client: Client) -> Cart:
    status, answer = client.call(
        "POST", CARTS, {"customerId": str(uuid.uuid4()), "currency": "USD"}
    )
    if status != 202:
        raise RuntimeError(f"create cart answered {status}: {answer}")
    cart_id, item_id = answer["aggregateId"], str(uuid.uuid4())
    item = {
        "itemId": item_id,
        "catalogId": str(uuid.uuid4()),
        "inventoryId": str(uuid.uuid4()),
        "product": PRODUCT,
        "quantity": 1,
        "unitPrice": {"amount": "9.99", "currency": "USD"},
    }
    status, answer = client.call("POST", f"{CARTS}/{cart_id}/items", item)
    if status != 202:
        raise RuntimeError(f"add item answered {status}: {answer}")
    return Cart(cart_id, item_id, answer["version"])


# --------------------------------------------------------------------------- read model watch


class DetailsReader:
    """Reads the cart details' versions straight from MongoDB (no shop code in between)."""

    def __init__(self, url: str) -> None:
        import pymongo

        from eventualshop.adapters.read_models_mongo import MongoReadModelStore

        self.client: Any = pymongo.MongoClient(url)
        database = self.client.get_default_database()
        # The collection the alias names (one look-up, here, before polling).
        self.collection = database[MongoReadModelStore(database).physical_name(DETAILS)]

    @staticmethod
    def of(url: str) -> DetailsReader:
        return PostgresDetailsReader(url) if url.startswith("postgresql") else DetailsReader(url)

    def versions(self, ids: list[str]) -> dict[str, int]:
        found = self.collection.find({"_id": {"$in": ids}}, {"version": 1})
        return {doc["_id"]: doc["version"] for doc in found}

    def wait_for(self, wanted: dict[str, int], timeout: float) -> float | None:
        """Poll until every cart shows at least its wanted version; when, or None on timeout."""
        pending = dict(wanted)
        deadline = time.perf_counter() + timeout
        while pending:
            now = time.perf_counter()
            if now > deadline:
                return None
            seen = self.versions(list(pending))
            for cart_id, version in seen.items():
                if version >= pending[cart_id]:
                    del pending[cart_id]
            if pending:
                time.sleep(0.001)
        return time.perf_counter()

    def close(self) -> None:
        self.client.close()


class PostgresDetailsReader(DetailsReader):
    """The same from the PostgreSQL read models (``SqlReadModelStore``: one table per
    collection, ``rm_`` + its name lower-cased)."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.connection: Any = psycopg.connect(
            url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
        )
        self.table = f"rm_{DETAILS.lower()}"

    def versions(self, ids: list[str]) -> dict[str, int]:
        rows = self.connection.execute(
            f"SELECT id, version FROM {self.table} WHERE id = ANY(%s)", (ids,)
        ).fetchall()
        return {row[0]: row[1] for row in rows}

    def close(self) -> None:
        self.connection.close()


class LagPoller:
    """One thread polling the pending carts about every millisecond; records when each awaited
    version is first seen."""

    def __init__(self, reader: DetailsReader) -> None:
        self.reader = reader
        self.lock = threading.Lock()
        self.pending: dict[str, set[int]] = {}  # cart -> versions not seen yet
        self.seen: dict[tuple[str, int], float] = {}  # (cart, version) -> when first seen
        self._stop = threading.Event()
        self.polls = 0
        self.thread = threading.Thread(target=self._run, name="lag-poller", daemon=True)

    def expect(self, cart_id: str, version: int) -> None:
        with self.lock:
            self.pending.setdefault(cart_id, set()).add(version)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join()

    def outstanding(self) -> int:
        with self.lock:
            return sum(len(v) for v in self.pending.values())

    def _run(self) -> None:
        while not self._stop.is_set():
            with self.lock:
                ids = list(self.pending)
            if not ids:
                time.sleep(0.0005)
                continue
            versions = self.reader.versions(ids)
            # When the answer is back: an upper bound, by at most one poll, of when it showed.
            now = time.perf_counter()
            self.polls += 1
            with self.lock:
                for cart_id, version in versions.items():
                    awaited = self.pending.get(cart_id)
                    if not awaited:
                        continue
                    for shown in [v for v in awaited if v <= version]:
                        awaited.discard(shown)
                        self.seen[(cart_id, shown)] = now
                    if not awaited:
                        del self.pending[cart_id]
            time.sleep(0.001)


# --------------------------------------------------------------------------- the shop


@dataclass
class RunningShop:
    port: int
    shop: Any
    server: Any
    thread: threading.Thread


@contextlib.contextmanager
def running_shop(event_store_url: str, read_model_url: str, data_dir: str) -> Iterator[RunningShop]:
    from werkzeug.serving import make_server

    from eventualshop.runtime.local import LocalShop
    from functions.main import ROOT as SHOP

    port = _free_port()
    exchange = f"bench-e2e-{uuid.uuid4().hex[:12]}"
    environment = {
        "EVENTUALSHOP_EVENT_STORE_URL": event_store_url,
        "EVENTUALSHOP_READ_MODEL_URL": read_model_url,
        "EVENTUALSHOP_BROKER": "rabbitmq",
        "EVENTUALSHOP_AUTH": "off",  # the cart itself, as the original anonymous API
        "EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY": "bench-card-token-key-" * 2,
        "EVENTUALSHOP_RABBITMQ_URL": RABBITMQ_URL,
        "EVENTUALSHOP_BROKER_EXCHANGE": exchange,
        "EVENTUALSHOP_HOST": "127.0.0.1",
        "EVENTUALSHOP_PORT": str(port),
        "EVENTUALSHOP_DATA_DIR": data_dir,
    }
    for name in list(os.environ):
        if name.startswith("EVENTUALSHOP_") or name == "K_SINK":
            del os.environ[name]
    os.environ.update(environment)
    SHOP.reset()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    shop = LocalShop(SHOP)
    install_counters(shop.app)
    server = make_server("127.0.0.1", port, shop.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="shop-http", daemon=True)
    thread.start()
    try:
        shop.start()
        try:
            yield RunningShop(port, shop, server, thread)
        finally:
            shop.stop()
            if shop.dispatcher is not None:
                with contextlib.suppress(Exception):
                    shop.dispatcher.delete(exchange=True)
    finally:
        server.shutdown()
        thread.join(timeout=5)
        _forget_shop()


def _forget_shop() -> None:
    """Release what the shop opened: every part the composition root holds."""
    from functions.main import ROOT as SHOP

    SHOP.reset()


# --------------------------------------------------------------------------- the e2e phases


def setup_carts(port: int, clients: int, per_client: int) -> list[list[Cart]]:
    """Per client thread, carts of its own (one item each): no two clients touch one cart."""
    groups: list[list[Cart]] = [[] for _ in range(clients)]

    def body(index: int, client: Client, carts: list[Cart]) -> None:
        del index
        carts.extend(create_cart(client) for _ in range(per_client))

    run_clients(port, groups, body)
    return groups


def run_clients(
    port: int,
    groups: list[list[Cart]],
    body: Callable[[int, Client, list[Cart]], None],
) -> None:
    errors: list[BaseException] = []

    def run(index: int, carts: list[Cart]) -> None:
        client = Client(port)
        try:
            body(index, client, carts)
        except BaseException as error:
            errors.append(error)
        finally:
            client.close()

    threads = [
        threading.Thread(target=run, args=(i, g), name=f"client-{i}") for i, g in enumerate(groups)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def _accepted(status: int, answer: dict[str, Any], cart: Cart) -> int:
    """The events the command raised (the cart's new version is noted)."""
    if status != 202:
        raise RuntimeError(f"change quantity answered {status}: {answer}")
    cart.version = answer["version"]
    return len(answer["events"])


def throughput(
    port: int, groups: list[list[Cart]], reader: DetailsReader, window: float, timeout: float
) -> dict[str, float]:
    """Unpaced commands for ``window`` seconds, then wait for every cart's last version."""
    counts = [0] * len(groups)
    events = [0] * len(groups)
    start = time.perf_counter()
    stop_at = start + window

    def body(index: int, client: Client, carts: list[Cart]) -> None:
        while time.perf_counter() < stop_at:
            for cart in carts:
                events[index] += _accepted(*cart.change(client), cart)
                counts[index] += 1

    before = COUNTERS.snapshot()
    cpu = all_processes_cpu()
    cpu.start()
    run_clients(port, groups, body)
    sent = time.perf_counter()
    wanted = {cart.id: cart.version for group in groups for cart in group}
    visible = reader.wait_for(wanted, timeout)
    cpu.stop()
    if visible is None:
        raise RuntimeError(f"the read model did not catch up within {timeout} s")
    after = COUNTERS.snapshot()
    commands = sum(counts)
    return {
        "cpu_ms_per_command": sum(cpu.used.values()) * 1000 / commands,
        **{f"cpu_ms_per_command_{k}": v * 1000 / commands for k, v in cpu.used.items()},
        "commands": commands,
        "commands_per_s": commands / (visible - start),
        "accepted_per_s": commands / (sent - start),
        "drain_s": visible - sent,
        "events_per_command": sum(events) / commands,
        "sql_per_command": (after[0] - before[0]) / commands,
        "mongo_per_command": (after[1] - before[1]) / commands,
        "http_per_command": (after[2] - before[2]) / commands,
        "refused_deliveries": after[3] - before[3],
    }


def lag(
    port: int,
    groups: list[list[Cart]],
    reader: DetailsReader,
    rate: float,
    window: float,
    timeout: float,
) -> dict[str, float]:
    """Commands paced at ``rate`` in all; per command, 202 -> its version visible."""
    poller = LagPoller(reader)
    answered: dict[tuple[str, int], float] = {}
    interval = len(groups) / rate  # each client thread sends every `interval` seconds
    start = time.perf_counter() + 0.05
    stop_at = start + window

    def body(index: int, client: Client, carts: list[Cart]) -> None:
        due = start + index * interval / len(groups)
        turn = 0
        while due < stop_at:
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            cart = carts[turn % len(carts)]
            turn += 1
            poller.expect(cart.id, cart.version + 1)
            status, answer = cart.change(client)
            at = time.perf_counter()
            _accepted(status, answer, cart)
            answered[(cart.id, cart.version)] = at
            due += interval

    before = COUNTERS.snapshot()
    poller.start()
    try:
        run_clients(port, groups, body)
        deadline = time.perf_counter() + timeout
        while poller.outstanding() and time.perf_counter() < deadline:
            time.sleep(0.01)
    finally:
        poller.stop()
    lags = sorted(
        max(0.0, poller.seen[key] - at) * 1000 for key, at in answered.items() if key in poller.seen
    )
    if len(lags) < len(answered):
        note(f"lag: {len(answered) - len(lags)} commands never became visible")
    if not lags:
        raise RuntimeError("no command became visible")
    return {
        "lag_refused_deliveries": COUNTERS.snapshot()[3] - before[3],
        "lag_commands": len(lags),
        "lag_rate_per_s": len(answered) / window,
        "p50_lag_ms": statistics.median(lags),
        "p99_lag_ms": lags[min(len(lags) - 1, round(0.99 * (len(lags) - 1)))],
        "max_lag_ms": lags[-1],
        "polls_per_s": poller.polls / window,
    }


def bare_commits(url: str, seconds: float) -> float:
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bare (id BIGSERIAL PRIMARY KEY, payload TEXT)")
        conn.commit()
        done = 0
        start = time.perf_counter()
        deadline = start + seconds
        while time.perf_counter() < deadline:
            conn.execute("INSERT INTO bare (payload) VALUES (%s)", ('{"bench": true}',))
            conn.commit()
            done += 1
        return done / (time.perf_counter() - start)


#: The pid of the nx-27017 this run started (other nx-27017 on the machine are not ours).
NX_PIDS: set[int] = set()


def all_processes_cpu() -> Any:
    """CPU of everything a command costs: this process (clients, shop, dispatcher), the bench
    database's PostgreSQL backends and the server's own processes, RabbitMQ (the machine's one
    broker: other users of it count too, when there are any) and this run's nx-27017."""
    from sampler import ProcessCpu, postgres_processes, processes_named

    def find() -> dict[int, str]:
        found = postgres_processes(BENCH_DB)
        found |= {pid: "rabbitmq" for pid in processes_named("beam.smp")}
        found |= {pid: "mongodb" for pid in NX_PIDS}
        found[os.getpid()] = "shop"
        return found

    return ProcessCpu(find)


@contextlib.contextmanager
def cpu_watched(enabled: bool) -> Iterator[None]:
    """With ``--profile``: the CPU each process used during the phase (on stderr)."""
    if not enabled:
        yield
        return
    from sampler import CpuWatch, processes_named

    groups = processes_named("postgres", "beam.smp", "nx-27017", "nx_27017")
    groups[os.getpid()] = "bench+shop (python)"
    watch = CpuWatch(groups)
    watch.start()
    try:
        yield
    finally:
        watch.stop()
        note(f"CPU use during the throughput window: {watch.report()}")


@contextlib.contextmanager
def thread_profiled(enabled: bool) -> Iterator[None]:
    """With ``--profile``: every thread started inside runs under cProfile (on stderr after)."""
    if not enabled:
        yield
        return
    from sampler import ThreadProfiler

    profiler = ThreadProfiler()
    profiler.install()
    try:
        yield
    finally:
        profiler.uninstall()
        note(profiler.report())


def bench_e2e(
    config: Config, postgres_url: str, read_model_url: str, *, profile: bool = False
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="eventualshop-bench-e2e-") as folder:
        sqlalchemy_url = postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
        if read_model_url.startswith("postgresql://"):
            read_model_url = sqlalchemy_url
        with (
            thread_profiled(profile),
            running_shop(sqlalchemy_url, read_model_url, folder) as running,
        ):
            reader = DetailsReader.of(read_model_url)
            try:
                groups = setup_carts(running.port, config.clients, config.carts_per_client)
                carts = [cart for group in groups for cart in group]
                if reader.wait_for({c.id: c.version for c in carts}, config.drain_timeout) is None:
                    raise RuntimeError("the read model never showed the new carts")
                # Warm up (imports, connections, caches) before anything is timed.
                throughput(running.port, groups, reader, 0.5, config.drain_timeout)
                with cpu_watched(profile):
                    measured = throughput(
                        running.port, groups, reader, config.window, config.drain_timeout
                    )
                paced = lag(
                    running.port,
                    groups,
                    reader,
                    measured["commands_per_s"] / 2,
                    config.lag_window,
                    config.drain_timeout,
                )
            finally:
                reader.close()
    return measured | paced


# --------------------------------------------------------------------------- core vs eventsourcing


def bench_core_vs_peer(config: Config, postgres_url: str) -> dict[str, Any]:
    """Our core path and the eventsourcing library's, each in a fresh schema of its own on the
    bench database, driven the same way (``core.compare``)."""
    from core import compare, core_shop
    from peer import peer_shop

    found: dict[str, Any] = {}
    sides: list[tuple[str, Callable[[str], Any]]] = [
        ("eventsourcing", peer_shop),
        (
            "core",
            lambda url: core_shop(url.replace("postgresql://", "postgresql+psycopg://", 1)),
        ),
    ]
    for side, shop in sides:
        url = _fresh_database(postgres_url, f"{BENCH_DB}_{side}")
        if url is None:
            continue
        try:
            with shop(url) as subject:
                figures = compare(
                    subject,
                    url.rsplit("/", 1)[1],
                    config.clients,
                    config.carts_per_client,
                    config.window,
                    config.drain_timeout,
                )
            found.update({f"{side}_{key}": value for key, value in figures.items()})
        except Exception as error:
            note(f"{side} left out: {type(error).__name__}: {_first_line(error)}")
        finally:
            _drop_database(url.rsplit("/", 1)[1])
    if "core_commands_per_s" in found and "eventsourcing_commands_per_s" in found:
        found["core_vs_eventsourcing"] = (
            found["core_commands_per_s"] / found["eventsourcing_commands_per_s"]
        )
    return found


def _fresh_database(postgres_url: str, name: str) -> str | None:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {name}")
    except Exception as error:
        note(f"postgresql: cannot create {name}: {_first_line(error)}")
        return None
    return f"{postgres_url.rsplit('/', 1)[0]}/{name}"


def _drop_database(name: str) -> None:
    with contextlib.suppress(Exception):
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# --------------------------------------------------------------------------- rebuild on SQLite


def _cart_commands(rng: Any, cart_id: uuid.UUID) -> list[Any]:
    """A realistic session: items added, changed, removed; addresses; payments; an ending."""
    from eventualshop.shopping_cart import commands as cmd

    products = [dict(PRODUCT, sku=f"W-{rng.randrange(1000)}", name=f"Widget {n}") for n in range(4)]
    commands: list[Any] = [
        cmd.CreateCart(cart_id=cart_id, customer_id=uuid.uuid4(), currency="USD")
    ]
    items: dict[uuid.UUID, int] = {}
    for product in products[: rng.randint(1, 4)]:
        item_id = uuid.uuid4()
        items[item_id] = rng.randint(1, 3)
        commands.append(
            cmd.AddCartItem(
                cart_id=cart_id,
                item_id=item_id,
                catalog_id=uuid.uuid4(),
                inventory_id=uuid.uuid4(),
                product=product,
                quantity=items[item_id],
                unit_price={"amount": f"{rng.randint(100, 9999) / 100:.2f}", "currency": "USD"},
            )
        )
    for _ in range(rng.randint(0, 5)):
        item_id = rng.choice(list(items))
        quantity = items[item_id] % 5 + 1
        items[item_id] = quantity
        commands.append(
            cmd.ChangeCartItemQuantity(cart_id=cart_id, item_id=item_id, new_quantity=quantity)
        )
    if len(items) > 1 and rng.random() < 0.3:
        commands.append(cmd.RemoveCartItem(cart_id=cart_id, item_id=next(iter(items))))
    address = {
        "street": "Main Street",
        "number": rng.randint(1, 500),
        "city": "Springfield",
        "state": "IL",
        "zipCode": "62701",
        "country": "USA",
    }
    commands.append(cmd.AddBillingAddress(cart_id=cart_id, address=address))
    if rng.random() < 0.4:
        commands.append(cmd.AddShippingAddress(cart_id=cart_id, address=address | {"number": 999}))
    return commands


def _payments(rng: Any, cart_id: uuid.UUID, due: Any) -> list[Any]:
    """Pay what is due: one method, or two (the first sometimes removed and paid again)."""
    from decimal import Decimal

    from eventualshop.shopping_cart import commands as cmd

    def pay(amount: Decimal) -> Any:
        money = {"amount": str(amount), "currency": "USD"}
        kind = rng.randrange(3)
        if kind == 2:
            return cmd.AddPayPal(
                cart_id=cart_id,
                amount=money,
                pay_pal={"email": "ada@example.com", "password": "secret"},
            )
        card = {
            "number": "4111 1111 1111 1111",
            "holderName": "Ada Lovelace",
            "expirationDate": "01/12/2099",
            "securityCode": 123,
        }
        if kind == 0:
            return cmd.AddCreditCard(cart_id=cart_id, amount=money, credit_card=card)
        return cmd.AddDebitCard(cart_id=cart_id, amount=money, debit_card=card)

    if due <= Decimal("0.01") or rng.random() < 0.5:
        return [pay(due)]
    first = (due / 2).quantize(Decimal("0.01"))
    steps = [pay(first)]
    if rng.random() < 0.3:
        steps.append(cmd.RemovePaymentMethod(cart_id=cart_id, method_id=steps[0].method_id))
        steps.append(pay(first))
    steps.append(pay(due - first))
    return steps


TEMPLATES = 250
_UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _template_carts(count: int, seed: int) -> list[Any]:
    """Carts run through the real aggregate and ``Repository.batch``: one append batch each."""
    import random

    from eventualshop.kernel.memory import InMemoryEventStore
    from eventualshop.kernel.repository import Repository
    from eventualshop.shopping_cart import commands as cmd
    from eventualshop.shopping_cart.cart import CART

    rng = random.Random(seed)
    repository = Repository(InMemoryEventStore(), CART)
    batches = []
    for _ in range(count):
        cart_id = uuid.uuid4()
        steps: list[Any] = []
        state = _run(CART, None, _cart_commands(rng, cart_id), steps)
        ending = rng.random()
        if ending < 0.8:  # paid, and mostly checked out
            state = _run(CART, state, _payments(rng, cart_id, state.amount_due.amount), steps)
            if rng.random() < 0.75:
                _run(CART, state, [cmd.CheckOutCart(cart_id=cart_id)], steps)
        elif ending < 0.9:
            _run(CART, state, [cmd.DiscardCart(cart_id=cart_id)], steps)
        batches.append(repository.batch(cart_id, steps, correlation_id="bench"))
    return batches


def _run(kind: Any, state: Any, commands: list[Any], steps: list[Any]) -> Any:
    """Each command through ``execute`` (decide, evolve, invariants); the steps are collected."""
    from eventualshop.kernel.aggregate import execute

    for command in commands:
        made = execute(kind, state, command)
        state = made[-1].state
        steps += made
    return state


def _clone(template: Any, context: str) -> Any:
    """The template cart's history for a new cart: every UUID in it replaced by a fresh one
    (cart, customer, items, payment methods, catalog entries), fresh event ids and times."""
    from dataclasses import replace
    from datetime import UTC, datetime

    from eventualshop.kernel import cloudevents
    from eventualshop.kernel.eventstore import AppendBatch, OutboxEntry, SnapshotRecord

    fresh: dict[str, str] = {}

    def remap(text: str) -> str:
        return _UUID_TEXT.sub(lambda m: fresh.setdefault(m[0], str(uuid.uuid4())), text)

    cart_id = uuid.UUID(remap(str(template.events[0].aggregate_id)))
    now = datetime.now(UTC)
    events = [
        replace(
            e, event_id=uuid.uuid4(), aggregate_id=cart_id, payload=remap(e.payload), timestamp=now
        )
        for e in template.events
    ]
    return AppendBatch(
        events=events,
        snapshots=[
            SnapshotRecord(cart_id, s.aggregate_type, s.version, remap(s.state))
            for s in template.snapshots
        ],
        outbox=[
            OutboxEntry(e.event_id, e.event_type, cloudevents.structured(context, e))
            for e in events
        ],
    )


def write_history(store: Any, events: int, seed: int = 7) -> int:
    """Carts with realistic histories until ``events`` events, appended in large batches.

    A few hundred template carts take random command mixes through the real aggregate (items
    added, changed and removed, addresses, one to three payment methods with some removed,
    checked out, discarded or left open); the rest are copies of them with fresh ids, which
    keeps writing 100,000 events to a few seconds. None of this is timed.
    """
    from eventualshop.kernel.eventstore import AppendBatch
    from eventualshop.shopping_cart.cart import CART

    templates = _template_carts(TEMPLATES, seed)
    written = 0
    pending: list[AppendBatch] = []

    def flush() -> None:
        store.append(
            AppendBatch(
                events=[e for b in pending for e in b.events],
                snapshots=[s for b in pending for s in b.snapshots],
                outbox=[o for b in pending for o in b.outbox],
            )
        )
        pending.clear()

    turn = 0
    while written < events:
        template = templates[turn % len(templates)]
        batch = template if turn < len(templates) else _clone(template, CART.context)
        turn += 1
        if written + len(batch.events) > events:  # the last cart stops part-way
            keep = events - written
            batch = AppendBatch(
                events=batch.events[:keep],
                snapshots=[s for s in batch.snapshots if s.version <= keep],
                outbox=batch.outbox[:keep],
            )
        pending.append(batch)
        written += len(batch.events)
        if sum(len(b.events) for b in pending) >= 5000:
            flush()
    if pending:
        flush()
    return written


def bench_rebuild(events: int) -> dict[str, float]:
    from eventualshop.adapters.event_store_sql import SqlEventStore
    from eventualshop.adapters.read_models_sql import SqlReadModelStore
    from eventualshop.shopping_cart.service import rebuild_read_models

    with tempfile.TemporaryDirectory(prefix="eventualshop-bench-rebuild-") as folder:
        store = SqlEventStore.from_url(f"sqlite:///{folder}/events.sqlite3", migrate=True)
        read_models = SqlReadModelStore.from_url(f"sqlite:///{folder}/readmodels.sqlite3")
        try:
            written = write_history(store, events)
            cpu, start = time.process_time(), time.perf_counter()
            reports = rebuild_read_models(store, read_models)
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        finally:
            read_models.close()
            store.close()
    return {
        "rebuild_events_per_s": written / elapsed,
        "rebuild_events": written,
        "rebuild_s": elapsed,
        "rebuild_cpu_s": cpu,  # below rebuild_s when other jobs take the CPU
        "rebuild_documents": sum(r.documents for r in reports),
    }


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    parser.add_argument("--quick", action="store_true", help="short runs (under 45 s in all)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="where the CPU goes (cProfile in every thread; on stderr; slows the e2e figures)",
    )
    args = parser.parse_args()
    config = QUICK if args.quick else FULL
    began = time.perf_counter()
    result: dict[str, Any] = {"quick": args.quick, "load_average_1m": os.getloadavg()[0]}

    postgres_url = postgres_database()
    bare: list[float] = []
    figures: dict[str, Any] | None = None
    if postgres_url is not None:
        result["postgresql"] = _postgres_version(postgres_url)
        bare += _bare(postgres_url, config.bare_seconds / 2)  # before and after the e2e run:
    rabbitmq = rabbitmq_reachable()  # the machine's load drifts
    on_postgres: dict[str, Any] | None = None
    core: dict[str, Any] = {}
    if postgres_url is not None:
        # First, in a process the shop has not run in yet: measured after the e2e phases, our
        # core path took three times the CPU per command (the peer's did not change).
        core = bench_core_vs_peer(config, postgres_url)
    if postgres_url is not None and rabbitmq:
        with mongodb_server() as mongo_url:
            if mongo_url is not None:
                try:
                    figures = bench_e2e(config, postgres_url, mongo_url, profile=args.profile)
                except Exception as error:
                    note(f"e2e left out: {type(error).__name__}: {_first_line(error)}")
        try:
            # A fresh database: on the MongoDB phase's, the new read models first caught up with
            # that phase's events (correctly), and the lag measured the catch-up (p99 2-4 s).
            fresh = postgres_database()
            if fresh is not None:
                on_postgres = bench_e2e(config, fresh, fresh)
        except Exception as error:
            note(f"e2e on PostgreSQL read models left out: {type(error).__name__}: {error}")
    if postgres_url is not None:
        bare += _bare(postgres_url, config.bare_seconds / 2)
        drop_postgres_database()
    if bare:
        result["bare_backend"] = (
            "postgresql, psycopg, one-row INSERT + COMMIT, synchronous_commit=on"
        )
        result["bare_commits_per_s"] = round(statistics.mean(bare), 1)
        result["bare_commits_per_s_runs"] = [round(b, 1) for b in bare]
    if figures is not None:
        result["e2e_backend"] = (
            "HTTP (werkzeug, threaded, one process) -> postgresql event store + outbox -> "
            "rabbitmq (headers exchange, 5 triggers) -> dispatcher -> 5 projector functions "
            "in process -> "
            "mongodb wire protocol (nx-27017) read models"
        )
        if bare:
            figures["ratio"] = figures["commands_per_s"] / statistics.mean(bare)
        result.update(_e2e_result(figures, config))
    if on_postgres is not None:
        result["pg_read_models"] = _e2e_result(on_postgres, config) | {
            "ratio": on_postgres["commands_per_s"] / statistics.mean(bare) if bare else None
        }
    if core:
        if bare:
            for side in ("core", "eventsourcing"):
                if f"{side}_commands_per_s" in core:
                    core[f"{side}_vs_bare"] = core[f"{side}_commands_per_s"] / statistics.mean(bare)
        result.update(_round(core))
    result["rebuild_backend"] = (
        "sqlite event store file -> 5 projections -> sqlite read models file"
    )
    result.update(_round(bench_rebuild(config.rebuild_events)))
    result["targets"] = {
        "commands_per_s": 102,  # 2 x the 51 of the README before issue 8
        "ratio": 0.06,
        "p99_lag_ms": 100,
        "rebuild_events_per_s": 25_000,
        "core_vs_eventsourcing": 1.0,
    }
    result["elapsed_s"] = round(time.perf_counter() - began, 1)
    if not args.json:
        for key, value in result.items():
            print(f"{key:28} {value}")
    print(json.dumps(result, separators=(",", ":")))


def _bare(url: str, seconds: float) -> list[float]:
    try:
        return [bare_commits(url, seconds)]
    except Exception as error:
        note(f"bare commit loop failed: {_first_line(error)}")
        return []


def _postgres_version(url: str) -> str:
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3) as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    except Exception:
        return "unknown"


def _e2e_result(figures: dict[str, Any], config: Config) -> dict[str, Any]:
    order = (
        "commands_per_s",
        "p50_lag_ms",
        "p99_lag_ms",
        "ratio",
        "accepted_per_s",
        "drain_s",
        "commands",
        "lag_rate_per_s",
        "lag_commands",
        "max_lag_ms",
        "polls_per_s",
        "events_per_command",
        "http_per_command",
        "sql_per_command",
        "mongo_per_command",
        "refused_deliveries",
        "lag_refused_deliveries",
        "cpu_ms_per_command",
        "cpu_ms_per_command_shop",
        "cpu_ms_per_command_postgresql",
        "cpu_ms_per_command_rabbitmq",
        "cpu_ms_per_command_mongodb",
    )
    shaped = {key: figures[key] for key in order if key in figures}
    shaped["deliveries_per_command"] = figures["http_per_command"] - 1
    shaped["clients"] = config.clients
    shaped["carts"] = config.clients * config.carts_per_client
    return _round(shaped)


def _round(figures: dict[str, Any]) -> dict[str, Any]:
    return {
        key: round(value, 3 if abs(value) < 10 else 1) if isinstance(value, float) else value
        for key, value in figures.items()
    }


if __name__ == "__main__":
    main()

"""Cold start: process start -> first 2xx of a cart command function, against a no-op
functions-framework function measured the same way in the same run.

    python bench/coldstart.py --json [--quick]

The default configuration is measured: authorization on, the request carrying a customer's
access token (signed as Identity signs, checked against ``EVENTUALSHOP_AUTH_JWKS`` as a deployed
function holds the public keys). The same run measures the anonymous API
(``EVENTUALSHOP_AUTH=off``) too, under the key ``"auth_off"``, with the same figures.

The last line is ONE JSON object: cart_command_ms, noop_ms (medians), ratio; the same in CPU time
of the servers' processes (cart_cpu_ms, noop_cpu_ms, cpu_ratio: what a busy machine does not
inflate, start to shutdown); and the break-down of a cart start, measured in a fresh interpreter
without a server (medians, CPU ms):
``framework_import_cpu_ms`` (functions-framework and Flask, which the no-op pays too),
``pydantic_import_cpu_ms`` (the library the domain's models are made of),
``function_import_cpu_ms`` (the rest of importing ``functions.main`` and building the
``create_cart`` target, what functions-framework does before it serves) and
``first_request_cpu_ms`` (the first command, in process: opening the store, the models it uses
built on first use, load, append; no relay pass: the embedded function has no broker);
``loaded`` lists the heavy libraries that the cart start imported (SQLAlchemy, Alembic,
pydantic-settings, PyJWT, cryptography's X.509: none is expected on a migrated store).
``server_phases_ms`` is the same start inside the server, in wall-clock ms (medians), for the cart
and the no-op: a probe source marks when functions-framework reaches it (``to_source_ms``: the
interpreter, functions-framework and Flask), ``functions.main``'s import (``import_ms``), the
target's build (``target_ms``), the way to the first request in the forked worker
(``to_request_ms``: the app, gunicorn, the fork) and that request (``request_ms``). It shows what
a fresh interpreter does not: the first request of the cart costs more in the worker than the
break-down's ``first_request_cpu_ms``, and a full garbage collection there once cost 25-40 ms.

``production`` is the same cart start in the configuration a deployment runs (README,
"Deploying"), against the same no-op measured in the same turns: the event store on PostgreSQL
(127.0.0.1:5432, a scratch database), events POSTed to a broker ingress (``EVENTUALSHOP_BROKER=
knative``, ``K_SINK`` an HTTP endpoint of this process that accepts them as a broker does), and
the read models either on MongoDB (an nx-27017 server started here: ``read_models_mongodb``) or
on the same PostgreSQL (``read_models_postgresql``). Each variant has the six figures of the
comparison above (``cart_command_ms`` to ``cpu_ratio``, the no-op's among them) and
``server_phases_ms``; ``driver_import_cpu_ms`` is what importing each
driver alone costs after ``functions.main``, in a fresh interpreter (medians). ``null`` (the
reason on stderr) when PostgreSQL or nx-27017 cannot be had.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e import drop_postgres_database, mongodb_server, postgres_database

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
#: Every function is served from one source; the target names the function.
CART_SOURCE = ROOT / "functions" / "main.py"
CART_TARGET = "shopping_cart_create_cart"
CART_PATH = "/api/v1/shopping-carts"
NOOP_SOURCE = ROOT / "bench" / "noop_function.py"
#: This bench's scratch database (its own, so other benches may run beside it).
BENCH_DB = "eventualshop_bench_coldstart"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _first_2xx(port: int, path: str, body: bytes, deadline: float, headers: dict[str, str]) -> None:
    while time.perf_counter() < deadline:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("POST", path, body, {"Content-Type": "application/json"} | headers)
            status = connection.getresponse().status
            if 200 <= status < 300:
                return
            raise RuntimeError(f"function answered {status}")
        except (ConnectionRefusedError, ConnectionResetError, http.client.RemoteDisconnected):
            time.sleep(0.002)
        finally:
            connection.close()
    raise TimeoutError("no 2xx within the deadline")


def cold_start_ms(
    source: Path,
    target: str,
    path: str,
    body: bytes,
    env: dict[str, str],
    headers: dict[str, str] | None = None,
) -> tuple[float, float]:
    """Wall-clock ms from process start to the first 2xx, and the CPU ms the server used in all
    (its processes, start to shutdown: the load of other work on the machine does not count)."""
    port = _free_port()
    command = [
        str(BIN / "functions-framework"),
        "--source",
        str(source),
        "--target",
        target,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    start = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _first_2xx(port, path, body, start + 30, headers or {})
        wall = (time.perf_counter() - start) * 1000
    finally:
        process.terminate()
        # wait4 reports the CPU time of the server and of the workers it reaped (gunicorn's).
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    return wall, (usage.ru_utime + usage.ru_stime) * 1000


#: One cart start without a server, phase by phase; prints a JSON object.
BREAKDOWN = f"""
import json, sys, time, uuid
HEAVY = ("sqlalchemy", "alembic", "pydantic_settings", "jwt", "cryptography.x509")
clock = time.process_time  # one thread: CPU time, which other work on the machine inflates less
t0 = clock()
import functions_framework, flask
t1 = clock()
# The request as the server hands it over (flask's test client would import click's test tools);
# the harness's own time is not counted.
from werkzeug.test import EnvironBuilder
body = json.dumps({{"customerId": sys.argv[2], "currency": "USD"}})
environ = EnvironBuilder(
    "{CART_PATH}",
    method="POST",
    data=body,
    content_type="application/json",
    headers=json.loads(sys.argv[1]),
).get_environ()
t2 = clock()
import pydantic
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
t3 = clock()
import functions.main
target = functions.main.{CART_TARGET}
t4 = clock()
status = target(flask.Request(environ)).status_code
t5 = clock()
assert status == 202, status
print(json.dumps({{
    "framework_import_cpu_ms": (t1 - t0) * 1000,
    "pydantic_import_cpu_ms": (t3 - t2) * 1000,
    "function_import_cpu_ms": (t4 - t3) * 1000,
    "first_request_cpu_ms": (t5 - t4) * 1000,
    "loaded": [m for m in HEAVY if m in sys.modules],
}}))
"""


#: The server's own timeline: a source that marks (wall-clock, in a file) when functions-framework
#: reaches it, when it has imported and built what it serves, and when the first request enters
#: and leaves the target in the worker.
_PROBE = """
import os, time
def _mark(name):
    with open(os.environ["EVENTUALSHOP_BENCH_MARKS"], "a") as marks:
        marks.write(f"{{name}} {{time.time()}}\\n")
_mark("source")
{build}
_mark("built")
def probe(request):
    _mark("request_in")
    try:
        return {serve}
    finally:
        _mark("request_out")
"""
CART_PROBE = _PROBE.format(
    build=f'import functions.main\n_mark("imported")\n_target = functions.main.{CART_TARGET}',
    serve="_target(request)",
)
NOOP_PROBE = _PROBE.format(build='_mark("imported")', serve='"", 202')
#: (phase, from mark, to mark); "start" is the moment before the process is started.
PHASES = (
    ("to_source_ms", "start", "source"),  # the interpreter, functions-framework and Flask
    ("import_ms", "source", "imported"),  # functions.main: the runtime and pydantic
    ("target_ms", "imported", "built"),  # the target and its context's modules
    # the app, gunicorn, the worker's fork (and up to the client's 2 ms between attempts)
    ("to_request_ms", "built", "request_in"),
    ("request_ms", "request_in", "request_out"),  # the first request, in the worker
)


def server_phases(
    probe: Path, path: str, body: bytes, env: dict[str, str], headers: dict[str, str]
) -> dict[str, float]:
    """One cold start of a probe source, phase by phase in wall-clock ms (see PHASES)."""
    marks = probe.with_suffix(".marks")
    marks.unlink(missing_ok=True)
    start = time.time()
    cold_start_ms(
        probe, "probe", path, body, env | {"EVENTUALSHOP_BENCH_MARKS": str(marks)}, headers
    )
    at = {"start": start}
    for line in marks.read_text().splitlines():
        name, moment = line.split()
        at.setdefault(name, float(moment))  # the first request's, not a later one's
    return {phase: (at[end] - at[begin]) * 1000 for phase, begin, end in PHASES}


def breakdown(env: dict[str, str], headers: dict[str, str], customer: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", BREAKDOWN, json.dumps(headers), customer],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    found: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return found


def _customer_token() -> tuple[dict[str, str], str, str]:
    """(the Authorization header, its customer id, the JWKS document): a customer's access token
    signed with a key made here, as Identity signs; the function holds the public key only."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from eventualshop.runtime.auth import ALGORITHM, key_id

    key = Ed25519PrivateKey.generate()
    kid = key_id(key.public_key())
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
    jwks = json.dumps({"keys": [jwk | {"kid": kid, "use": "sig", "alg": ALGORITHM}]})
    customer = str(uuid.uuid4())
    now = int(time.time())
    claims = {
        "iss": "eventual-shop",
        "aud": "eventual-shop",
        "sub": customer,
        "roles": ["customer"],
        "jti": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 3600,
    }
    token = jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid})
    return {"Authorization": f"Bearer {token}"}, customer, jwks


def _cart_body(customer: str) -> bytes:
    return json.dumps({"customerId": customer, "currency": "USD"}).encode()


def write_probes(folder: Path) -> tuple[Path, Path]:
    """The cart's and the no-op's probe sources (see ``_PROBE``), written once for the run."""
    # Not in the data folder itself: functions-framework puts a source's folder on sys.path.
    probes = folder / "probes"
    probes.mkdir(exist_ok=True)
    cart_probe, noop_probe = probes / "cart_probe.py", probes / "noop_probe.py"
    cart_probe.write_text(CART_PROBE)
    noop_probe.write_text(NOOP_PROBE)
    return cart_probe, noop_probe


Starts = list[tuple[float, float]]  # (wall ms, CPU ms) of each cold start


def _compared(cart: Starts, noop: Starts) -> dict[str, Any]:
    """The cart's cold starts against the no-op's: medians and their ratios."""
    cart_ms, cart_cpu = (statistics.median(c) for c in zip(*cart, strict=True))
    noop_ms, noop_cpu = (statistics.median(c) for c in zip(*noop, strict=True))
    return {
        "cart_command_ms": round(cart_ms, 1),
        "noop_ms": round(noop_ms, 1),
        "ratio": round(cart_ms / noop_ms, 3),
        # The same comparison in CPU time, which other work on the machine does not inflate.
        "cart_cpu_ms": round(cart_cpu, 1),
        "noop_cpu_ms": round(noop_cpu, 1),
        "cpu_ratio": round(cart_cpu / noop_cpu, 3),
    }


def _phase_medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {phase: round(statistics.median(t[phase] for t in runs), 1) for phase, _, _ in PHASES}


def measure(
    env: dict[str, str],
    headers: dict[str, str],
    customer: str,
    repeats: int,
    probes: tuple[Path, Path],
) -> dict[str, Any]:
    """Cold starts of the cart and of the no-op, interleaved, and the cart's break-downs."""
    body = _cart_body(customer)
    cart_probe, noop_probe = probes
    cart: Starts = []
    noop: Starts = []
    phases: list[dict[str, Any]] = []
    timelines: dict[str, list[dict[str, float]]] = {"cart": [], "noop": []}
    for _ in range(repeats):  # interleaved, so drift affects both sides alike
        cart.append(cold_start_ms(CART_SOURCE, CART_TARGET, CART_PATH, body, env, headers))
        noop.append(cold_start_ms(NOOP_SOURCE, "noop", "/", b"{}", env))
        phases.append(breakdown(env, headers, customer))
        timelines["cart"].append(server_phases(cart_probe, CART_PATH, body, env, headers))
        timelines["noop"].append(server_phases(noop_probe, "/", b"{}", env, {}))
    result = _compared(cart, noop)
    for phase in (
        "framework_import_cpu_ms",
        "pydantic_import_cpu_ms",
        "function_import_cpu_ms",
        "first_request_cpu_ms",
    ):
        result[phase] = round(statistics.median(p[phase] for p in phases), 1)
    result["loaded"] = sorted({name for p in phases for name in p["loaded"]})
    result["server_phases_ms"] = {side: _phase_medians(runs) for side, runs in timelines.items()}
    result["repeats"] = repeats
    return result


def _migrate(env: dict[str, str]) -> None:
    """The schema exists before the first start, as it does after ``eventualshop migrate``."""
    subprocess.run(
        [str(BIN / "eventualshop"), "migrate"], env=env, cwd=ROOT, check=True, capture_output=True
    )


class _Ingress(BaseHTTPRequestHandler):
    """A broker ingress: takes every CloudEvent POSTed to it (202), as Knative's broker does."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(202)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a bench's output is its figures


@contextlib.contextmanager
def broker_ingress() -> Iterator[str]:
    """An HTTP endpoint on 127.0.0.1 that accepts events, for ``K_SINK``; its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ingress)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


#: One driver's import after ``functions.main``, in a fresh interpreter: CPU ms.
DRIVER_IMPORT = """
import time
import functions_framework, flask
import functions.main
start = time.process_time()
import {module}
print((time.process_time() - start) * 1000)
"""
#: The drivers a production command function imports on its first request: the event store's,
#: and the read models' (the token's revocation check is the one read a command function makes).
DRIVERS = ("psycopg", "pymongo")


def _driver_import_cpu_ms(env: dict[str, str], repeats: int) -> dict[str, float]:
    found: dict[str, float] = {}
    for module in DRIVERS:
        runs = [
            float(
                subprocess.run(
                    [sys.executable, "-c", DRIVER_IMPORT.format(module=module)],
                    env=env,
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            for _ in range(repeats)
        ]
        found[module] = round(statistics.median(runs), 1)
    return found


def production(
    env: dict[str, str],
    headers: dict[str, str],
    customer: str,
    repeats: int,
    probes: tuple[Path, Path],
) -> dict[str, Any] | None:
    """The cart's cold start as deployed (see the module's text); ``None`` without the services."""
    database = postgres_database(BENCH_DB)
    if database is None:
        return None
    try:
        with mongodb_server() as mongo, broker_ingress() as ingress:
            if mongo is None:
                return None
            deployed = env | {
                "EVENTUALSHOP_EVENT_STORE_URL": database,
                "EVENTUALSHOP_BROKER": "knative",
                "K_SINK": ingress,
                # A deployment sets its own (README, "Deploying"); a bench's value.
                "EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY": uuid.uuid4().hex,
            }
            variants = {
                "mongodb": deployed | {"EVENTUALSHOP_READ_MODEL_URL": mongo},
                "postgresql": deployed | {"EVENTUALSHOP_READ_MODEL_URL": database},
            }
            _migrate(deployed)
            return _measure_deployed(variants, headers, customer, repeats, probes[0])
    finally:
        drop_postgres_database(BENCH_DB)


def _measure_deployed(
    variants: dict[str, dict[str, str]],
    headers: dict[str, str],
    customer: str,
    repeats: int,
    cart_probe: Path,
) -> dict[str, Any]:
    body = _cart_body(customer)
    noop: Starts = []
    starts: dict[str, Starts] = {name: [] for name in variants}
    timelines: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    some = next(iter(variants.values()))
    for _ in range(repeats):  # interleaved, as in ``measure``
        noop.append(cold_start_ms(NOOP_SOURCE, "noop", "/", b"{}", some))
        for name, env in variants.items():
            starts[name].append(
                cold_start_ms(CART_SOURCE, CART_TARGET, CART_PATH, body, env, headers)
            )
            timelines[name].append(server_phases(cart_probe, CART_PATH, body, env, headers))
    result: dict[str, Any] = {
        f"read_models_{name}": _compared(starts[name], noop)
        | {"server_phases_ms": _phase_medians(timelines[name])}
        for name in variants
    }
    result["driver_import_cpu_ms"] = _driver_import_cpu_ms(some, repeats)
    result["repeats"] = repeats
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeats = 5 if args.quick else 15
    with tempfile.TemporaryDirectory(prefix="eventualshop-coldstart-") as folder:
        headers, customer, jwks = _customer_token()
        env = os.environ | {
            "EVENTUALSHOP_DATA_DIR": folder,
            "PYTHONDONTWRITEBYTECODE": "0",
            # The default: authorization on, the public keys given as a deployment gives them.
            "EVENTUALSHOP_AUTH": "on",
            "EVENTUALSHOP_AUTH_JWKS": jwks,
        }
        _migrate(env)
        probes = write_probes(Path(folder))
        result = measure(env, headers, customer, repeats, probes)
        anonymous = env | {"EVENTUALSHOP_AUTH": "off"}
        result["auth_off"] = measure(anonymous, {}, str(uuid.uuid4()), repeats, probes)
        result["production"] = production(env, headers, customer, repeats, probes)
    if not args.json:
        for key, value in result.items():
            print(f"{key:16} {value}")
    print(json.dumps(result, separators=(",", ":")))


if __name__ == "__main__":
    main()

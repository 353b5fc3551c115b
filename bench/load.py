"""The original's load test (reference §8.3: k6, 450 virtual users, no sleeps) with locust used
as a library, against the storefront listing the web app calls (``GET /api/v1/catalogs/items``),
beside a no-op route of the same server (``GET /healthz``) in the same run.

    python bench/load.py --json [--quick]

The shop runs as ``eventualshop serve`` in a process of its own (werkzeug, a thread per
connection), once per set-up: the embedded default (SQLite read models) and, where PostgreSQL
is reachable, PostgreSQL + the MongoDB wire-protocol server (nx-27017, started here). Before the
load, one inventory and one active catalog of 24 items are created over HTTP and the listing is
polled until it shows them. Then, per route, 450 users (100 with ``--quick``) are spawned at once
and each sends its next request as soon as the last one is answered; the statistics are reset
once all users run, so the figures cover the steady phase only.

The last line printed is ONE JSON object, per set-up: ``listing_rps``, ``listing_p50_ms``,
``listing_p99_ms``, ``listing_failures``, the same for ``noop``, and ``ratio`` =
``listing_rps / noop_rps`` (target >= 0.5 with 0 failures). The load generator and the shop
share the machine's CPUs.
"""

# locust patches the standard library for gevent: it must be imported before anything else.
import locust  # noqa: I001  (must come first)
from locust import FastHttpUser, constant, task
from locust.env import Environment

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gevent

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e import _free_port, drop_postgres_database, mongodb_server, note, postgres_database

LISTING = "/api/v1/catalogs/items?limit=8"
NOOP = "/healthz"
ITEMS = 24


def call(base: str, method: str, path: str, body: Any = None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: dict[str, Any] = json.loads(response.read() or b"{}")
        return answer


@contextlib.contextmanager
def serving(env: dict[str, str]) -> Iterator[str]:
    port = _free_port()
    folder = tempfile.mkdtemp(prefix="eventualshop-load-")
    variables = {k: v for k, v in os.environ.items() if not k.startswith("EVENTUALSHOP_")}
    variables |= {
        "EVENTUALSHOP_DATA_DIR": folder,
        "EVENTUALSHOP_PORT": str(port),
        "EVENTUALSHOP_BROKER": "inprocess",
        "EVENTUALSHOP_AUTH": "off",  # the storefront is anonymous; the no-op too
    } | env
    command = [str(Path(sys.executable).with_name("eventualshop")), "serve"]
    with open(f"{folder}/serve.log", "wb") as log:
        shop = subprocess.Popen(command, env=variables, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                call(base, "GET", NOOP)
                break
            except OSError:
                if time.monotonic() > deadline or shop.poll() is not None:
                    raise RuntimeError(f"the shop did not start; see {folder}/serve.log") from None
                time.sleep(0.2)
        yield base
    finally:
        shop.terminate()
        shop.wait(timeout=20)


def seed(base: str) -> None:
    """One inventory, one active catalog of ``ITEMS`` items, visible in the listing."""
    inventory = call(base, "POST", f"/api/v1/warehouses?ownerId={uuid.uuid4()}")["aggregateId"]
    catalog = str(uuid.uuid4())
    call(base, "POST", "/api/v1/catalogs", {"catalogId": catalog, "title": "T", "description": "D"})
    for n in range(ITEMS):
        product = {
            "description": f"Product {n}",
            "name": f"Product {n}",
            "brand": "Acme",
            "category": "Things",
            "unit": "each",
            "sku": f"SKU-{n}",
        }
        body = {
            "inventoryId": inventory,
            "product": product,
            "unitPrice": {"amount": f"{n + 1}.00", "currency": "USD"},
            "sku": product["sku"],
            "quantity": 10,
        }
        call(base, "POST", f"/api/v1/catalogs/{catalog}/items", body)
    call(base, "PUT", f"/api/v1/catalogs/{catalog}/activate")
    deadline = time.monotonic() + 30
    while len(call(base, "GET", "/api/v1/catalogs/items?limit=100")["items"]) < ITEMS:
        if time.monotonic() > deadline:
            raise RuntimeError("the listing never showed the seeded items")
        time.sleep(0.1)


def load(base: str, path: str, users: int, seconds: float) -> dict[str, Any]:
    class Shopper(FastHttpUser):
        host = base
        wait_time = constant(0)  # the original's k6 script had no sleeps

        @task
        def get(self) -> None:
            self.client.get(path, name=path)

    environment = Environment(user_classes=[Shopper], events=locust.events)
    runner = environment.create_local_runner()
    runner.start(users, spawn_rate=users)
    while runner.user_count < users:
        gevent.sleep(0.1)
    gevent.sleep(1.0)  # let every user reach its first answer before counting
    environment.stats.reset_all()
    gevent.sleep(seconds)
    total = environment.stats.total
    figures = {
        "rps": round(total.num_requests / seconds, 1),
        "p50_ms": total.get_response_time_percentile(0.5),
        "p99_ms": total.get_response_time_percentile(0.99),
        "requests": total.num_requests,
        "failures": total.num_failures,
    }
    runner.quit()
    return figures


def measure(base: str, users: int, seconds: float) -> dict[str, Any]:
    seed(base)
    noop = load(base, NOOP, users, seconds)
    listing = load(base, LISTING, users, seconds)
    result = {f"listing_{k}": v for k, v in listing.items()}
    result |= {f"noop_{k}": v for k, v in noop.items()}
    result["ratio"] = round(listing["rps"] / noop["rps"], 3) if noop["rps"] else None
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    parser.add_argument("--quick", action="store_true", help="100 users, 5 s per route")
    args = parser.parse_args()
    users, seconds = (100, 5.0) if args.quick else (450, 20.0)
    figures: dict[str, Any] = {"users": users, "seconds_per_route": seconds}
    with serving({}) as base:
        figures["embedded"] = measure(base, users, seconds)
    database = postgres_database()
    if database is not None:
        try:
            with mongodb_server() as mongodb:
                if mongodb is not None:
                    env = {
                        "EVENTUALSHOP_EVENT_STORE_URL": database,
                        "EVENTUALSHOP_READ_MODEL_URL": mongodb,
                    }
                    with serving(env) as base:
                        figures["postgres_mongodb"] = measure(base, users, seconds)
        finally:
            drop_postgres_database()
    else:
        note("postgres_mongodb skipped")
    print(json.dumps(figures) if args.json else json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

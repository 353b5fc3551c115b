"""The original's load test (reference §8.3: k6, 450 virtual users, no sleeps) with locust used
as a library, against the storefront listing the web app calls (``GET /api/v1/catalogs/items``),
and a second mix (browse the listing, fill a cart, check it out), each beside a no-op route of
the same server (``GET /healthz``) in the same run.

    python bench/load.py --json [--quick]

The shop runs as ``eventualshop serve`` in a process of its own (gunicorn, threads), once per
set-up: the embedded default (SQLite read models) and, where PostgreSQL is reachable,
PostgreSQL + the MongoDB wire-protocol server (nx-27017, started here). Before the
load, one inventory stocked with 24 products and one active catalog of those 24 items are
created over HTTP and the listing is polled until it shows them. Then, per scenario, 450 users
(100 with ``--quick``) are spawned at once and each sends its next request as soon as the last
one is answered; the statistics are reset once all users run, so the figures cover the steady
phase only. The scenarios, one after the other: the no-op route, the listing, and the mix.

The mix (the issue's second scenario): each user in turn opens a cart, browses a page of the
listing and adds one of its items, one to three times, pays the total with PayPal and checks
the cart out (``CheckOutCart``, ``PUT …/{cartId}/check-out``); every add also makes the
Warehouse reserve stock (the stock reservations run in the shop's process) and the cart's
availability projector record the answer.

The last line printed is ONE JSON object, per set-up: ``listing_rps``, ``listing_p50_ms``,
``listing_p99_ms``, ``listing_failures``, the same for ``noop`` and for ``mix`` (all of the
mix's requests together) with ``mix_checkouts_per_s``, ``ratio`` = ``listing_rps / noop_rps``
(target >= 0.5 with 0 failures) and ``mix_ratio`` = ``mix_rps / noop_rps``. The load generator
and the shop share the machine's CPUs.
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
import random
from decimal import Decimal

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e import _free_port, drop_postgres_database, mongodb_server, note, postgres_database

LISTING = "/api/v1/catalogs/items?limit=8"
NOOP = "/healthz"
ITEMS = 24
CARTS = "/api/v1/shopping-carts"
#: Enough of each product that no cart of the run is refused stock (a checked-out cart keeps
#: what it reserved, with no expiry, and a run checks out thousands of carts).
STOCK = 1_000_000
#: This bench's scratch database (its own, so other benches may run beside it).
BENCH_DB = "eventualshop_bench_load"


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
        try:
            # A graceful stop lets the in-process broker deliver what the load left behind.
            shop.wait(timeout=60)
        except subprocess.TimeoutExpired:
            note("the shop did not stop within 60 s; killed")
            shop.kill()
            shop.wait(timeout=20)


def seed(base: str) -> str:
    """One inventory holding ``STOCK`` of each of ``ITEMS`` products and one active catalog of
    them, visible in the listing; the inventory's id."""
    created = call(base, "POST", f"/api/v1/warehouses?ownerId={uuid.uuid4()}")
    inventory = str(created["aggregateId"])
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
        received = f"/api/v1/warehouses/{inventory}/items?cost=1&quantity={STOCK}"
        call(base, "POST", received, product)
    call(base, "PUT", f"/api/v1/catalogs/{catalog}/activate")
    deadline = time.monotonic() + 30
    while len(call(base, "GET", "/api/v1/catalogs/items?limit=100")["items"]) < ITEMS:
        if time.monotonic() > deadline:
            raise RuntimeError("the listing never showed the seeded items")
        time.sleep(0.1)
    return inventory


def reader(base: str, path: str) -> type[FastHttpUser]:
    """A user who asks for ``path`` again and again."""

    class Reader(FastHttpUser):
        host = base
        wait_time = constant(0)  # the original's k6 script had no sleeps

        @task
        def get(self) -> None:
            self.client.get(path, name=path)

    return Reader


def cart_shopper(base: str, inventory: str) -> type[FastHttpUser]:
    """A user who browses, fills a cart and checks it out, again and again (the mix)."""

    class CartShopper(FastHttpUser):
        host = base
        wait_time = constant(0)

        @task
        def shop(self) -> None:
            client = self.client
            opened = client.post(
                CARTS, json={"customerId": str(uuid.uuid4()), "currency": "USD"}, name="create cart"
            )
            if opened.status_code != 202:
                return  # counted as a failure by locust; the next session starts over
            cart = opened.json()["aggregateId"]
            total = Decimal(0)
            for _ in range(random.randint(1, 3)):
                offset = random.randrange(0, ITEMS, 8)
                page = client.get(f"{LISTING}&offset={offset}", name="browse listing")
                cards = page.json()["items"] if page.status_code == 200 else []
                if not cards:
                    continue
                card = random.choice(cards)
                body = {
                    "itemId": str(uuid.uuid4()),
                    "catalogId": card["catalogId"],
                    "inventoryId": inventory,
                    "product": card["product"],
                    "quantity": 1,
                    "unitPrice": card["unitPrice"],
                }
                added = client.post(f"{CARTS}/{cart}/items", json=body, name="add item")
                if added.status_code == 202:
                    total += Decimal(card["unitPrice"]["amount"])
            if not total:
                return
            payment = {
                "amount": {"amount": str(total), "currency": "USD"},
                "payPal": {"email": "load@example.com", "password": "not-a-secret"},
            }
            client.post(f"{CARTS}/{cart}/payment-methods/pay-pal", json=payment, name="pay")
            client.put(f"{CARTS}/{cart}/check-out", name="check out")

    return CartShopper


def load(user: type[FastHttpUser], users: int, seconds: float) -> dict[str, Any]:
    environment = Environment(user_classes=[user], events=locust.events)
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
    checkouts = environment.stats.entries.get(("check out", "PUT"))
    if checkouts is not None:
        succeeded = checkouts.num_requests - checkouts.num_failures
        figures["checkouts_per_s"] = round(succeeded / seconds, 1)
    runner.quit()
    return figures


def measure(base: str, users: int, seconds: float) -> dict[str, Any]:
    inventory = seed(base)
    noop = load(reader(base, NOOP), users, seconds)
    listing = load(reader(base, LISTING), users, seconds)
    mix = load(cart_shopper(base, inventory), users, seconds)
    result = {f"listing_{k}": v for k, v in listing.items()}
    result |= {f"noop_{k}": v for k, v in noop.items()}
    result |= {f"mix_{k}": v for k, v in mix.items()}
    result["ratio"] = round(listing["rps"] / noop["rps"], 3) if noop["rps"] else None
    result["mix_ratio"] = round(mix["rps"] / noop["rps"], 3) if noop["rps"] else None
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    parser.add_argument("--quick", action="store_true", help="100 users, 5 s per scenario")
    args = parser.parse_args()
    users, seconds = (100, 5.0) if args.quick else (450, 20.0)
    figures: dict[str, Any] = {"users": users, "seconds_per_route": seconds}
    with serving({}) as base:
        figures["embedded"] = measure(base, users, seconds)
    note(f"embedded: {json.dumps(figures['embedded'])}")
    database = postgres_database(BENCH_DB)
    if database is not None:
        try:
            with mongodb_server() as mongodb:
                if mongodb is not None:
                    env = {
                        "EVENTUALSHOP_EVENT_STORE_URL": database,
                        "EVENTUALSHOP_READ_MODEL_URL": mongodb,
                        # Shared stores: the cart takes its card-token key from the operator.
                        "EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY": os.urandom(32).hex(),
                    }
                    with serving(env) as base:
                        figures["postgres_mongodb"] = measure(base, users, seconds)
        finally:
            drop_postgres_database(BENCH_DB)
    else:
        note("postgres_mongodb skipped")
    print(json.dumps(figures) if args.json else json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

"""Soak: the fault tests of ``tests/faults`` run longer, with their figures.

    python bench/soak.py --json [--quick] [--only a,b,c,d]

Each scenario runs ``eventualshop serve`` as its own process (PostgreSQL and RabbitMQ reached
through TCP proxies started here; the machine's servers are never stopped), sends cart commands
from client threads, injects its fault, then waits for the read models to equal a replay of the
event store:

* ``a``: 16 client threads, no fault, PostgreSQL + RabbitMQ: the reference the others compare with;
* ``b``: the embedded shop (SQLite, in-process broker) killed with SIGKILL half-way, restarted;
* ``c``: RabbitMQ cut for a quarter of the run, in the middle;
* ``d``: PostgreSQL cut for a quarter of the run, in the middle.

Per scenario: ``commands`` acknowledged, ``commands_per_s`` (``vs_reference``: ÷ scenario a's),
``answers`` by status, ``p50_ms``/``p99_ms``/``max_ms`` of the answers (a 503 counts; a client
retries it with the same Idempotency-Key), ``lost_or_duplicated`` (carts whose stream disagrees
with what was acknowledged: must be 0), ``converged`` and ``converge_s`` (from the end of the load
until every read model equals a replay; capped by ``--converge-timeout``), ``differences`` left,
``tracebacks`` in the shop's log. The last line printed is ONE JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "shared"))
sys.path.insert(0, str(ROOT))

import pika  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from eventualshop.adapters.event_store_sql import SqlEventStore  # noqa: E402
from tests.conftest import DEFAULT_POSTGRES_URL, new_postgres_database  # noqa: E402
from tests.faults.support import Load, ShopProcess, converged, lost_or_duplicated  # noqa: E402
from tests.integration.broker.conftest import DEFAULT_RABBITMQ_URL, TcpProxy, url_via  # noqa: E402

CARD_KEY = {"EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY": "soak-card-token-key-0123456789"}


def figures(
    load: Load, seconds: float, event_store_url: str, read_model_url: str, timeout: float
) -> dict[str, Any]:
    latencies = sorted(a.seconds * 1000 for a in load.answers)
    store = SqlEventStore.from_url(event_store_url)
    try:
        wrong = lost_or_duplicated(load, store)
    finally:
        store.close()
    ok, differences, waited = converged(event_store_url, read_model_url, timeout)
    commands = len(load.created) + sum(load.acknowledged.values())
    return {
        "commands": commands,
        "commands_per_s": round(commands / seconds, 1),
        "answers": {str(k): v for k, v in sorted(load.statuses().items())},
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1) if latencies else None,
        "max_ms": round(latencies[-1], 1) if latencies else None,
        "lost_or_duplicated": len(wrong),
        "converged": ok,
        "converge_s": round(waited, 1),
        "differences": len(differences),
    }


def window(start: float, length: float, down: Callable[[], None], up: Callable[[], None]) -> Any:
    state = {"down": False, "done": False}

    def during(elapsed: float) -> None:
        if not state["down"] and not state["done"] and elapsed >= start:
            down()
            state["down"] = True
        elif state["down"] and elapsed >= start + length:
            up()
            state["down"], state["done"] = False, True

    return during


def shared(scenario: str, args: argparse.Namespace, data: Path) -> dict[str, Any]:
    admin = sa.make_url(os.environ.get("EVENTUALSHOP_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    rabbitmq = os.environ.get("EVENTUALSHOP_TEST_RABBITMQ_URL", DEFAULT_RABBITMQ_URL)
    with new_postgres_database(admin.set(drivername="postgresql+psycopg")) as database:
        direct = database.render_as_string(hide_password=False)
        db_proxy = TcpProxy(database.host or "127.0.0.1", database.port or 5432)
        params = pika.URLParameters(rabbitmq)
        mq_proxy = TcpProxy(params.host, params.port)
        db_proxy.start()
        mq_proxy.start()
        via_db = database.set(host="127.0.0.1", port=db_proxy.port).render_as_string(False)
        env = {
            "EVENTUALSHOP_EVENT_STORE_URL": via_db,
            "EVENTUALSHOP_READ_MODEL_URL": via_db,
            "EVENTUALSHOP_BROKER": "rabbitmq",
            "EVENTUALSHOP_RABBITMQ_URL": url_via(rabbitmq, mq_proxy.port),
            "EVENTUALSHOP_BROKER_EXCHANGE": f"soak-{uuid.uuid4().hex[:12]}",
            **CARD_KEY,
        }
        shop = ShopProcess(env, data)
        shop.start()
        try:
            load = Load(shop.base, args.threads)
            cut_at, cut_for = args.seconds * 3 / 8, args.seconds / 4
            during = {
                "a": None,
                "c": window(cut_at, cut_for, mq_proxy.stop, mq_proxy.start),
                "d": window(cut_at, cut_for, db_proxy.stop, db_proxy.start),
            }[scenario]
            load.run(args.seconds, during)
            result = figures(load, args.seconds, direct, direct, args.converge_timeout)
            result["tracebacks"] = sum("Traceback" in line for line in shop.log_lines())
            return result
        finally:
            shop.close()
            db_proxy.stop()
            mq_proxy.stop()
            _delete_exchange(rabbitmq, env["EVENTUALSHOP_BROKER_EXCHANGE"], direct)


def _delete_exchange(rabbitmq: str, exchange: str, database: str) -> None:
    from eventualshop.runtime.broker.deadletters import SqlDeadLetterStore
    from eventualshop.runtime.broker.rabbitmq import RabbitMqDispatcher
    from functions.main import ROOT as SYSTEM

    triggers = [(sub, "unused") for spec in SYSTEM.functions for sub in spec.subscriptions]
    letters = SqlDeadLetterStore(database)
    try:
        RabbitMqDispatcher(rabbitmq, exchange, triggers, letters).delete(exchange=True)
    except Exception as error:  # cleanup only: the figures are already taken
        print(f"soak: queues of {exchange} not deleted: {error}", file=sys.stderr)
    finally:
        letters.engine.dispose()


def embedded(args: argparse.Namespace, data: Path) -> dict[str, Any]:
    shop = ShopProcess(CARD_KEY, data)
    shop.start()
    try:
        load = Load(shop.base, args.threads)

        def restart() -> None:
            shop.kill()
            shop.start()

        load.run(args.seconds, window(args.seconds / 2, 0, restart, lambda: None))
    finally:
        shop.close()
    shop.start()  # converging is the restarted shop's work: no rebuild is asked for
    try:
        result = figures(
            load,
            args.seconds,
            f"sqlite:///{data / 'eventstore-shopping-cart.sqlite3'}",
            f"sqlite:///{data / 'readmodels.sqlite3'}",
            args.converge_timeout,
        )
    finally:
        shop.close()
    result["tracebacks"] = sum("Traceback" in line for line in shop.log_lines())
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    parser.add_argument("--quick", action="store_true", help="20 s per scenario instead of 60")
    parser.add_argument("--only", default="a,b,c,d", help="scenarios, comma-separated")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--converge-timeout", type=float, default=60.0)
    args = parser.parse_args()
    args.seconds = 20.0 if args.quick else 60.0
    results: dict[str, Any] = {"seconds": args.seconds, "threads": args.threads}
    for scenario in args.only.split(","):
        with tempfile.TemporaryDirectory(prefix=f"soak-{scenario}-") as data:
            started = time.monotonic()
            try:
                if scenario == "b":
                    result = embedded(args, Path(data))
                else:
                    result = shared(scenario, args, Path(data))
            except Exception as error:  # one scenario's failure leaves the others' figures
                result = {"error": f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"}
            result["wall_s"] = round(time.monotonic() - started, 1)
        results[scenario] = result
        if not args.json:
            print(scenario, json.dumps(result), file=sys.stderr)
    reference = results.get("a", {}).get("commands_per_s")
    for scenario in ("b", "c", "d"):
        if reference and scenario in results:
            results[scenario]["vs_reference"] = round(
                results[scenario]["commands_per_s"] / reference, 2
            )
    print(json.dumps(results, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

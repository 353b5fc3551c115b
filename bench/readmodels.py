"""The storefront page on the SQL read-model store, in one process, beside its own query.

    python bench/readmodels.py --json [--quick]

What the README's load section quotes for the listing: 24 cards of one active catalog in an
SQLite read-model store; ``find_us`` is one ``SqlReadModelStore.find`` of the storefront page
(``catalogActive`` true, by ``addedAt``, 9 rows: the page and the one that tells ``hasNext``),
``query_us`` the same SQL run straight on sqlite3 with its rows decoded (the reference, measured
in the same run), ``ratio`` = ``query_us / find_us``. Then one embedded shop in this process,
through Flask's test client: ``listing_request_us`` for ``GET /api/v1/catalogs/items?limit=8`` and
``noop_request_us`` for ``GET /health/liveness``. Medians of 5 rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ITEMS = 24
LISTING = "/api/v1/catalogs/items?limit=8"


def per_call_us(call: Callable[[], object], calls: int, rounds: int = 5) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            call()
        times.append((time.perf_counter() - started) / calls * 1e6)
    return round(statistics.median(times), 1)


def store_figures(folder: Path, calls: int) -> dict[str, Any]:
    from eventualshop.adapters.read_models_sql import SqlReadModelStore

    url = f"sqlite:///{folder / 'readmodels.sqlite3'}"
    store = SqlReadModelStore.from_url(url)
    for n in range(ITEMS):
        card = {"id": str(uuid.uuid4()), "version": 1, "catalogActive": True}
        store.upsert_if_newer("Cards", card | {"addedAt": f"2026-01-{n + 1:02d}", "name": f"P{n}"})

    def find() -> list[Any]:
        return store.find("Cards", {"catalogActive": True}, sort=[("addedAt", "asc")], limit=9)

    raw = sqlite3.connect(folder / "readmodels.sqlite3")
    sql = (
        "SELECT id, version, body FROM rm_cards WHERE json_extract(body, '$.catalogActive') = 1 "
        "ORDER BY json_extract(body, '$.addedAt'), id LIMIT 9"
    )

    def query() -> list[Any]:
        return [{"id": i, "version": v, **json.loads(b)} for i, v, b in raw.execute(sql)]

    assert len(find()) == len(query()) == 9
    found, queried = per_call_us(find, calls), per_call_us(query, calls)
    raw.close()
    store.close()
    return {"find_us": found, "query_us": queried, "ratio": round(queried / found, 3)}


def request_figures(folder: Path, calls: int) -> dict[str, Any]:
    os.environ.update({"EVENTUALSHOP_DATA_DIR": str(folder / "shop"), "EVENTUALSHOP_AUTH": "off"})
    from eventualshop.runtime.local import LocalShop
    from functions.main import ROOT

    shop = LocalShop(ROOT)
    shop.start()
    try:
        client = shop.app.test_client()
        catalog = str(uuid.uuid4())
        body = {"catalogId": catalog, "title": "T", "description": "D"}
        client.post("/api/v1/catalogs", json=body)
        for n in range(ITEMS):
            product = {"description": "d", "name": f"P{n}", "brand": "B", "category": "C"}
            item = {
                "catalogId": catalog,
                "inventoryId": str(uuid.uuid4()),
                "product": product | {"unit": "U", "sku": f"S{n}"},
                "unitPrice": {"amount": "1.00", "currency": "USD"},
                "sku": f"S{n}",
                "quantity": 1,
            }
            client.post(f"/api/v1/catalogs/{catalog}/items", json=item)
        client.put(f"/api/v1/catalogs/{catalog}/activate")
        shop.settle()
        assert len(client.get(LISTING).json["items"]) == 8  # type: ignore[index]
        listing = per_call_us(lambda: client.get(LISTING), calls)
        noop = per_call_us(lambda: client.get("/health/liveness"), calls)
    finally:
        shop.stop()
        ROOT.reset()
    return {"listing_request_us": listing, "noop_request_us": noop}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    parser.add_argument("--quick", action="store_true", help="fewer calls per round")
    args = parser.parse_args()
    calls = 200 if args.quick else 1000
    with tempfile.TemporaryDirectory() as folder:
        figures = store_figures(Path(folder), calls) | request_figures(Path(folder), calls)
    print(json.dumps(figures) if args.json else figures)


if __name__ == "__main__":
    main()

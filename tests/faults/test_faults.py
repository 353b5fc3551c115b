"""The shop under load while a server goes away, or while the shop itself is killed.

Each test runs ``eventualshop serve`` as a real process with client threads sending cart
commands, injects one fault, then checks: no acknowledged command lost or applied twice, and
every read model equal to a replay of the event store. Bounded: about 10-15 s of load each.
Longer versions with figures: ``bench/soak.py --json``.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pika
import pytest
from sqlalchemy.engine import URL

from eventualshop.adapters.event_store_sql import SqlEventStore
from eventualshop.runtime.broker.deadletters import SqlDeadLetterStore
from eventualshop.runtime.broker.rabbitmq import RabbitMqDispatcher
from functions.main import ROOT
from tests.conftest import new_postgres_database
from tests.integration.broker.conftest import TcpProxy, url_via

from .support import Load, ShopProcess, converged, lost_or_duplicated

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]

THREADS = 8
#: The longest any answer may take while a server is cut (README, "Failing cleanly").
ANSWER_BOUND_S = 10.0
CONVERGE_S = 10.0
#: After an outage the backlog is delivered too: a little longer.
CONVERGE_AFTER_OUTAGE_S = 60.0
CARD_KEY = {"EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY": "fault-test-card-token-key"}


@dataclass
class Servers:
    """A fresh database and exchange, each reachable directly and through a proxy."""

    database: str
    database_via_proxy: str
    database_proxy: TcpProxy
    rabbitmq: str
    rabbitmq_via_proxy: str
    rabbitmq_proxy: TcpProxy
    exchange: str


@pytest.fixture
def servers(postgres_admin_url: URL, rabbitmq_url: str) -> Iterator[Servers]:
    with new_postgres_database(postgres_admin_url) as database:
        database_proxy = TcpProxy(database.host or "127.0.0.1", database.port or 5432)
        params = pika.URLParameters(rabbitmq_url)
        rabbitmq_proxy = TcpProxy(params.host, params.port)
        database_proxy.start()
        rabbitmq_proxy.start()
        exchange = f"faults-{uuid.uuid4().hex[:12]}"
        try:
            yield Servers(
                database=database.render_as_string(hide_password=False),
                database_via_proxy=database.set(
                    host="127.0.0.1", port=database_proxy.port
                ).render_as_string(hide_password=False),
                database_proxy=database_proxy,
                rabbitmq=rabbitmq_url,
                rabbitmq_via_proxy=url_via(rabbitmq_url, rabbitmq_proxy.port),
                rabbitmq_proxy=rabbitmq_proxy,
                exchange=exchange,
            )
        finally:
            database_proxy.stop()
            rabbitmq_proxy.stop()
            _delete_queues(rabbitmq_url, exchange, database.render_as_string(False))


def _delete_queues(rabbitmq_url: str, exchange: str, database: str) -> None:
    triggers = [(sub, "unused") for spec in ROOT.functions for sub in spec.subscriptions]
    dead_letters = SqlDeadLetterStore(database)
    try:
        with contextlib.suppress(Exception):  # best effort: never hide the test's own failure
            RabbitMqDispatcher(rabbitmq_url, exchange, triggers, dead_letters).delete(exchange=True)
    finally:
        dead_letters.engine.dispose()


@contextlib.contextmanager
def shop(env: dict[str, str], data_dir: Path) -> Iterator[ShopProcess]:
    process = ShopProcess(env, data_dir)
    process.start()
    try:
        yield process
    finally:
        process.close()


def cut(start: float, seconds: float, down: Callable[[], None], up: Callable[[], None]):  # type: ignore[no-untyped-def]
    """A ``during`` for :meth:`Load.run`: ``down()`` at ``start``, ``up()`` ``seconds`` later."""
    state = {"down": False, "done": False}

    def during(elapsed: float) -> None:
        if not state["down"] and not state["done"] and elapsed >= start:
            down()
            state["down"] = True
        elif state["down"] and elapsed >= start + seconds:
            up()
            state["down"], state["done"] = False, True

    return during


def shared_env(servers: Servers, database: str, rabbitmq: str) -> dict[str, str]:
    return {
        "EVENTUALSHOP_EVENT_STORE_URL": database,
        "EVENTUALSHOP_READ_MODEL_URL": database,
        "EVENTUALSHOP_BROKER": "rabbitmq",
        "EVENTUALSHOP_RABBITMQ_URL": rabbitmq,
        "EVENTUALSHOP_BROKER_EXCHANGE": servers.exchange,
        **CARD_KEY,
    }


def assert_converges(
    served: ShopProcess, event_store_url: str, read_model_url: str, timeout: float
) -> None:
    """Every read model equals a replay of the event store within ``timeout``, while the shop
    runs (no rebuild asked for), and then ``eventualshop lag`` reads 0 for every projection."""
    ok, differences, waited = converged(event_store_url, read_model_url, timeout)
    assert ok, (
        f"{len(differences)} documents differ from a replay after {waited:.1f} s: {differences[:2]}"
    )
    # Documents can match a replay before every cursor has moved (a read model that ignores an
    # event still records it): the lag reads 0 once the cursors are there too.
    deadline = time.monotonic() + timeout
    while True:
        lines = eventualshop_lag(served)
        assert lines, "eventualshop lag printed nothing"
        behind = [line for line in lines if not line.endswith(" behind 0 events in 0 aggregates")]
        if not behind or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert behind == [], behind


def eventualshop_lag(served: ShopProcess) -> list[str]:
    """What ``eventualshop lag`` prints for the shop's configuration, one line per projection."""
    command = Path(sys.executable).with_name("eventualshop")
    out = subprocess.run(
        [str(command), "lag"],
        env=served.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def assert_nothing_lost(load: Load, event_store_url: str) -> None:
    event_store = SqlEventStore.from_url(event_store_url)
    try:
        assert lost_or_duplicated(load, event_store) == []
    finally:
        event_store.close()
    assert load.created, "no cart was created: the load never ran"


# ---- (d) the database goes away --------------------------------------------------------------


def test_a_database_cut_for_5_s_answers_only_503_in_bounded_time_and_then_converges(
    servers: Servers, tmp_path: Path
) -> None:
    env = shared_env(servers, servers.database_via_proxy, servers.rabbitmq)
    with shop(env, tmp_path) as served:
        load = Load(served.base, THREADS)
        proxy = servers.database_proxy
        load.run(10, cut(2, 5, proxy.stop, proxy.start))

        statuses = load.statuses()
        assert set(statuses) <= {202, 503}, statuses
        assert statuses[503] > 0, "the cut was never felt"
        assert all(a.retry_after for a in load.answers if a.status == 503)
        assert load.slowest() < ANSWER_BOUND_S
        assert_nothing_lost(load, servers.database)
        lines = served.log_lines()
        assert_converges(served, servers.database, servers.database, CONVERGE_AFTER_OUTAGE_S)
    # One line per failure: no traceback, no line per retry of a driver.
    assert not [line for line in lines if "Traceback" in line]
    unavailable = [line for line in lines if "database unavailable" in line]
    assert 0 < len(unavailable) <= statuses[503] + THREADS


# ---- (c) the broker goes away ----------------------------------------------------------------


def test_a_broker_cut_for_5_s_loses_no_acknowledged_command_and_then_converges(
    servers: Servers, tmp_path: Path
) -> None:
    env = shared_env(servers, servers.database, servers.rabbitmq_via_proxy)
    with shop(env, tmp_path) as served:
        load = Load(served.base, THREADS)
        proxy = servers.rabbitmq_proxy
        load.run(10, cut(2, 5, proxy.stop, proxy.start))

        statuses = load.statuses()
        assert set(statuses) == {202}, statuses  # commands need no broker
        assert load.slowest() < ANSWER_BOUND_S
        assert_nothing_lost(load, servers.database)
        assert_converges(served, servers.database, servers.database, CONVERGE_AFTER_OUTAGE_S)


# ---- (a) plain load on PostgreSQL + RabbitMQ -------------------------------------------------


def test_after_15_s_of_load_every_read_model_equals_a_replay_within_10_s(
    servers: Servers, tmp_path: Path
) -> None:
    env = shared_env(servers, servers.database, servers.rabbitmq)
    with shop(env, tmp_path) as served:
        load = Load(served.base, THREADS)
        load.run(15)

        assert set(load.statuses()) == {202}
        assert_nothing_lost(load, servers.database)
        assert_converges(served, servers.database, servers.database, CONVERGE_S)


# ---- (b) the embedded shop is killed ---------------------------------------------------------


def test_the_embedded_shop_killed_mid_load_and_restarted_converges_with_no_rebuild(
    tmp_path: Path,
) -> None:
    served = ShopProcess(CARD_KEY, tmp_path)
    served.start()
    try:
        load = Load(served.base, THREADS)

        def restart() -> None:
            served.kill()
            served.start()

        load.run(7, cut(3, 0, restart, lambda: None))
    finally:
        served.close()

    event_store = f"sqlite:///{tmp_path / 'eventstore-shopping-cart.sqlite3'}"
    read_models = f"sqlite:///{tmp_path / 'readmodels.sqlite3'}"
    assert_nothing_lost(load, event_store)
    served.start()  # converging is the restarted shop's work, with no rebuild asked for
    try:
        assert_converges(served, event_store, read_models, CONVERGE_S)
    finally:
        served.close()

"""Connections the PostgreSQL server ended while they sat idle (a restart, a failover, an idle
timeout; here ``pg_terminate_backend``, with the server up all along).

A warm instance used to fail one request per idle connection it kept, each a 503 with the
database up again: five commands in a row after a restart on ``serve``'s event store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError

from eventualshop.adapters import sql_driver
from eventualshop.adapters.event_store_driver import open_event_store
from eventualshop.adapters.read_models_sql import SqlReadModelStore
from eventualshop.adapters.sql_driver import DirectConnections, DriverUrl
from eventualshop.kernel.service import ApplicationService
from eventualshop.shopping_cart import commands as cmd
from eventualshop.shopping_cart.cart import CART
from tests.conftest import new_postgres_database

pytestmark = pytest.mark.postgres

IDLE = 3


@pytest.fixture
def database(postgres_admin_url: URL) -> Iterator[URL]:
    """A database of this test's own: ending every session on it touches no other test."""
    with new_postgres_database(postgres_admin_url) as url:
        yield url


def end_every_session(admin_url: URL, database: URL) -> int:
    """What a server restart does to the shop's connections; how many it ended (each waited for,
    so the test does not race the server's goodbye)."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    try:
        with admin.connect() as connection:
            ended = connection.exec_driver_sql(
                "SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_stat_activity "
                "WHERE datname = %(name)s AND pid <> pg_backend_pid()",
                {"name": database.database},
            ).scalar_one()
    finally:
        admin.dispose()
    return int(ended)


def idle_connections(connections: DirectConnections, count: int) -> None:
    """Leave ``count`` connections idle in ``connections``, as a warm instance keeps them."""
    leases = [connections.connection() for _ in range(count)]
    for lease in leases:
        lease.__enter__()
    for lease in leases:
        lease.__exit__(None, None, None)


def cart_command() -> cmd.CreateCart:
    return cmd.CreateCart(cart_id=uuid.uuid4(), customer_id=uuid.uuid4(), currency="USD")


@pytest.fixture
def warm_service(database: URL) -> Iterator[ApplicationService[Any]]:
    """The cart's service on the driver path, as a warm instance holds it: a command handled,
    ``IDLE`` connections kept for the next ones."""
    url = database.render_as_string(hide_password=False)
    parsed = DriverUrl.parse(url)
    assert parsed is not None
    connections = DirectConnections(parsed)
    store = open_event_store(url, migrate=True, connections=connections)
    try:
        service = ApplicationService(store, CART)
        assert service.handle(cart_command()).accepted
        idle_connections(connections, IDLE)
        yield service
    finally:
        store.close()
        connections.close()


def test_commands_after_the_server_ended_the_idle_connections_are_accepted(
    postgres_admin_url: URL, database: URL, warm_service: ApplicationService[Any]
) -> None:
    assert end_every_session(postgres_admin_url, database) >= IDLE

    for _ in range(IDLE + 2):
        assert warm_service.handle(cart_command()).accepted


def test_a_server_gone_without_a_word_costs_one_command_not_one_per_idle_connection(
    postgres_admin_url: URL,
    database: URL,
    warm_service: ApplicationService[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When nothing on the socket says so (a host gone, a connection cut silently), the first
    command finds out; every idle connection goes with the broken one."""
    monkeypatch.setattr(sql_driver, "server_hung_up", lambda _connection: False)
    end_every_session(postgres_admin_url, database)

    with pytest.raises(OperationalError):
        warm_service.handle(cart_command())
    for _ in range(IDLE + 1):
        assert warm_service.handle(cart_command()).accepted


def test_a_read_model_read_after_the_server_ended_the_pooled_connections_answers(
    postgres_admin_url: URL, database: URL
) -> None:
    """The SQLAlchemy engines (read models, the rest of the event store) take the same care."""
    store = SqlReadModelStore.from_url(database.render_as_string(hide_password=False))
    try:
        store.upsert_if_newer("Carts", {"id": "c1", "version": 1})
        assert store.get("Carts", "c1") == {"id": "c1", "version": 1}

        assert end_every_session(postgres_admin_url, database) >= 1

        assert store.get("Carts", "c1") == {"id": "c1", "version": 1}
    finally:
        store.close()

"""The README's "Using PostgreSQL, RabbitMQ and MongoDB instead" block, run as a reader runs it.

The finding: the block exported the two store URLs and the broker and started ``serve``, which
stopped at once: "set EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY" (the shop requires the key
wherever a store is configured), and, given one, "database "eventualshop" does not exist" (no
step created it). The block runs here in bash, on this machine's PostgreSQL and RabbitMQ and on
an nx-27017, with three changes that keep it from touching anything of the reader's: the
database and the MongoDB database get names of their own, the RabbitMQ exchange too, and
``serve`` a free port and a data folder of its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from eventualshop.runtime.broker.deadletters import SqlDeadLetterStore
from eventualshop.runtime.broker.rabbitmq import RabbitMqDispatcher
from functions.main import ROOT as SHOP
from tests.integration.broker.conftest import rabbitmq_url
from tests.services import unavailable

__all__ = ["rabbitmq_url"]

HERE = Path(__file__).resolve().parents[2]
HEADING = "### Using PostgreSQL, RabbitMQ and MongoDB instead"


def _block() -> str:
    readme = (HERE / "README.md").read_text()
    section = readme[readme.index(HEADING) :]
    found = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert found is not None, f"no sh block under {HEADING!r}"
    return found.group(1)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def database(postgres_admin_url: URL) -> Iterator[str]:
    """A name for the block's database, dropped afterwards if the block created it."""
    name = f"eventualshop_readme_{uuid.uuid4().hex[:8]}"
    yield name
    admin = sa.create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def test_the_local_services_block_serves_the_shop(
    database: str,
    postgres_admin_url: URL,
    mongodb_url: str,
    rabbitmq_url: str,
    tmp_path: Path,
) -> None:
    url = postgres_admin_url
    if (url.host, url.port or 5432, url.username) != ("127.0.0.1", 5432, "postgres"):
        unavailable("the README's block names the PostgreSQL at 127.0.0.1:5432 as postgres")
    for tool in ("createdb", "openssl"):  # what the block calls besides the shop
        if shutil.which(tool) is None:
            unavailable(f"the README's block calls {tool}, which is not installed")
    port, exchange = _free_port(), f"readme-{uuid.uuid4().hex[:12]}"
    script = (
        _block()
        .replace("127.0.0.1:5432/eventualshop", f"127.0.0.1:5432/{database}")
        .replace("postgres eventualshop", f"postgres {database}")  # createdb's argument
        .replace("mongodb://127.0.0.1:27017/eventualshop", f"{mongodb_url.rstrip('/')}/{database}")
        .replace("eventualshop serve", f"eventualshop serve --port {port}")
    )
    assert database in script, "the block names no database: the test no longer fits it"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("EVENTUALSHOP_")}
    environment |= {
        "PATH": f"{Path(sys.executable).parent}:{environment.get('PATH', '')}",
        "EVENTUALSHOP_DATA_DIR": str(tmp_path),
        "EVENTUALSHOP_BROKER_EXCHANGE": exchange,
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        shop = subprocess.Popen(
            ["bash", "-e", "-c", script],
            cwd=HERE,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        answered = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and shop.poll() is None:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as got,
            ):
                answered = got.status
                break
            time.sleep(0.3)
        assert answered == 200, f"exit {shop.poll()}: {log.read_text(errors='replace')[-1500:]}"
        body = json.dumps(
            {
                "firstName": "Augusta",
                "lastName": "Lovelace",
                "email": f"{uuid.uuid4().hex[:8]}@example.com",
                "password": "Analytic-Engine-1843",
                "passwordConfirmation": "Analytic-Engine-1843",
            }
        ).encode()
        sign_up = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/identities/sign-up",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(sign_up, timeout=30) as got:  # a write on its stores
            assert got.status == 202
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(shop.pid, signal.SIGTERM)
        shop.wait(60)
        _delete_queues(rabbitmq_url, exchange, postgres_admin_url.set(database=database))


def _delete_queues(rabbitmq_url: str, exchange: str, database: URL) -> None:
    triggers = [(sub, "unused") for spec in SHOP.functions for sub in spec.subscriptions]
    with contextlib.suppress(Exception):  # best effort: never hide the test's own failure
        dead_letters = SqlDeadLetterStore(database.render_as_string(hide_password=False))
        try:
            RabbitMqDispatcher(rabbitmq_url, exchange, triggers, dead_letters).delete(exchange=True)
        finally:
            dead_letters.engine.dispose()

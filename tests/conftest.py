"""Shared fixtures: databases for the SQL adapters and the ``event_store`` every adapter passes.

PostgreSQL: ``EVENTUALSHOP_TEST_POSTGRES_URL`` (default: the local server's ``postgres``
database) is only the admin connection; each session creates and drops its own database.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from eventualshop.adapters.database import create_engine, migrate, normalize_url
from eventualshop.adapters.event_store_sql import SqlEventStore
from eventualshop.adapters.schema import TABLES
from eventualshop.kernel.eventstore import EventStore
from eventualshop.kernel.memory import InMemoryEventStore
from tests.services import unavailable

# The suites written before authorization test the cart through the original's anonymous API;
# the authorization tests switch it on themselves.
os.environ.setdefault("EVENTUALSHOP_AUTH", "off")

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _postgres_error(url: URL) -> str | None:
    """Why the server at ``url`` cannot be used, or ``None`` when it answers."""
    engine = create_engine(url, poolclass=sa.NullPool, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as error:
        return str(error.orig).strip().splitlines()[0] if error.orig else str(error)
    finally:
        engine.dispose()
    return None


def _start_local_postgres() -> bool:
    """Try the Debian cluster tools (what CI images and this project's machines have).

    Returns whether a start was attempted, i.e. whether waiting for the server makes sense.
    """
    pg_ctlcluster = shutil.which("pg_ctlcluster")
    clusters = Path("/etc/postgresql")
    if pg_ctlcluster is None or not clusters.is_dir():
        return False
    versions = sorted(p.name for p in clusters.iterdir() if (p / "main").is_dir())
    for version in versions:
        subprocess.run(
            [pg_ctlcluster, "--skip-systemctl-redirect", version, "main", "start"],
            capture_output=True,
            timeout=60,
            check=False,
        )
    return bool(versions)


@pytest.fixture(scope="session")
def postgres_admin_url() -> URL:
    url = normalize_url(os.environ.get("EVENTUALSHOP_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    error = _postgres_error(url)
    if error is not None and _start_local_postgres():
        for _ in range(20):
            error = _postgres_error(url)
            if error is None:
                break
            time.sleep(0.5)
    if error is not None:
        unavailable(f"PostgreSQL not reachable at {url.render_as_string()}: {error}")
    return url


@contextmanager
def new_postgres_database(admin_url: URL) -> Iterator[URL]:
    """A new, uniquely named, empty database; dropped on exit (open sessions are ended)."""
    name = f"eventualshop_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield admin_url.set(database=name)
        finally:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url(postgres_admin_url: URL) -> Iterator[URL]:
    """A fresh database for this session, dropped at the end."""
    with new_postgres_database(postgres_admin_url) as url:
        yield url


@pytest.fixture(scope="session")
def postgres_engine(postgres_url: URL) -> Iterator[Engine]:
    """The session database, migrated once."""
    engine = create_engine(postgres_url)
    migrate(engine)
    yield engine
    engine.dispose()


def truncate(engine: Engine) -> None:
    names = ", ".join(engine.dialect.identifier_preparer.format_table(t) for t in TABLES)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> URL:
    return sa.make_url(f"sqlite:///{tmp_path / 'eventstore.sqlite3'}")


@pytest.fixture
def postgres_store(postgres_engine: Engine) -> SqlEventStore:
    """The session database with empty tables (truncating is faster than migrating)."""
    truncate(postgres_engine)
    return SqlEventStore(postgres_engine)


@pytest.fixture
def sqlite_store(sqlite_url: URL) -> Iterator[SqlEventStore]:
    store = SqlEventStore.from_url(sqlite_url, migrate=True)
    yield store
    store.close()


POSTGRESQL = pytest.param("postgresql", marks=pytest.mark.postgres)


@pytest.fixture(params=["memory", "sqlite", POSTGRESQL])
def event_store(request: pytest.FixtureRequest) -> EventStore:
    """Every adapter of the ``EventStore`` port, migrated and empty."""
    if request.param == "memory":
        return InMemoryEventStore()
    fixture = {"sqlite": "sqlite_store", "postgresql": "postgres_store"}[request.param]
    store: SqlEventStore = request.getfixturevalue(fixture)
    return store


@pytest.fixture(params=["sqlite", POSTGRESQL])
def database_url(request: pytest.FixtureRequest) -> URL:
    """A migrated, empty SQL database, for tests that open several stores on it at once."""
    if request.param == "sqlite":
        url: URL = request.getfixturevalue("sqlite_url")
        migrate(url)
        return url
    truncate(request.getfixturevalue("postgres_engine"))
    postgres: URL = request.getfixturevalue("postgres_url")
    return postgres


@pytest.fixture(params=["sqlite", POSTGRESQL])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[URL]:
    """A database with no tables at all (not migrated), for migration tests."""
    if request.param == "sqlite":
        yield sa.make_url(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
        return
    admin: URL = request.getfixturevalue("postgres_admin_url")
    with new_postgres_database(admin) as url:
        yield url


# --- MongoDB wire protocol (nx-27017) -------------------------------------------------------------


def _mongodb_error(url: str) -> str | None:
    """Why the server at ``url`` cannot be used, or ``None`` when it answers a ping."""
    import pymongo
    import pymongo.errors

    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        url, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000
    )
    try:
        client.admin.command("ping")
    except pymongo.errors.PyMongoError as error:
        # pymongo appends the whole topology description: the first clause is the reason.
        return str(error).split(" (configured timeouts")[0].split(", Timeout:")[0][:300]
    finally:
        client.close()
    return None


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _nx_27017() -> str | None:
    """The ``nx-27017`` script of this environment (next to the interpreter), else on PATH."""
    import sys

    beside = Path(sys.executable).with_name("nx-27017")
    return str(beside) if beside.is_file() else shutil.which("nx-27017")


@pytest.fixture(scope="session")
def mongodb_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A MongoDB wire-protocol server: ``MONGODB_URL``, else an nx-27017 started for the session.

    Tests give themselves a database of their own on it. Skips with the reason when no server can
    be had (fails under ``CI=true``).
    """
    given = os.environ.get("MONGODB_URL")
    if given:
        problem = _mongodb_error(given)
        if problem is not None:
            unavailable(f"MongoDB not reachable at MONGODB_URL: {problem}")
        yield given
        return
    script = _nx_27017()
    if script is None:
        unavailable("nx-27017 is not installed and MONGODB_URL is not set")
    directory = tmp_path_factory.mktemp("nx-27017")
    port = _free_port()
    log = directory / "server.log"
    command = [
        script,
        "--data-dir",
        str(directory / "data"),
        "-p",
        str(port),
        "--log-file",
        str(log),
        "--pid-file",
        str(directory / "server.pid"),
    ]
    with (directory / "output.txt").open("wb") as output:
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    url = f"mongodb://127.0.0.1:{port}/"
    try:
        error: str | None = "not started"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and server.poll() is None:
            error = _mongodb_error(url)
            if error is None:
                break
            time.sleep(0.1)
        if error is not None:
            exited = server.poll()
            status = "running" if exited is None else f"exit status {exited}"
            tail = (directory / "output.txt").read_text(errors="replace").strip()[-500:]
            unavailable(f"nx-27017 did not answer on port {port} ({status}): {error} {tail}")
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture
def shop_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The shop's settings as a fresh process on a clean machine reads them: no
    ``EVENTUALSHOP_`` variable of this machine's, the data in ``tmp_path`` (returned), and the
    composition root reset before and after."""
    from functions.main import ROOT

    for name in list(os.environ):
        if name.startswith("EVENTUALSHOP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", str(tmp_path))
    ROOT.reset()
    yield tmp_path
    ROOT.reset()


@pytest.fixture(autouse=True)
def _shop_variables_as_found() -> Iterator[None]:
    """The shop's variables put back as the test found them, after monkeypatch's own undo.

    The command line's options set ``EVENTUALSHOP_`` variables as a user's shell would
    (``cli._apply_overrides``), and monkeypatch restores only what a test set through it: an
    option's value outlived its test (``serve --event-store-url bogus:`` failed 161 later tests
    in one run). Autouse, this fixture is set up before monkeypatch, so it is torn down after it.
    """
    found = {k: v for k, v in os.environ.items() if k.startswith("EVENTUALSHOP_")}
    yield
    for name in [n for n in os.environ if n.startswith("EVENTUALSHOP_") and n not in found]:
        del os.environ[name]
    os.environ.update(found)

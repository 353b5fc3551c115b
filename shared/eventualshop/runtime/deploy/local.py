"""The shared image's Dockerfile and the docker-compose file that runs the shop on real servers.

Compose runs the same code as production: one ``shop`` serving every function on one port,
publishing to RabbitMQ, and a ``dispatcher`` delivering RabbitMQ events to subscribers by the
same Trigger declarations the Knative manifests come from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eventualshop.runtime.deploy.config import CONTAINER_PORT, HEALTH_PATH, setting
from eventualshop.runtime.deploy.render import HEADER
from eventualshop.runtime.registry import SERVER_THREADS

PYTHON_IMAGE = "python:3.11-slim"
DEFAULT_UV_VERSION = "0.13.9"
LOCAL_IMAGE = "eventualshop/functions:local"
# A shell, to expand the variables; ``exec`` so that the server gets the container's signals.
# The entry point is functions-framework's app plus the health paths (FUNCTION_SOURCE,
# FUNCTION_TARGET and FUNCTION_SIGNATURE_TYPE pick the function); gunicorn as
# functions-framework itself runs it, one worker with threads (a warm instance keeps its stores).
# No control socket: gunicorn (>= 25.1) would open one in $HOME (/app, not writable) for a process
# nobody manages by hand, importing asyncio in the arbiter beside the first request. The worker
# is gunicorn's threaded one, whose own refusals (a 414, a 431, a malformed request) answer
# problem+json, not HTML (``runtime/gunicorn_worker.py``).
RUN_FUNCTION = (
    f'gunicorn --bind "0.0.0.0:$PORT" --workers 1 --threads {SERVER_THREADS} --timeout 0'
    " --no-control-socket"
    " --worker-class eventualshop.runtime.gunicorn_worker.ProblemWorker"
    " 'eventualshop.runtime.entry:create_app()'"
)

POSTGRES_USER = "eventualshop"  # local only; production URLs come from a Secret
POSTGRES_URL = f"postgresql://{POSTGRES_USER}:{POSTGRES_USER}@postgres:5432/eventualshop"
MONGODB_URL = "mongodb://mongodb:27017/eventualshop"
RABBITMQ_URL = "amqp://guest:guest@rabbitmq:5672/%2F"


def uv_version(root: Path) -> str:
    """The uv the Makefile bootstraps, so the image resolves uv.lock with the same uv."""
    makefile = root / "Makefile"
    if makefile.is_file():
        found = re.search(r"^UV_VERSION\s*:?=\s*(\S+)", makefile.read_text(), re.MULTILINE)
        if found:
            return found.group(1)
    return DEFAULT_UV_VERSION


def dockerfile(root: Path) -> str:
    head = "".join(f"# {line}\n" for line in HEADER.splitlines())
    return f"""# syntax=docker/dockerfile:1
{head}#
# One image for every function: FUNCTION_SOURCE, FUNCTION_TARGET and FUNCTION_SIGNATURE_TYPE
# (set per Knative Service, func.yaml or OpenFaaS function) pick the function it serves.

FROM {PYTHON_IMAGE} AS build
RUN pip install --no-cache-dir "uv=={uv_version(root)}"
ENV UV_COMPILE_BYTECODE=1 \\
    UV_LINK_MODE=copy \\
    UV_PYTHON_DOWNLOADS=never \\
    UV_PROJECT_ENVIRONMENT=/opt/venv
WORKDIR /app
# Dependencies first, from the lock file alone, so a code change reuses this layer.
COPY pyproject.toml uv.lock ./
# The mssql extra (pyodbc) too: one image serves every event store.
RUN uv sync --locked --no-dev --extra mssql --no-install-project
COPY README.md ./
COPY shared/ shared/
COPY functions/ functions/
RUN uv sync --locked --no-dev --extra mssql --no-editable

FROM {PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \\
    PYTHONUNBUFFERED=1 \\
    PYTHONDONTWRITEBYTECODE=1 \\
    PORT={CONTAINER_PORT}
# FreeTDS, Debian's ODBC driver for SQL Server, registered as "FreeTDS" for
# mssql+pyodbc://…?driver=FreeTDS&TDS_Version=7.4 (Debian's package leaves registering to debconf).
# Versions unpinned on purpose: the base image's Debian release fixes them, and its security
# updates should land on rebuild.
# hadolint ignore=DL3008
RUN apt-get update \\
    && apt-get install -y --no-install-recommends tdsodbc unixodbc \\
    && odbcinst -i -d -f /usr/share/tdsodbc/odbcinst.ini \\
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --home-dir /app eventualshop \\
    && mkdir -p /app/var \\
    && chown eventualshop /app/var
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
# functions-framework loads a target from a file path (FUNCTION_SOURCE, relative to /app).
COPY shared/ shared/
COPY functions/ functions/
USER 10001
EXPOSE {CONTAINER_PORT}
CMD {json.dumps(["/bin/sh", "-c", "exec " + RUN_FUNCTION])}
"""


def dockerignore() -> str:
    head = "".join(f"# {line}\n" for line in HEADER.splitlines())
    return head + "\n".join(
        [
            ".git",
            ".venv",
            "**/__pycache__",
            "**/*.pyc",
            ".mypy_cache",
            ".ruff_cache",
            ".pytest_cache",
            ".hypothesis",
            "var",
            "*.sqlite3",
            "*.sqlite3-*",
            "bench",
            "tests",
            "knative",
            "local",
            "openfaas",
            "overlays",
            "schemas",
            "",
        ]
    )


def _healthcheck(test: list[str], *, start_period: str = "10s") -> dict[str, Any]:
    return {
        "test": test,
        "interval": "5s",
        "timeout": "5s",
        "retries": 20,
        "start_period": start_period,
    }


def _healthy(*services: str) -> dict[str, dict[str, str]]:
    return {name: {"condition": "service_healthy"} for name in services}


def _published(variable: str, default: int, port: int) -> str:
    """A host port the developer can move; by default not the one a PostgreSQL, RabbitMQ or
    MongoDB of their own (the tests' servers) already listens on."""
    return f"127.0.0.1:${{{variable}:-{default}}}:{port}"


def _app_service(command: list[str], environment: dict[str, str]) -> dict[str, Any]:
    return {
        "image": LOCAL_IMAGE,
        "build": {"context": "..", "dockerfile": "Dockerfile"},
        "command": command,
        "environment": dict(environment),
        "volumes": ["shop-data:/app/var"],
    }


def compose(secrets: Sequence[str] = ()) -> dict[str, Any]:
    """The shop on real servers. ``secrets`` (the contexts' secret variables, such as the cart's
    card-token key) come from the developer's shell: the shop requires them wherever a store is
    configured, and a key written into this file would be the same for everyone who runs it.
    Compose refuses to start without them, in one line naming the variable."""
    # Each URL can be overridden from the shell, e.g. an mssql+pyodbc:// event store on the mssql
    # profile's server (…?driver=FreeTDS&TDS_Version=7.4: the image carries FreeTDS).
    environment = {
        setting("broker"): "rabbitmq",
        setting("rabbitmq_url"): "${EVENTUALSHOP_RABBITMQ_URL:-" + RABBITMQ_URL + "}",
        setting("event_store_url"): "${EVENTUALSHOP_EVENT_STORE_URL:-" + POSTGRES_URL + "}",
        setting("read_model_url"): "${EVENTUALSHOP_READ_MODEL_URL:-" + MONGODB_URL + "}",
        setting("data_dir"): "/app/var",
    }
    for variable in secrets:
        hint = f"export {variable} first (16+ random bytes: openssl rand -hex 32)"
        environment[variable] = "${" + variable + ":?" + hint + "}"
    infrastructure = _healthy("rabbitmq", "postgres", "mongodb")
    migrate = _app_service(["eventualshop", "migrate"], environment)
    migrate["depends_on"] = _healthy("postgres")
    migrate["restart"] = "no"
    shop = _app_service(
        ["eventualshop", "serve"],
        {**environment, setting("host"): "0.0.0.0", setting("port"): str(CONTAINER_PORT)},
    )
    shop["ports"] = [_published("SHOP_HTTP_PORT", 8080, CONTAINER_PORT)]
    shop["depends_on"] = {
        **infrastructure,
        "migrate": {"condition": "service_completed_successfully"},
    }
    shop["healthcheck"] = _healthcheck(
        [
            "CMD",
            "python",
            "-c",
            "import urllib.request; "
            f"urllib.request.urlopen('http://127.0.0.1:{CONTAINER_PORT}{HEALTH_PATH}', timeout=3)",
        ]
    )
    shop["restart"] = "unless-stopped"
    # One dispatcher only: ``serve`` on RabbitMQ runs it, with the Triggers' semantics. A second
    # one (``eventualshop dispatch``) competed with it for the same queues and posted to its own
    # loopback address.
    return {
        "services": {
            "rabbitmq": {
                "image": "rabbitmq:3.13-management",
                "environment": {"RABBITMQ_DEFAULT_USER": "guest", "RABBITMQ_DEFAULT_PASS": "guest"},
                "ports": [
                    _published("SHOP_RABBITMQ_PORT", 15673, 5672),
                    _published("SHOP_RABBITMQ_UI_PORT", 15672, 15672),
                ],
                "volumes": ["rabbitmq-data:/var/lib/rabbitmq"],
                "healthcheck": _healthcheck(
                    ["CMD", "rabbitmq-diagnostics", "-q", "ping"], start_period="30s"
                ),
            },
            "postgres": {
                "image": "postgres:16",
                "environment": {
                    "POSTGRES_USER": POSTGRES_USER,
                    "POSTGRES_PASSWORD": POSTGRES_USER,
                    "POSTGRES_DB": "eventualshop",
                },
                "ports": [_published("SHOP_POSTGRES_PORT", 15432, 5432)],
                "volumes": ["postgres-data:/var/lib/postgresql/data"],
                "healthcheck": _healthcheck(
                    ["CMD-SHELL", f"pg_isready -U {POSTGRES_USER} -d eventualshop"]
                ),
            },
            "mongodb": {
                "image": "mongo:7.0",
                "ports": [_published("SHOP_MONGODB_PORT", 17017, 27017)],
                "volumes": ["mongodb-data:/data/db"],
                "healthcheck": _healthcheck(
                    ["CMD", "mongosh", "--quiet", "--eval", "db.adminCommand('ping').ok"]
                ),
            },
            "mssql": {
                "image": "mcr.microsoft.com/mssql/server:2022-latest",
                "profiles": ["mssql"],
                "environment": {
                    "ACCEPT_EULA": "Y",
                    "MSSQL_SA_PASSWORD": "${MSSQL_SA_PASSWORD:-EventualShop-local-1}",
                },
                "ports": [_published("SHOP_MSSQL_PORT", 11433, 1433)],
                "volumes": ["mssql-data:/var/opt/mssql"],
                "healthcheck": _healthcheck(
                    [
                        "CMD-SHELL",
                        "/opt/mssql-tools18/bin/sqlcmd -C -S localhost -U sa"
                        ' -P "$$MSSQL_SA_PASSWORD" -Q "SELECT 1" -b',
                    ],
                    start_period="30s",
                ),
            },
            "migrate": migrate,
            "shop": shop,
        },
        "volumes": {
            "rabbitmq-data": {},
            "postgres-data": {},
            "mongodb-data": {},
            "mssql-data": {},
            "shop-data": {},
        },
    }

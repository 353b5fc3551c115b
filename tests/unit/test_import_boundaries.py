"""The dependency rule and cold starts: a module imports only what it needs.

Each check runs in a fresh interpreter, because this test process has imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

INFRASTRUCTURE = ("sqlalchemy", "pymongo", "pika", "psycopg", "flask", "cloudevents", "alembic")


def imported_by(module: str, *, call: str = "") -> set[str]:
    code = (
        f"import sys, json, {module}\n{call}\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="."
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_the_cart_domain_imports_no_infrastructure() -> None:
    loaded = imported_by("eventualshop.shopping_cart")
    assert loaded.isdisjoint(INFRASTRUCTURE), loaded & set(INFRASTRUCTURE)


def test_the_kernel_imports_no_database_driver_or_broker_until_asked() -> None:
    loaded = imported_by("eventualshop.kernel")
    assert loaded.isdisjoint(INFRASTRUCTURE), loaded & set(INFRASTRUCTURE)


@pytest.mark.parametrize(
    "module",
    ["functions.commands.shopping_cart", "functions.queries.shopping_cart"],
)
def test_a_function_module_imports_no_broker_client_and_no_other_read_store(module: str) -> None:
    loaded = imported_by(module)
    assert loaded.isdisjoint({"pika", "pymongo", "psycopg", "alembic"}), loaded


def test_a_cart_command_on_the_embedded_store_never_loads_pymongo_pika_or_psycopg(
    tmp_path: object,
) -> None:
    call = (
        "import os, uuid\n"
        f"os.environ['EVENTUALSHOP_DATA_DIR'] = {str(tmp_path)!r}\n"
        "from flask import Flask, request\n"
        "import functions.commands.shopping_cart as f\n"
        "app = Flask('probe')\n"
        "body = {'customerId': str(uuid.uuid4()), 'currency': 'USD'}\n"
        "with app.test_request_context('/api/v1/shopping-carts', method='POST', json=body):\n"
        "    assert f.create_cart(request).status_code == 202\n"
    )
    loaded = imported_by("functions.commands.shopping_cart", call=call)
    assert "sqlalchemy" in loaded  # it did reach the event store
    assert loaded.isdisjoint({"pika", "pymongo", "psycopg"}), loaded

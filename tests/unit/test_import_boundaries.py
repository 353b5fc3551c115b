"""The dependency rule (README, "How it is built") and cold starts: a module imports only what
it needs.

The rules are read from the code's own import statements (``ast``), so a rule broken by a new
import fails here in milliseconds. The cold-start checks run in a fresh interpreter, because this
test process has imported everything.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from eventualshop.kernel.declaration import BoundedContext
from functions.registry import CONTEXTS

INFRASTRUCTURE = ("sqlalchemy", "pymongo", "pika", "psycopg", "flask", "cloudevents", "alembic")
PACKAGE = Path(__file__).resolve().parents[2] / "shared" / "eventualshop"
TESTS = Path(__file__).resolve().parents[1]
#: Third-party packages a context's domain may use: models and their settings.
DOMAIN_MAY_USE = {"pydantic", "pydantic_settings", "eventualshop"}


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names), wherever the import statement stands."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def modules_under(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


def offenders(folder: str, forbidden: re.Pattern[str]) -> dict[str, list[str]]:
    found = {}
    for path in modules_under(folder):
        bad = sorted(name for name in imports_of(path) if forbidden.match(name))
        if bad:
            found[str(path.relative_to(PACKAGE))] = bad
    return found


def test_nothing_in_the_shared_package_imports_the_functions() -> None:
    assert offenders(".", re.compile(r"^functions(\.|$)")) == {}


def test_the_kernel_imports_no_adapter_no_runtime_and_no_context() -> None:
    contexts = "|".join(re.escape(c.package) for c in CONTEXTS)
    forbidden = re.compile(rf"^eventualshop\.(adapters|runtime)(\.|$)|^({contexts})(\.|$)")
    assert offenders("kernel", forbidden) == {}


def test_the_adapters_import_no_runtime_and_no_context() -> None:
    contexts = "|".join(re.escape(c.package) for c in CONTEXTS)
    forbidden = re.compile(rf"^eventualshop\.runtime(\.|$)|^({contexts})(\.|$)")
    assert offenders("adapters", forbidden) == {}


@pytest.mark.parametrize("context", CONTEXTS, ids=lambda c: c.name)
def test_a_context_imports_only_the_kernel_its_own_modules_and_pydantic(
    context: BoundedContext,
) -> None:
    folder = PACKAGE / context.package.removeprefix("eventualshop.").replace(".", "/")
    own = (context.package, "eventualshop.kernel")
    bad = {
        path.name: sorted(
            name
            for name in imports_of(path)
            if name.split(".")[0] not in {*sys.stdlib_module_names, "__future__", *DOMAIN_MAY_USE}
            or (name.startswith("eventualshop.") and not name.startswith(own))
        )
        for path in sorted(folder.rglob("*.py"))
    }
    assert {name: found for name, found in bad.items() if found} == {}


def test_no_kernel_or_runtime_module_names_a_context() -> None:
    """The check anyone can run: ``grep -rn "functions\\.\\|shopping_cart\\|CART"
    shared/eventualshop/kernel shared/eventualshop/runtime`` finds nothing; nor does any
    declared context's name, package or aggregate type appear there."""
    words = [r"functions\.", "shopping_cart", "CART"]
    for context in CONTEXTS:
        words += [re.escape(context.name), re.escape(context.package), context.aggregate_type]
    pattern = re.compile("|".join(words))
    hits = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for folder in ("kernel", "runtime")
        for path in modules_under(folder)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert hits == []


def test_no_test_reaches_into_sys_modules_to_reset_a_cache() -> None:
    """One composition root owns every cached part: tests reset it, not module globals."""
    this = Path(__file__).resolve()
    reaching = [
        str(path.relative_to(TESTS))
        for path in TESTS.rglob("*.py")
        if path.resolve() != this and re.search(r"sys\.modules\s*[\[.]", path.read_text())
    ]
    assert reaching == []


def imported_by(module: str, *, call: str = "", env: dict[str, str] | None = None) -> set[str]:
    code = (
        f"import sys, json, {module}\n{call}\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=".",
        env=None if env is None else {**os.environ, **env},
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_the_cart_domain_imports_no_infrastructure() -> None:
    loaded = imported_by("eventualshop.shopping_cart.cart")
    assert loaded.isdisjoint(INFRASTRUCTURE), loaded & set(INFRASTRUCTURE)


def test_the_kernel_imports_no_database_driver_or_broker_until_asked() -> None:
    loaded = imported_by("eventualshop.kernel", call="import eventualshop.kernel.service")
    assert loaded.isdisjoint(INFRASTRUCTURE), loaded & set(INFRASTRUCTURE)


def test_reading_the_declarations_imports_no_domain_and_no_library() -> None:
    loaded = imported_by("functions.registry")
    assert loaded.isdisjoint({*INFRASTRUCTURE, "pydantic", "pydantic_settings"}), loaded


@pytest.mark.parametrize(
    "target", ["shopping_cart_add_cart_item", "shopping_cart_get_cart_details"]
)
def test_a_function_target_imports_no_broker_client_and_no_other_read_store(target: str) -> None:
    loaded = imported_by("functions.main", call=f"functions.main.{target}")
    assert loaded.isdisjoint({"pika", "pymongo", "psycopg", "alembic"}), loaded


def _cart_command(data_dir: Path, customer: str | None = None, token: str = "") -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return (
        "import os, uuid\n"
        f"os.environ['EVENTUALSHOP_DATA_DIR'] = {str(data_dir)!r}\n"
        "from flask import Flask, request\n"
        "app = Flask('probe')\n"
        f"body = {{'customerId': {customer!r} or str(uuid.uuid4()), 'currency': 'USD'}}\n"
        "with app.test_request_context(\n"
        f"    '/api/v1/shopping-carts', method='POST', json=body, headers={headers!r}\n"
        "):\n"
        "    answer = functions.main.shopping_cart_create_cart(request)\n"
        "    assert answer.status_code == 202, answer.get_data(as_text=True)\n"
    )


def _customer_token(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, str]:
    """(customer id, access token, JWKS document): issued as Identity issues them, with the
    embedded shop's key in ``data_dir``; the function is given the public keys only."""
    import uuid

    from eventualshop.runtime.auth import current_settings, jwks
    from functions.identity.tokens import Holder, access_token

    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", str(data_dir))
    customer = uuid.uuid4()
    token, _ = access_token(Holder(customer, "Alice", "Smith", "a@example.com", ("customer",)))
    return str(customer), token, json.dumps(jwks(current_settings()))


def test_a_cart_command_on_the_embedded_store_never_loads_pymongo_pika_or_psycopg(
    tmp_path: Path,
) -> None:
    loaded = imported_by("functions.main", call=_cart_command(tmp_path))
    assert "sqlite3" in loaded  # it did reach the event store
    assert loaded.isdisjoint({"pika", "pymongo", "psycopg"}), loaded


def test_a_cart_command_on_a_migrated_store_imports_no_sqlalchemy_and_no_settings_library(
    tmp_path: Path,
) -> None:
    """Cold start: the command path (load, append, the relay pass after the commit) runs on the
    driver with the SQL compiled ahead of time; SQLAlchemy is only for everything else."""
    from eventualshop.adapters.database import migrate
    from eventualshop.runtime.settings import Settings

    for context in CONTEXTS:  # as `eventualshop migrate` leaves it before the first start
        migrate(Settings(data_dir=tmp_path).resolved_event_store_url(context.name))

    loaded = imported_by("functions.main", call=_cart_command(tmp_path))

    assert "sqlite3" in loaded  # it did reach the event store
    assert loaded.isdisjoint({"sqlalchemy", "alembic", "pydantic_settings"}), loaded
    # Nor PyJWT (150-200 ms): only Identity's signing needs it (see tests/unit/test_jws.py).
    assert "jwt" not in loaded, loaded


def test_a_cart_command_with_a_token_imports_no_sqlalchemy_for_the_revocation_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default configuration: authorization on. The token's user is looked up among the
    revoked ones on every request; that read runs on the driver too."""
    from eventualshop.adapters.database import migrate
    from eventualshop.runtime.settings import Settings

    for context in CONTEXTS:
        migrate(Settings(data_dir=tmp_path).resolved_event_store_url(context.name))
    customer, token, jwks = _customer_token(tmp_path / "identity", monkeypatch)

    loaded = imported_by(
        "functions.main",
        call=_cart_command(tmp_path, customer, token),
        env={"EVENTUALSHOP_AUTH": "on", "EVENTUALSHOP_AUTH_JWKS": jwks},
    )

    assert "sqlite3" in loaded
    assert loaded.isdisjoint({"sqlalchemy", "alembic", "jwt"}), loaded

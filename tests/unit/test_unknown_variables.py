"""A variable the shop does not read is told at start, once, with the closest name it reads:
``EVENTUALSHOP_EVENT_STORE_ULR=postgresql://… eventualshop serve`` started on the embedded
SQLite files without a word. A warning, not a refusal, and never the value."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from eventualshop.runtime.auth import AuthSettings
from eventualshop.runtime.root import Root
from eventualshop.runtime.settings import Settings
from functions.registry import CONTEXTS, FUNCTIONS

SECRET = "postgresql://shop:a-secret-password@db.example.com:5432/shop"


@pytest.fixture(autouse=True)
def no_shop_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("EVENTUALSHOP_"):
            monkeypatch.delenv(name)


def _contexts() -> dict[str, str | None]:
    return {c.env_prefix: c.configure.partition(":")[0] if c.configure else None for c in CONTEXTS}


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What a fresh composition root warns when it first reads the settings."""
    root = Root(CONTEXTS, FUNCTIONS)
    with caplog.at_level(logging.WARNING, logger="eventualshop"):
        root.settings()
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_a_misspelt_variable_is_named_with_the_closest_setting_never_its_value(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("EVENTUALSHOP_EVENT_STORE_ULR", SECRET)

    told = _warnings(caplog)

    assert told == [
        "EVENTUALSHOP_EVENT_STORE_ULR is not a setting; did you mean EVENTUALSHOP_EVENT_STORE_URL?"
    ]
    assert "a-secret-password" not in caplog.text


def test_a_warning_is_no_refusal_the_settings_still_read(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("EVENTUALSHOP_SOMETHING_OLD", "left by an older deployment")
    root = Root(CONTEXTS, FUNCTIONS)

    with caplog.at_level(logging.WARNING, logger="eventualshop"):
        assert root.settings_problem() is None

    assert [r.getMessage() for r in caplog.records] == [
        "EVENTUALSHOP_SOMETHING_OLD is not a setting; it is ignored"
    ]


def test_names_are_compared_without_regard_to_case_and_named_as_written(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setenv("eventualshop_data_dir", str(tmp_path))  # a setting, in lower case
    monkeypatch.setenv("eventualshop_read_modle_url", "sqlite:///x")

    assert _warnings(caplog) == [
        "eventualshop_read_modle_url is not a setting; did you mean EVENTUALSHOP_READ_MODEL_URL?"
    ]


def test_a_context_s_variable_misspelt_names_the_context_s_setting(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("EVENTUALSHOP_IDENTITY_ACESS_TOKEN_SECONDS", "900")
    monkeypatch.setenv("EVENTUALSHOP_ACOUNT_EVENT_STORE_URL", "sqlite:///elsewhere.sqlite3")
    monkeypatch.setenv("EVENTUALSHOP_CARD_TOKEN_KEY", "0123456789abcdef0123")

    assert _warnings(caplog) == [
        "EVENTUALSHOP_ACOUNT_EVENT_STORE_URL is not a setting; "
        "did you mean EVENTUALSHOP_ACCOUNT_EVENT_STORE_URL?",
        "EVENTUALSHOP_CARD_TOKEN_KEY is not a setting; "
        "did you mean EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY?",
        "EVENTUALSHOP_IDENTITY_ACESS_TOKEN_SECONDS is not a setting; "
        "did you mean EVENTUALSHOP_IDENTITY_ACCESS_TOKEN_SECONDS?",
    ]


def _every_variable_the_shop_reads() -> list[str]:
    from eventualshop.identity.settings import IdentitySettings
    from eventualshop.runtime.settings import READ_ELSEWHERE
    from eventualshop.shopping_cart.settings import CartSettings
    from eventualshop.warehouse.settings import WarehouseSettings

    models = (Settings, AuthSettings, IdentitySettings, CartSettings, WarehouseSettings)
    names = [m.variable(f) for m in models for f in m.model_fields]
    names += [f"{c.env_prefix}EVENT_STORE_URL" for c in CONTEXTS]
    names += [*READ_ELSEWHERE, "EVENTUALSHOP_TEST_POSTGRES_URL", "EVENTUALSHOP_BENCH_MARKS"]
    names += [n + "_FILE" for n in names]
    return [n for n in names if n.startswith("EVENTUALSHOP_")]


def test_no_variable_the_shop_reads_is_told() -> None:
    from eventualshop.runtime.settings import unknown_variables

    every = _every_variable_the_shop_reads()
    assert "EVENTUALSHOP_AUTH_SIGNING_KEY_FILE" in every
    assert "EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY_FILE" in every
    assert "EVENTUALSHOP_WAREHOUSE_EVENT_STORE_URL_FILE" in every

    assert unknown_variables(dict.fromkeys(every, "x"), _contexts()) == []
    assert unknown_variables({n.lower(): "x" for n in every}, _contexts()) == []


def test_told_once_a_process_not_again_when_the_settings_are_read_anew(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("EVENTUALSHOP_BROKR", "inprocess")
    root = Root(CONTEXTS, FUNCTIONS)

    with caplog.at_level(logging.WARNING, logger="eventualshop"):
        root.settings()
        root.reset()
        root.settings()

    assert [r.getMessage() for r in caplog.records] == [
        "EVENTUALSHOP_BROKR is not a setting; did you mean EVENTUALSHOP_BROKER?"
    ]


def test_the_command_line_tells_it_on_stderr_before_it_runs(tmp_path: Path) -> None:
    """As a user runs it: one line on stderr, without the value (``migrate``
    reads the settings where ``serve`` does, and ends)."""
    environment = {k: v for k, v in os.environ.items() if not k.upper().startswith("EVENTUALSHOP_")}
    environment |= {"EVENTUALSHOP_DATA_DIR": str(tmp_path), "EVENTUALSHOP_EVENT_STORE_ULR": SECRET}

    done = subprocess.run(
        [str(Path(sys.executable).with_name("eventualshop")), "migrate"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    expected = (
        "EVENTUALSHOP_EVENT_STORE_ULR is not a setting; did you mean EVENTUALSHOP_EVENT_STORE_URL?"
    )
    assert [line for line in lines if "ULR" in line] == [expected], done.stderr
    assert "a-secret-password" not in done.stderr + done.stdout


def test_a_function_s_start_with_known_variables_imports_no_difflib_and_no_other_model() -> None:
    """The cold start: every variable known to the models already imported costs a set look-up;
    ``difflib`` and the other settings' modules only for a name none of them reads."""
    code = (
        "import sys, functions.main\n"
        "functions.main.ROOT.settings()\n"
        "print(sorted(m for m in ('difflib', 'eventualshop.runtime.auth',"
        " 'eventualshop.identity.settings') if m in sys.modules))\n"
    )
    environment = {k: v for k, v in os.environ.items() if not k.upper().startswith("EVENTUALSHOP_")}
    environment |= {"EVENTUALSHOP_BROKER": "inprocess", "eventualshop_auto_migrate": "true"}

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=True
    )

    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
    assert "not a setting" not in out.stderr

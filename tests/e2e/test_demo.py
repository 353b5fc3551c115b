"""``eventualshop demo``: the scripted session runs on an embedded shop of its own and shows
the back office (an inventory, a catalog, as an admin), the cart (as a customer who signed up and
signed in), and the stock the cart holds; with authorization on, as by default, and off."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from eventualshop.runtime.cli import CliError
from functions.demo import embedded_shop, run_demo
from functions.main import ROOT, cli
from tests.conftest import new_postgres_database
from tests.faults.support import ShopProcess


@pytest.mark.parametrize("auth", ["on", "off"])
def test_the_demo_creates_an_inventory_and_a_catalog_and_uses_them(
    monkeypatch: pytest.MonkeyPatch, auth: str
) -> None:
    # The demo points the process at a throw-away folder and port: undone after the test.
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", "unused")
    monkeypatch.setenv("EVENTUALSHOP_PORT", "0")
    monkeypatch.setenv("EVENTUALSHOP_BROKER", "inprocess")
    monkeypatch.setenv("EVENTUALSHOP_AUTH", auth)
    lines: list[str] = []
    try:
        steps = run_demo(None, ROOT, out=lines.append)
    finally:
        ROOT.reset()
    text = "\n".join(lines)
    assert steps == 21, text  # with sign-up, sign-in and the admin's sign-in
    assert '["InventoryCreated"]' in text
    assert '["CatalogActivated"]' in text
    assert "('Keyboard', {'amount': '49.90', 'currency': 'USD'})" in text
    assert "quantity 10 reserved 3 available 7" in text
    # Every HTTP step got the answer the script meant: none was refused for want of a token.
    statuses = [int(m[1]) for m in re.finditer(r" (?:GET|POST|PUT|DELETE)\s+(\d{3}) ", text)]
    assert len(statuses) == 17, text
    assert not {401, 403} & set(statuses), text
    assert "accessToken" not in text


def test_the_demo_writes_nothing_into_the_stores_the_environment_names(
    monkeypatch: pytest.MonkeyPatch, postgres_admin_url: URL, tmp_path: Path
) -> None:
    # Was: with EVENTUALSHOP_EVENT_STORE_URL exported, as "Using PostgreSQL, RabbitMQ and MongoDB
    # instead" does, the demo's "throw-away" shop ran on that database: its customer, cart,
    # catalog, inventory and a throw-away admin became events in the user's own event store.
    read_models = tmp_path / "readmodels.sqlite3"
    monkeypatch.setenv("EVENTUALSHOP_READ_MODEL_URL", f"sqlite:///{read_models}")
    monkeypatch.setenv("EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY", "the user's own key, not ours")
    lines: list[str] = []
    with new_postgres_database(postgres_admin_url) as url:
        configured = url.render_as_string(hide_password=False)
        monkeypatch.setenv("EVENTUALSHOP_EVENT_STORE_URL", configured)
        try:
            steps = run_demo(None, ROOT, out=lines.append)
        finally:
            ROOT.reset()
        engine = sa.create_engine(url, poolclass=sa.NullPool)
        try:
            tables = sa.inspect(engine).get_table_names()
        finally:
            engine.dispose()
    assert steps == 21, "\n".join(lines)
    assert tables == [], tables  # not even migrated
    assert not read_models.exists()
    # The process's settings are the user's again.
    assert os.environ["EVENTUALSHOP_EVENT_STORE_URL"] == configured


def test_the_embedded_shop_runs_on_the_embedded_defaults_whatever_the_environment_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_shop = {
        "EVENTUALSHOP_EVENT_STORE_URL": "postgresql://shop@db.example/shop",
        "EVENTUALSHOP_ACCOUNT_EVENT_STORE_URL": "postgresql://shop@db.example/account",
        "EVENTUALSHOP_READ_MODEL_URL": "mongodb://db.example/shop",
        "EVENTUALSHOP_BROKER": "knative",
        "K_SINK": "http://broker-ingress.example/shop/default",
        "EVENTUALSHOP_RABBITMQ_URL": "amqp://shop:secret@mq.example/",
        "EVENTUALSHOP_BROKER_EXCHANGE": "shop",
        "EVENTUALSHOP_HOST": "0.0.0.0",  # a real shop's, which the demo must not take
        "EVENTUALSHOP_AUTH_SIGNING_KEY_FILE": "/run/secrets/signing-key",
        "EVENTUALSHOP_AUTO_MIGRATE": "false",
    }
    for name, value in real_shop.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("EVENTUALSHOP_LOG_LEVEL", "WARNING")  # not where anything goes: kept
    try:
        with embedded_shop(ROOT) as base:
            config = ROOT.settings()
            seen = {name: os.environ.get(name) for name in real_shop}
            level = os.environ.get("EVENTUALSHOP_LOG_LEVEL")
    finally:
        ROOT.reset()
    assert base.startswith("http://127.0.0.1:"), base
    assert seen == dict.fromkeys(real_shop), seen
    assert level == "WARNING"
    assert config.event_store_url is None
    assert config.broker == "inprocess"
    assert {name: os.environ.get(name) for name in real_shop} == real_shop


def _quiet_shop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", "unused")
    monkeypatch.setenv("EVENTUALSHOP_PORT", "0")
    monkeypatch.setenv("EVENTUALSHOP_BROKER", "inprocess")
    monkeypatch.setenv("EVENTUALSHOP_AUTH", "on")


def test_an_admin_who_cannot_sign_in_stops_the_demo_with_what_to_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An admin the shop does not know (here named by the environment; against --url without it,
    # one the demo made in another store than the shop's): the demo went on without a token and
    # died on the inventory it could not create, ``eventualshop: KeyError: 'aggregateId'``.
    _quiet_shop(monkeypatch)
    monkeypatch.setenv("EVENTUALSHOP_ADMIN_EMAIL", "nobody@example.com")
    monkeypatch.setenv("EVENTUALSHOP_ADMIN_PASSWORD", "Wrong-password-1!")
    lines: list[str] = []
    try:
        with embedded_shop(ROOT) as base, pytest.raises(CliError) as stopped:
            run_demo(base, ROOT, out=lines.append)
    finally:
        ROOT.reset()
    message = str(stopped.value)
    assert "\n" not in message
    assert "sign in as the admin" in message, message
    assert "401" in message, message
    assert "EVENTUALSHOP_ADMIN_EMAIL" in message, message
    assert "Wrong-password-1!" not in message + "\n".join(lines)
    # It stopped there: nothing was sent on the admin's behalf without a token.
    assert not any("create an inventory" in line for line in lines), lines


def test_a_shop_that_does_not_answer_is_one_line_saying_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _quiet_shop(monkeypatch)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    try:
        code = cli(["demo", "--url", url])
    finally:
        ROOT.reset()
    err = capsys.readouterr().err.strip()
    assert code == 69  # EX_UNAVAILABLE, as a store or the broker that does not answer
    assert len(err.splitlines()) == 1, err
    assert err.startswith("eventualshop: cannot reach the shop at " + url), err
    assert "running" in err, err
    assert "Error:" not in err, err  # no exception class's name: a sentence


@pytest.mark.parametrize("url", ["notaurl", "127.0.0.1:8080", "ftp://127.0.0.1/"])
def test_a_url_that_is_no_shops_address_is_one_line_saying_what_it_takes(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Was: ``eventualshop: ValueError: unknown url type: 'notaurl/api/v1/identities/sign-up'``.
    _quiet_shop(monkeypatch)
    try:
        code = cli(["demo", "--url", url])
    finally:
        ROOT.reset()
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("eventualshop: --url takes the shop's address, such as http://"), err


def test_the_demo_makes_its_admin_in_the_stores_its_options_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Was: ``demo --url … --data-dir …`` was "unrecognized arguments"; against a shop served from
    # another folder the demo made its admin in its own default store and stopped at the admin's
    # sign-in, pointing at EVENTUALSHOP_DATA_DIR as the only way.
    (tmp_path / "shop").mkdir()
    served = ShopProcess({"EVENTUALSHOP_AUTH": "on"}, tmp_path / "shop")
    for name in [n for n in os.environ if n.startswith("EVENTUALSHOP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", str(tmp_path / "not-the-shops"))
    served.start()
    try:
        code = cli(["demo", "--url", f"http://{served.base}", "--data-dir", str(served.data_dir)])
    finally:
        served.close()
        ROOT.reset()
    captured = capsys.readouterr()
    assert code == 0, captured.err + served.tail()
    assert "quantity 10 reserved 3 available 7" in captured.out, captured.out
    # The admin stays in the shop, among its accounts: the demo says which (it said nothing).
    said = captured.out.splitlines()[-1]
    assert re.fullmatch(r"the demo's admin demo-admin-[0-9a-f]{8}@example\.com stays .*", said)
    assert str(served.data_dir) in said, said


def test_without_the_shops_stores_the_demo_stops_before_making_any(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Was: run from a folder without the shop's settings, the demo made a whole embedded shop in
    # ./var there (five event stores, the read models) for its admin, then stopped at step 3,
    # the admin's sign-in, with the running shop's customer already signed up.
    (tmp_path / "shop").mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    served = ShopProcess({"EVENTUALSHOP_AUTH": "on"}, tmp_path / "shop")
    for name in [n for n in os.environ if n.startswith("EVENTUALSHOP_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(elsewhere)  # its default data folder, ./var, is not there
    served.start()
    try:
        code = cli(["demo", "--url", f"http://{served.base}"])
    finally:
        served.close()
        ROOT.reset()
    captured = capsys.readouterr()
    assert code == 2, captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "--data-dir" in lines[0], lines[0]
    assert "EVENTUALSHOP_ADMIN_EMAIL" in lines[0], lines[0]
    assert "sign in as the admin" not in captured.out, captured.out  # stopped before it
    assert list(elsewhere.iterdir()) == []


def test_store_options_without_a_url_are_one_line_saying_what_they_are_for(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _quiet_shop(monkeypatch)
    try:
        code = cli(["demo", "--data-dir", "/srv/shop"])
    finally:
        ROOT.reset()
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith(
        "eventualshop: --data-dir names a running shop's stores: give its --url"
    ), err


def test_the_embedded_shop_ignores_settings_given_as_files_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A setting may come from the file ``<VARIABLE>_FILE`` names (OpenFaaS secrets): the demo
    took ``EVENTUALSHOP_EVENT_STORE_URL_FILE`` and ran its throw-away shop on that database."""
    given = {
        "EVENTUALSHOP_EVENT_STORE_URL": "postgresql://shop@db.example/shop",
        "EVENTUALSHOP_READ_MODEL_URL": "mongodb://db.example/shop",
        "EVENTUALSHOP_BROKER": "knative",
        "EVENTUALSHOP_HOST": "0.0.0.0",
    }
    real_shop = {}
    for name, value in given.items():
        (tmp_path / name).write_text(value)
        real_shop[f"{name}_FILE"] = str(tmp_path / name)
        monkeypatch.setenv(f"{name}_FILE", str(tmp_path / name))
    try:
        with embedded_shop(ROOT) as base:
            config = ROOT.settings()
            seen = {name: os.environ.get(name) for name in real_shop}
    finally:
        ROOT.reset()
    assert base.startswith("http://127.0.0.1:"), base
    assert seen == dict.fromkeys(real_shop), seen
    assert config.event_store_url is None
    assert config.read_model_url is None
    assert config.broker == "inprocess"
    assert {name: os.environ.get(name) for name in real_shop} == real_shop

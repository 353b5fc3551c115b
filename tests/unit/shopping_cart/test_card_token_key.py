"""Card tokens are never made with a key written in the source: outside the embedded default the
shop refuses to start without one, and the embedded default generates one and keeps it."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventualshop.kernel.declaration import ConfigurationMissing
from eventualshop.shopping_cart.payment_methods import current_card_token_key, use_card_token_key
from eventualshop.shopping_cart.settings import CARD_TOKEN_KEY_VARIABLE, KEPT_KEY_FILE
from functions.main import ROOT, cli

NOT_EMBEDDED = {
    "broker": {"EVENTUALSHOP_BROKER": "rabbitmq"},
    "event store": {"EVENTUALSHOP_EVENT_STORE_URL": "postgresql://nobody@127.0.0.1:1/none"},
    # Was: taken as the embedded default, so every instance made a key of its own.
    "the cart's own event store": {
        "EVENTUALSHOP_SHOPPING_CART_EVENT_STORE_URL": "postgresql://nobody@127.0.0.1:1/none"
    },
    "read models": {"EVENTUALSHOP_READ_MODEL_URL": "mongodb://127.0.0.1:1/none"},
}


@pytest.fixture(autouse=True)
def clean(shop_environment: Path) -> Iterator[None]:
    previous = current_card_token_key()
    yield
    use_card_token_key(previous)


@pytest.mark.parametrize("configured", NOT_EMBEDDED.values(), ids=NOT_EMBEDDED.keys())
def test_outside_the_embedded_default_no_command_runs_without_a_key(
    configured: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in configured.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(ConfigurationMissing, match=CARD_TOKEN_KEY_VARIABLE):
        ROOT.configure_context("shopping-cart")  # as the first command does


def test_serve_says_in_one_line_what_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EVENTUALSHOP_BROKER", "rabbitmq")

    assert cli(["serve", "--port", "1"]) == 2

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"eventualshop: set {CARD_TOKEN_KEY_VARIABLE} ")


def test_a_configured_key_is_the_one_tokens_are_made_with(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTUALSHOP_BROKER", "rabbitmq")
    monkeypatch.setenv(CARD_TOKEN_KEY_VARIABLE, "a production key from a secret store")

    ROOT.configure_context("shopping-cart")  # as the first command does

    assert current_card_token_key() == b"a production key from a secret store"


def test_the_embedded_default_generates_a_random_key_once_and_keeps_it(tmp_path: Path) -> None:
    ROOT.configure_context("shopping-cart")  # as the first command does
    first = current_card_token_key()
    kept = tmp_path / KEPT_KEY_FILE

    assert kept.read_bytes() == first
    assert len(first) >= 32
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600  # a secret: only its owner reads it
    assert b"development" not in first

    use_card_token_key(b"something else entirely")
    ROOT.reset()  # as a restart would
    ROOT.configure_context("shopping-cart")  # as the first command does

    assert current_card_token_key() == first


def test_two_data_directories_get_different_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ROOT.configure_context("shopping-cart")  # as the first command does
    first = current_card_token_key()
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", str(tmp_path / "other"))
    ROOT.reset()
    ROOT.configure_context("shopping-cart")  # as the first command does

    assert current_card_token_key() != first

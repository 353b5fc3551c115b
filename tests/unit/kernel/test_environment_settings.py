"""Settings from the environment without pydantic-settings (``kernel.environment``): the same
variables, conversions and errors as pydantic-settings gave, for the platform and a context."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from eventualshop.runtime.settings import Settings
from eventualshop.shopping_cart.settings import CartSettings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for field in Settings.model_fields:
        monkeypatch.delenv(Settings.variable(field), raising=False)
    monkeypatch.delenv("EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY", raising=False)


def test_without_variables_every_setting_is_its_default() -> None:
    assert Settings() == Settings.model_validate({})
    assert Settings().data_dir == Path("var")


def test_each_field_is_read_from_its_prefixed_variable_and_converted_to_its_type(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", "/tmp/shop")
    monkeypatch.setenv("EVENTUALSHOP_PORT", "9090")
    monkeypatch.setenv("EVENTUALSHOP_AUTO_MIGRATE", "false")
    monkeypatch.setenv("EVENTUALSHOP_BROKER", "rabbitmq")
    monkeypatch.setenv("EVENTUALSHOP_SNAPSHOT_INTERVAL", "7")

    found = Settings()

    assert found.data_dir == Path("/tmp/shop")
    assert found.port == 9090
    assert found.auto_migrate is False
    assert found.broker == "rabbitmq"
    assert found.snapshot_interval == 7


def test_names_are_compared_without_regard_to_case_as_pydantic_settings_did(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("eventualshop_broker_exchange", "shop")

    assert Settings().broker_exchange == "shop"


def test_an_aliased_field_is_read_from_its_alias_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTUALSHOP_KNATIVE_SINK", "http://wrong")
    assert Settings().knative_sink is None

    monkeypatch.setenv("K_SINK", "http://broker-ingress")
    assert Settings().knative_sink == "http://broker-ingress"
    assert Settings.variable("knative_sink") == "K_SINK"


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTUALSHOP_PORT", "9090")

    assert Settings(port=8181).port == 8181


def test_a_bad_value_fails_validation_naming_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTUALSHOP_PORT", "eighty")
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert raised.value.errors()[0]["loc"] == ("port",)

    monkeypatch.setenv("EVENTUALSHOP_PORT", "80")
    monkeypatch.setenv("EVENTUALSHOP_BROKER", "kafka")
    with pytest.raises(ValidationError):
        Settings()


def test_a_context_reads_its_own_prefix_and_keeps_a_secret_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EVENTUALSHOP_CARD_TOKEN_KEY", "not the cart's variable")
    assert CartSettings().card_token_key is None

    monkeypatch.setenv("EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY", "a key of sixteen bytes")
    key = CartSettings().card_token_key

    assert key is not None
    assert key.get_secret_value() == "a key of sixteen bytes"
    assert "sixteen" not in repr(CartSettings())


def test_reading_the_settings_imports_no_pydantic_settings() -> None:
    code = (
        "import sys\n"
        "from eventualshop.runtime.settings import Settings\n"
        "from eventualshop.shopping_cart.settings import CartSettings\n"
        "Settings(), CartSettings()\n"
        "print('pydantic_settings' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("EVENTUALSHOP_EVENT_STORE_URL", "bogus://shop:s3cret-pass@db.example/shop"),
        ("EVENTUALSHOP_READ_MODEL_URL", "redis://:s3cret-pass@127.0.0.1/0"),
        ("EVENTUALSHOP_PORT", "s3cret-pass"),
    ],
)
def test_an_error_names_the_variable_and_never_repeats_the_value(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Settings hold passwords (in URLs) and keys, and an error may be logged with its traceback.
    monkeypatch.setenv(variable, value)

    with pytest.raises(ValidationError) as raised:
        Settings()

    assert "s3cret-pass" not in str(raised.value)
    assert Settings.problem(raised.value).startswith(f"{variable}: ")
    assert "s3cret-pass" not in Settings.problem(raised.value)


def test_an_alias_is_its_own_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTUALSHOP_BROKER", "knative")
    with pytest.raises(ValidationError) as raised:
        Settings(K_SINK=42)
    assert Settings.problem(raised.value).startswith("K_SINK: ")

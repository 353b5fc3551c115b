"""Settings from the environment without pydantic-settings (``kernel.environment``): the same
variables, conversions and errors as pydantic-settings gave, for the platform and a context."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from eventualshop.runtime.settings import Settings
from eventualshop.shopping_cart.settings import CartSettings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every variable of the shop's, their _FILE ones and the contexts' own stores included.
    for name in list(os.environ):
        if name.upper().startswith("EVENTUALSHOP_"):
            monkeypatch.delenv(name)
    for field in Settings.model_fields:
        monkeypatch.delenv(Settings.variable(field), raising=False)


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


class TestAContextsOwnEventStore:
    """``EVENTUALSHOP_<CONTEXT>_EVENT_STORE_URL`` is no field, but is read as one: any case, and
    from the file its ``_FILE`` variable names (the README says every variable may be)."""

    URL = "postgresql://shop@127.0.0.1:5432/accounts"

    def test_it_may_be_given_in_a_file(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        # Was: ignored, so Account wrote to the shared store without a word.
        file = tmp_path / "account-url"
        file.write_text(self.URL + "\n")
        monkeypatch.setenv("EVENTUALSHOP_ACCOUNT_EVENT_STORE_URL_FILE", str(file))

        assert Settings().resolved_event_store_url("account") == self.URL
        assert Settings().resolved_event_store_url("catalog").startswith("sqlite:///")

    def test_its_name_is_compared_without_regard_to_case(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("eventualshop_shopping_cart_event_store_url", self.URL)

        assert Settings().resolved_event_store_url("shopping-cart") == self.URL

    def test_the_variable_wins_over_its_file(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        file = tmp_path / "url"
        file.write_text("postgresql://elsewhere/x")
        monkeypatch.setenv("EVENTUALSHOP_ACCOUNT_EVENT_STORE_URL_FILE", str(file))
        monkeypatch.setenv("EVENTUALSHOP_ACCOUNT_EVENT_STORE_URL", self.URL)

        assert Settings().resolved_event_store_url("account") == self.URL

    @pytest.mark.parametrize("content", [None, "bogus://u:s3cret@x/y"])
    def test_a_file_that_cannot_be_read_or_names_no_store_is_refused_in_one_line(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str | None
    ) -> None:
        file = tmp_path / "url"
        if content is not None:
            file.write_text(content)
        monkeypatch.setenv("EVENTUALSHOP_ACCOUNT_EVENT_STORE_URL_FILE", str(file))

        with pytest.raises(ValidationError) as refused:
            Settings()

        line = Settings.problem(refused.value)
        assert line.startswith("EVENTUALSHOP_ACCOUNT_EVENT_STORE_URL_FILE: "), line
        assert "s3cret" not in line


#: Values a prober gave that were taken at start and failed later (a driver's error and exit 1,
#: a traceback after "Listening at", a log line per command, or every interface listened on).
REFUSED_AT_START = {
    "driver the shop lacks": ("EVENTUALSHOP_EVENT_STORE_URL", "postgresql+nodriver://u:s3cret@h/x"),
    "no //": ("EVENTUALSHOP_EVENT_STORE_URL", "postgresql:s3cret@h"),
    "sqlite: alone": ("EVENTUALSHOP_EVENT_STORE_URL", "sqlite:relative.db"),
    "port not a number": ("EVENTUALSHOP_READ_MODEL_URL", "mongodb://u:s3cret@h:notport/x"),
    # Was pymongo's own error on first use, exit 1: "InvalidURI: Must provide at least one
    # hostname or IP", "ValueError: Port contains non-digit characters".
    "mongodb without a host": ("EVENTUALSHOP_READ_MODEL_URL", "mongodb://"),
    "a second host's port": ("EVENTUALSHOP_READ_MODEL_URL", "mongodb://u:s3cret@h1:27017,h2:x/db"),
    # Was SQLAlchemy's "ValueError: invalid literal for int() with base 10: '5432,h2:x'", exit 1.
    "a listed host's port": (
        "EVENTUALSHOP_EVENT_STORE_URL",
        "postgresql://u:s3cret@h1:5432,h2:x/d",
    ),
    "port out of range": ("EVENTUALSHOP_EVENT_STORE_URL", "postgresql://u:s3cret@h:99999/x"),
    # libpq ends the host part at the first /: the password must be percent-encoded (%2F).
    "a / in the password": ("EVENTUALSHOP_EVENT_STORE_URL", "postgresql://u:s3/cret@db/shop"),
    "in-memory read models": ("EVENTUALSHOP_READ_MODEL_URL", "sqlite://"),
    "in-memory event store": ("EVENTUALSHOP_EVENT_STORE_URL", "sqlite:///:memory:"),
    "empty exchange": ("EVENTUALSHOP_BROKER_EXCHANGE", ""),
    "the broker's own exchange": ("EVENTUALSHOP_BROKER_EXCHANGE", "amq.topic"),
    "sink not a URL": ("K_SINK", "notaurl"),
    "broker port": ("EVENTUALSHOP_RABBITMQ_URL", "amqp://guest:s3cret@127.0.0.1:notport/"),
    "broker heartbeat": ("EVENTUALSHOP_RABBITMQ_URL", "amqp://guest:s3cret@h/?heartbeat=abc"),
    "empty host": ("EVENTUALSHOP_HOST", ""),
    "empty data folder": ("EVENTUALSHOP_DATA_DIR", ""),
}


@pytest.mark.parametrize(("variable", "value"), REFUSED_AT_START.values(), ids=REFUSED_AT_START)
def test_a_value_that_could_only_fail_later_is_refused_in_one_line(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ValidationError) as refused:
        Settings()

    line = Settings.problem(refused.value)
    assert line.startswith(f"{variable}: "), line
    assert "\n" not in line
    assert "s3cret" not in line


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("EVENTUALSHOP_EVENT_STORE_URL", "postgresql+psycopg://u:pw@db:5432/shop?sslmode=require"),
        ("EVENTUALSHOP_EVENT_STORE_URL", "sqlite:////absolute/events.sqlite3"),
        ("EVENTUALSHOP_EVENT_STORE_URL", "mssql+pyodbc://sa:pw@db/shop?driver=FreeTDS"),
        ("EVENTUALSHOP_READ_MODEL_URL", "mongodb+srv://u:pw@cluster.example.com/shop"),
        ("EVENTUALSHOP_READ_MODEL_URL", "mongodb://h1:27017,h2:27017/shop?replicaSet=rs"),
        ("EVENTUALSHOP_READ_MODEL_URL", "memory:"),
        ("EVENTUALSHOP_BROKER_EXCHANGE", "shop.events-v2:eu"),
        ("K_SINK", "http://broker-ingress.knative-eventing.svc.cluster.local/shop/default"),
        ("EVENTUALSHOP_HOST", "0.0.0.0"),
        ("EVENTUALSHOP_EVENT_STORE_URL", "postgresql://u:s3%2Fc%3Fr%23t@db:5432/shop"),
        ("EVENTUALSHOP_EVENT_STORE_URL", "postgresql:///shop?host=/var/run/postgresql"),
        ("EVENTUALSHOP_EVENT_STORE_URL", "postgresql://u:pw@[::1]:5432/shop"),
        ("EVENTUALSHOP_EVENT_STORE_URL", "postgresql://u:pw@h1:5432,h2:5433/shop"),
        ("EVENTUALSHOP_RABBITMQ_URL", "amqps://u:pw@rabbit:5671/shop?heartbeat=30&retry_delay=2.5"),
    ],
)
def test_the_forms_a_deployment_uses_are_taken(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)

    assert Settings()


@pytest.mark.parametrize("written", ["RabbitMQ", "RABBITMQ", " rabbitmq "])
def test_the_broker_is_named_in_any_case(written: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Was: refused, though the log level and the variables' names take any case.
    monkeypatch.setenv("EVENTUALSHOP_BROKER", written)

    assert Settings().broker == "rabbitmq"

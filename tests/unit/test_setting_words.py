"""A setting that takes one of a few words takes it in any case, as the variables' names are
and as a boolean is: ``EVENTUALSHOP_AUTH=OFF`` was refused ("Input should be 'on' or 'off'")
while a function's readiness read it as off, and ``EVENTUALSHOP_BROKER=RabbitMQ`` was taken."""

from __future__ import annotations

import os
from typing import Literal, get_args, get_origin

import pytest

from eventualshop.identity.settings import IdentitySettings
from eventualshop.kernel.environment import EnvironmentSettings
from eventualshop.runtime.auth import AuthSettings
from eventualshop.runtime.settings import Settings
from eventualshop.shopping_cart.settings import CartSettings
from eventualshop.warehouse.settings import WarehouseSettings

MODELS: tuple[type[EnvironmentSettings], ...] = (
    Settings,
    AuthSettings,
    IdentitySettings,
    CartSettings,
    WarehouseSettings,
)


@pytest.fixture(autouse=True)
def no_shop_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in list(os.environ):
        if name.upper().startswith("EVENTUALSHOP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", str(tmp_path))


@pytest.mark.parametrize("written", ["OFF", "Off", "off"])
def test_authorization_is_switched_off_in_any_case(
    monkeypatch: pytest.MonkeyPatch, written: str
) -> None:
    monkeypatch.setenv("EVENTUALSHOP_AUTH", written)

    assert AuthSettings().auth == "off"
    assert not AuthSettings().enabled


@pytest.mark.parametrize("written", ["ON", "On"])
def test_authorization_is_switched_on_in_any_case(
    monkeypatch: pytest.MonkeyPatch, written: str
) -> None:
    monkeypatch.setenv("EVENTUALSHOP_AUTH", written)

    assert AuthSettings().enabled


def test_a_word_that_is_none_of_them_is_still_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("EVENTUALSHOP_AUTH", "disabled")

    with pytest.raises(ValidationError) as refused:
        AuthSettings()

    assert AuthSettings.problem(refused.value).startswith("EVENTUALSHOP_AUTH: ")


def _words() -> list[tuple[type[EnvironmentSettings], str, str]]:
    """Every field of every settings model that takes one of a few words, with each word."""
    return [
        (model, field, word)
        for model in MODELS
        for field, info in model.model_fields.items()
        if get_origin(info.annotation) is Literal
        for word in get_args(info.annotation)
    ]


def test_every_model_has_such_words_to_hold() -> None:
    fields = {(model.__name__, field) for model, field, _ in _words()}
    assert {
        ("Settings", "broker"),
        ("Settings", "log_level"),
        ("AuthSettings", "auth"),
        ("IdentitySettings", "password_hash"),
    } <= fields


@pytest.mark.parametrize(
    ("model", "field", "word"), _words(), ids=lambda p: getattr(p, "__name__", str(p))
)
def test_every_word_of_every_setting_is_taken_in_any_case(
    monkeypatch: pytest.MonkeyPatch, model: type[EnvironmentSettings], field: str, word: str
) -> None:
    for written in (word.upper(), word.lower(), word.title()):
        monkeypatch.setenv(model.variable(field), written)
        assert getattr(model(), field) == word, written


@pytest.mark.parametrize("written", ["FALSE", "False", "Off", "NO"])
def test_a_boolean_setting_is_read_in_any_case_too(
    monkeypatch: pytest.MonkeyPatch, written: str
) -> None:
    monkeypatch.setenv("EVENTUALSHOP_AUTO_MIGRATE", written)

    assert Settings().auto_migrate is False


@pytest.mark.parametrize("given", ["RabbitMQ", "INPROCESS"])
def test_the_command_lines_broker_is_taken_in_any_case_as_its_variable_is(given: str) -> None:
    # Was: EVENTUALSHOP_BROKER=RabbitMQ was taken, serve --broker RabbitMQ refused.
    from eventualshop.runtime.cli import parser

    args = parser().parse_args(["serve", "--broker", given])
    assert args.broker == given.lower()

"""Security: a card number is kept only as a token and its last four digits; the security code
and the PayPal password never reach an event, a snapshot, a summary or a log line."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from uuid import UUID

import pytest
from pydantic import ValidationError

from eventualshop.kernel.aggregate import execute
from eventualshop.shopping_cart import CART, CART_EVENTS, AddCreditCard, card_token, summary
from eventualshop.shopping_cart.payment_methods import current_card_token_key, use_card_token_key

from .examples import (
    CART_ID,
    CREDIT_CARD_DIGITS,
    CREDIT_CARD_NUMBER,
    DEBIT_CARD_DIGITS,
    OTHER_METHOD_ID,
    PAYPAL_PASSWORD,
    SECURITY_CODE,
    add_credit_card,
    add_debit_card,
    add_pay_pal,
    card,
    created,
    given,
    item_added,
    price,
)

THIRD_METHOD_ID = UUID("0c000000-0000-4000-8000-00000000be03")
SECRET_TEXTS = (CREDIT_CARD_DIGITS, CREDIT_CARD_NUMBER, DEBIT_CARD_DIGITS, PAYPAL_PASSWORD)
SECRET_KEYS = ("securityCode", "security_code", "password")


def assert_no_secret(text: str) -> None:
    for secret in SECRET_TEXTS:
        assert secret not in text
    for key in SECRET_KEYS:
        assert key not in text
    # The security code is a small number: look for it as a JSON value, not as a substring.
    assert not _leaves_equal(json.loads(text), SECURITY_CODE)


def _leaves_equal(data: Any, value: int) -> bool:
    if isinstance(data, dict):
        return any(_leaves_equal(v, value) for v in data.values())
    if isinstance(data, list):
        return any(_leaves_equal(v, value) for v in data)
    return data in (value, str(value))


def paid_by_every_method() -> list[Any]:
    """Steps of a cart paid with a credit card, a debit card and PayPal."""
    state = given(created(), item_added(quantity=3, unit_price="10.00", total="30.00")).state
    steps = []
    for command in (
        add_credit_card("10.00"),
        add_debit_card("10.00", OTHER_METHOD_ID),
        add_pay_pal("10.00", THIRD_METHOD_ID),
    ):
        [step] = execute(CART, state, command)
        steps.append(step)
        state = step.state
    return steps


def test_no_event_holds_a_card_number_a_security_code_or_a_password() -> None:
    for step in paid_by_every_method():
        assert_no_secret(CART_EVENTS.encode(step.event))
        assert_no_secret(step.event.model_dump_json())
        for secret in SECRET_TEXTS:
            assert secret not in repr(step.event)


def test_no_snapshot_and_no_summary_holds_a_secret() -> None:
    final = paid_by_every_method()[-1].state

    assert_no_secret(final.model_dump_json())
    assert_no_secret(summary(final).model_dump_json(by_alias=True))


def test_a_card_is_kept_as_its_last_four_digits_and_a_token() -> None:
    option = paid_by_every_method()[0].state.payment_methods[0].option

    assert option.model_dump(by_alias=True, mode="json") == {
        "type": "CreditCard",
        "holderName": "Ada Lovelace",
        "expiration": "12/99",
        "lastFour": "6467",
        "token": card_token(CREDIT_CARD_DIGITS, current_card_token_key()),
    }


@pytest.mark.parametrize(
    "command",
    [add_credit_card("1.00"), add_debit_card("1.00"), add_pay_pal("1.00")],
    ids=["credit card", "debit card", "PayPal"],
)
def test_logging_a_command_shows_none_of_its_secrets(command: Any) -> None:
    for text in (repr(command), str(command), f"{command!r}", command.model_dump_json()):
        for secret in SECRET_TEXTS:
            assert secret not in text
        assert str(SECURITY_CODE) not in text


def test_a_rejected_card_number_is_not_echoed_in_the_validation_error() -> None:
    wrong = "4539 1488 0343 6468"  # the last digit breaks the Luhn check

    with pytest.raises(ValidationError) as caught:
        AddCreditCard(cart_id=CART_ID, amount=price("1.00"), credit_card=card(wrong))

    assert wrong not in str(caught.value)
    assert "Luhn" in str(caught.value)


class TestTheCardToken:
    def test_it_is_an_hmac_sha256_of_the_digits_under_the_key(self) -> None:
        key = b"a key of at least sixteen bytes"
        expected = hmac.new(key, CREDIT_CARD_DIGITS.encode(), hashlib.sha256).hexdigest()

        assert card_token(CREDIT_CARD_DIGITS, key) == "tok_" + expected

    def test_it_is_the_same_for_the_same_card_and_differs_for_another_key(self) -> None:
        one = card_token(CREDIT_CARD_DIGITS, b"0123456789abcdef")

        assert card_token(CREDIT_CARD_DIGITS, b"0123456789abcdef") == one
        assert card_token(CREDIT_CARD_DIGITS, b"fedcba9876543210") != one
        assert CREDIT_CARD_DIGITS not in one

    def test_a_composition_root_can_set_its_own_key(self) -> None:
        production_key = b"a production key from a secret store"
        cart = given(created(), item_added(total="20.00")).state
        previous = current_card_token_key()
        use_card_token_key(production_key)
        try:
            [step] = execute(CART, cart, add_credit_card("5.00"))
        finally:
            use_card_token_key(previous)

        assert step.event.credit_card.token == card_token(CREDIT_CARD_DIGITS, production_key)

    def test_a_short_key_is_refused(self) -> None:
        with pytest.raises(ValueError, match="16 bytes"):
            use_card_token_key(b"short")

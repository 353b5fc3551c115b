"""What a client is told about a field it got wrong is a sentence in the rule's own words: not
pydantic's "Value error, " prefix, not a regular expression."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from eventualshop.runtime.http import validation_errors
from eventualshop.shopping_cart.payment_methods import CardDetails, PayPalDetails

CARD = {
    "number": "4539 1488 0343 6467",
    "holder_name": "Ada Lovelace",
    "expiration_date": "01/01/2099",
    "security_code": 123,
}


def _errors(model: Any, data: dict[str, Any]) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as refused:
        model.model_validate(data)
    return validation_errors(refused.value)


PAYPAL = {"email": "not-an-email", "password": "p"}
LUHN = "the card number fails its check digit (Luhn)"
DATE = "expiration date must be a real date in dd/MM/yyyy"


@pytest.mark.parametrize(
    ("model", "data", "field", "said"),
    [
        (PayPalDetails, PAYPAL, "email", "must be a valid email address"),
        (CardDetails, {**CARD, "number": "4539 1488 0343 6468"}, "number", LUHN),
        (CardDetails, {**CARD, "expiration_date": "31/02/2030"}, "expiration_date", DATE),
    ],
)
def test_a_field_a_rule_of_ours_refuses_is_told_in_its_words(
    model: Any, data: dict[str, Any], field: str, said: str
) -> None:
    # Was: "Value error, the card number fails …" and, for PayPal's email,
    # "String should match pattern '^[^@\\s]+@[^@\\s]+\\.[^@\\s.]+$'".
    assert _errors(model, data) == {field: [said]}


def test_pydantic_s_own_messages_stay_as_they_are() -> None:
    errors = _errors(CardDetails, {**CARD, "security_code": 99999})

    assert errors == {"security_code": ["Input should be less than or equal to 9999"]}

"""Payment methods: what a client sends (with its secrets) and what the cart keeps (without them).

A command carries the full card number, the security code or the PayPal password, because they
must be validated; none of them ever reaches an event, a snapshot or a log. An event carries a
payment *option*: for a card, the holder, the expiry (``MM/yy``), the last four digits and a token;
for PayPal, the e-mail address.

The token is a keyed one-way digest (HMAC-SHA256) of the card's digits: stable for the same card,
so a payment provider adapter can correlate it, but not the number itself. It stands in for a
payment vault. A real deployment replaces :func:`card_token` with the vault's tokenisation (or at
least sets its own key with :func:`use_card_token_key` at the composition root, see the cart's
``settings``); until then the key is random per process, never one written in the source. Keep
the key as secret as a password: card numbers carry little entropy, so whoever holds the key
could test candidate numbers against a token.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    Secret,
    SecretStr,
    SerializationInfo,
    StringConstraints,
    WithJsonSchema,
    field_serializer,
)

from eventualshop.kernel.messages import FINGERPRINT
from eventualshop.kernel.money import Money
from eventualshop.kernel.values import EmailAddress, NonEmpty, ValueObject

# Until a composition root sets one: unguessable, so no token is ever made with a known key.
_token_key: bytes | Callable[[], bytes] = secrets.token_bytes(32)


def card_token(digits: str, key: bytes) -> str:
    """A deterministic one-way token for a card number (digits only). Pure: the key is given."""
    return "tok_" + hmac.new(key, digits.encode("ascii"), hashlib.sha256).hexdigest()


def use_card_token_key(key: bytes | Callable[[], bytes]) -> None:
    """Set the key tokens are made with, or what gives it on first use (the embedded default's
    kept key, so that setting it makes no file: a start refused later leaves nothing behind);
    called once by a composition root, never per request."""
    global _token_key
    _token_key = _long_enough(key) if isinstance(key, bytes) else key


def current_card_token_key() -> bytes:
    global _token_key
    if not isinstance(_token_key, bytes):
        _token_key = _long_enough(_token_key())
    return _token_key


def _long_enough(key: bytes) -> bytes:
    if len(key) < 16:
        raise ValueError("a card token key needs at least 16 bytes")
    return key


# ---- input: what a command carries ------------------------------------------------------------


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card_digits(value: Any) -> str:
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    if not isinstance(text, str):
        raise ValueError("a card number is a string of digits")
    digits = re.sub(r"[ -]", "", text)
    # Never echo the number in the message: it may end up in a log.
    if not digits.isascii() or not digits.isdigit() or not 12 <= len(digits) <= 19:
        raise ValueError("a card number has 12 to 19 digits (spaces and dashes allowed)")
    if not luhn_valid(digits):
        raise ValueError("the card number fails its check digit (Luhn)")
    return digits


#: How a client writes an expiration date: the original's dd/MM/yyyy, or ISO's yyyy-MM-dd, in
#: ASCII digits. Only these: pydantic's date also took a Unix timestamp (4102358400, as a number
#: or a string) and a datetime at midnight, and \d other scripts' digits, none of which the API
#: document said (it said an ISO date only). Spelt so JSON Schema's ECMA-262 reads it alike.
_BLANK = r"[ \t\n\r\f\v]*"
EXPIRATION_PATTERN = (
    f"^{_BLANK}([0-9]{{2}}/[0-9]{{2}}/[0-9]{{4}}|[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}){_BLANK}$"
)
_EXPIRATION = re.compile(EXPIRATION_PATTERN)


def _input_date(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value  # a caller's own date: a client's is text
    if not isinstance(value, str) or not _EXPIRATION.fullmatch(value):
        raise ValueError("expiration date must be a date in dd/MM/yyyy (or yyyy-MM-dd)")
    text = value.strip()
    day_first = "/" in text
    try:
        return datetime.strptime(text, "%d/%m/%Y" if day_first else "%Y-%m-%d").date()
    except ValueError:
        form = "dd/MM/yyyy" if day_first else "yyyy-MM-dd"
        raise ValueError(f"expiration date must be a real date in {form}") from None


def _not_expired(value: date) -> date:
    # A card is good through the last day of the month it expires in. Checked where a client's
    # card is read (a command), never on replay: an event keeps a card that has expired since.
    if (value.year, value.month) < _this_month():
        raise ValueError("the card has expired")
    return value


def _this_month() -> tuple[int, int]:
    today = datetime.now(UTC).date()
    return today.year, today.month


CardNumber = Annotated[SecretStr, BeforeValidator(_card_digits), Field(repr=False)]
SecurityCode = Annotated[Secret[Annotated[int, Field(gt=0, le=9999)]], Field(repr=False)]
InputDate = Annotated[date, BeforeValidator(_input_date)]
CardExpirationDate = Annotated[
    InputDate,
    AfterValidator(_not_expired),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": EXPIRATION_PATTERN,
            "description": 'dd/MM/yyyy, such as "31/12/2030", or yyyy-MM-dd; a card is good '
            "through the last day of its month, and one whose month has passed is refused",
        },
        mode="validation",
    ),
]


class CardDetails(ValueObject):
    """A credit or debit card as a client sends it. ``number`` holds digits only once validated."""

    number: CardNumber
    holder_name: NonEmpty
    expiration_date: CardExpirationDate
    security_code: SecurityCode

    @property
    def last_four(self) -> str:
        return self.number.get_secret_value()[-4:]

    @field_serializer("number", when_used="json")
    def _shown_number(self, number: SecretStr, info: SerializationInfo) -> str:
        # An Idempotency-Key's fingerprint (``runtime.http``) tells two cards apart by the token
        # the event keeps anyway, a keyed digest: never by the digits. Elsewhere: masked.
        if isinstance(info.context, dict) and info.context.get(FINGERPRINT):
            return self.token()
        return str(number)

    def token(self, key: bytes | None = None) -> str:
        return card_token(self.number.get_secret_value(), key or current_card_token_key())


class PayPalDetails(ValueObject):
    email: EmailAddress
    password: Annotated[SecretStr, StringConstraints(min_length=1), Field(repr=False)]


# ---- stored: what events, snapshots and summaries carry ----------------------------------------


def _parse_expiry(value: Any) -> Any:
    if isinstance(value, str):
        match = re.fullmatch(r"(0[1-9]|1[0-2])/(\d{2})", value.strip())
        if match is None:
            raise ValueError('card expiry must look like "MM/yy"')
        return date(2000 + int(match[2]), int(match[1]), 1)
    if isinstance(value, date):
        return value.replace(day=1)
    return value


CardExpiry = Annotated[
    date,
    BeforeValidator(_parse_expiry),
    PlainSerializer(lambda d: d.strftime("%m/%y"), return_type=str, when_used="always"),
]
LastFour = Annotated[str, StringConstraints(pattern=r"^\d{4}$")]


class CreditCardOption(ValueObject):
    type: Literal["CreditCard"] = "CreditCard"
    holder_name: NonEmpty
    expiration: CardExpiry
    last_four: LastFour
    token: NonEmpty


class DebitCardOption(ValueObject):
    type: Literal["DebitCard"] = "DebitCard"
    holder_name: NonEmpty
    expiration: CardExpiry
    last_four: LastFour
    token: NonEmpty


class PayPalOption(ValueObject):
    type: Literal["PayPal"] = "PayPal"
    email: EmailAddress


PaymentOption = Annotated[
    CreditCardOption | DebitCardOption | PayPalOption, Field(discriminator="type")
]


class PaymentMethod(ValueObject):
    """One way the customer pays part of the cart; it never holds a secret."""

    id: UUID
    amount: Money
    option: PaymentOption


def credit_card_option(card: CardDetails, key: bytes | None = None) -> CreditCardOption:
    return CreditCardOption(
        holder_name=card.holder_name,
        expiration=card.expiration_date,
        last_four=card.last_four,
        token=card.token(key),
    )


def debit_card_option(card: CardDetails, key: bytes | None = None) -> DebitCardOption:
    # The original swapped Number and HolderName on every DebitCard round trip; no swap here.
    return DebitCardOption(
        holder_name=card.holder_name,
        expiration=card.expiration_date,
        last_four=card.last_four,
        token=card.token(key),
    )


def pay_pal_option(pay_pal: PayPalDetails) -> PayPalOption:
    return PayPalOption(email=pay_pal.email)

"""Money: a Decimal amount with an ISO 4217 currency.

Never a float: a float input is refused rather than silently rounded. Arithmetic and ordering
across currencies raise ``CurrencyMismatch`` (the original's "Currencies must be the same").
On the wire an amount is a string (``"10.50"``) and a currency its ISO code (``"USD"``).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation, localcontext
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from eventualshop.kernel.errors import AmountTooLarge, CurrencyMismatch
from eventualshop.kernel.validation import field_error

#: The digits an amount may hold: what Decimal's default context keeps, about what the original's
#: decimal held.
MAX_AMOUNT_DIGITS = 28


def _exactly(op: Callable[[Decimal, Any], Decimal], left: Decimal, right: Any) -> Decimal:
    """``op(left, right)``, exact: Decimal rounds a result to its context's 28 digits without a
    word, and a cart's total of 28-digit prices was rounded (and shown as ``1.0008…E+28``), so
    no payment in cents could settle it. A result of fewer digits was not rounded."""
    result = op(left, right)
    if len(result.as_tuple().digits) < MAX_AMOUNT_DIGITS:
        return result
    with localcontext() as exact:
        exact.prec = 4 * MAX_AMOUNT_DIGITS  # the exact sum or product of two such amounts
        whole = op(left, right)
    if len(whole.normalize(exact).as_tuple().digits) > MAX_AMOUNT_DIGITS:
        raise AmountTooLarge(
            f"the amount would have more than {MAX_AMOUNT_DIGITS} digits, and be rounded"
        )
    return result


class Currency(StrEnum):
    """The currencies the original supports; its ``Undefined`` is deliberately absent."""

    BRL = "BRL"
    CAD = "CAD"
    USD = "USD"
    EUR = "EUR"
    GBP = "GBP"
    JPY = "JPY"
    CHF = "CHF"
    AUD = "AUD"
    CNY = "CNY"
    INR = "INR"
    MXN = "MXN"

    @property
    def symbol(self) -> str:
        return _SYMBOLS[self]

    @property
    def decimals(self) -> int:
        return 0 if self is Currency.JPY else 2

    @classmethod
    def parse(cls, text: str) -> Currency:
        """Accept an ISO code or a symbol, trimmed and case-insensitive (as the original did)."""
        key = text.strip().upper()
        found = _BY_CODE_OR_SYMBOL.get(key)
        if found is None:
            known = ", ".join(c.value for c in cls)
            raise ValueError(f"unknown currency {text!r}; use an ISO code: {known}")
        return found


_SYMBOLS: dict[Currency, str] = {
    Currency.BRL: "R$",
    Currency.CAD: "Can$",
    Currency.USD: "US$",
    Currency.EUR: "€",
    Currency.GBP: "£",
    Currency.JPY: "JP¥",
    Currency.CHF: "CHF",
    Currency.AUD: "A$",
    Currency.CNY: "CNY",
    Currency.INR: "INR",
    Currency.MXN: "Mex$",
}
_BY_CODE_OR_SYMBOL: dict[str, Currency] = {c.value: c for c in Currency} | {
    s.upper(): c for c, s in _SYMBOLS.items()
}


def _to_decimal(value: Any) -> Decimal:
    # pydantic calls this for every amount it validates: the common forms, a str (JSON's) and a
    # Decimal (arithmetic's), are recognised first; floats are refused by a tuple of types, as a
    # ``float | bool`` union would be built again on every call.
    if isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"amount {value!r} is not a decimal number") from None
    elif isinstance(value, Decimal):
        result = value
    elif isinstance(value, (float, bool)):
        raise ValueError('amount must be a decimal string such as "10.50", not a float')
    elif isinstance(value, int):
        result = Decimal(value)
    else:
        raise ValueError('amount must be a decimal string such as "10.50"')
    if not result.is_finite():
        raise ValueError("amount must be a finite number")
    return result


def _to_currency(value: Any) -> Currency:
    if isinstance(value, Currency):
        return value
    if isinstance(value, str):
        # An exact ISO code (what JSON and the domain send) needs no trimming or case folding.
        return _BY_CODE_OR_SYMBOL.get(value) or Currency.parse(value)
    raise ValueError('currency must be an ISO 4217 code such as "USD"')


Amount = Annotated[
    Decimal, BeforeValidator(_to_decimal), PlainSerializer(str, return_type=str, when_used="always")
]
CurrencyCode = Annotated[
    Currency,
    BeforeValidator(_to_currency),
    PlainSerializer(lambda c: c.value, return_type=str, when_used="always"),
]


class Money(BaseModel):
    # Built on first use, not at import (cold start; see kernel.messages).
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    amount: Amount
    currency: CurrencyCode

    @classmethod
    def zero(cls, currency: Currency) -> Money:
        """Zero with the currency's decimals, so it reads "0.00" USD (or "0" JPY) on the wire."""
        return cls(amount=Decimal(0).scaleb(-currency.decimals), currency=currency)

    @classmethod
    def of(cls, amount: str | int | Decimal, currency: Currency | str) -> Money:
        return cls.model_validate({"amount": amount, "currency": currency})

    def _same(self, other: Money) -> None:
        if self.currency is not other.currency:
            raise CurrencyMismatch(
                f"currencies must be the same: {self.currency.value} and {other.currency.value}"
            )

    def _with(self, amount: Decimal) -> Self:
        if type(self) is Money:
            # Built, not copied: pydantic's model_copy goes through copy.copy three times and
            # costs more than validating these two fields (decide adds and multiplies on every
            # command). The result of arithmetic on finite amounts is always valid Money.
            return type(self)(amount=amount, currency=self.currency)
        # A subclass's rules are about what a client sends, not about results: the difference of
        # two positive prices may be zero. So its results are copied, unchecked, as they were.
        return self.model_copy(update={"amount": amount})

    def __add__(self, other: Money) -> Self:
        self._same(other)
        return self._with(_exactly(operator.add, self.amount, other.amount))

    def __sub__(self, other: Money) -> Self:
        self._same(other)
        return self._with(_exactly(operator.sub, self.amount, other.amount))

    def __mul__(self, factor: int) -> Self:
        if isinstance(factor, bool) or not isinstance(factor, int):
            return NotImplemented
        return self._with(_exactly(operator.mul, self.amount, factor))

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    def __eq__(self, other: object) -> bool:
        # Value equality: 10.0 USD == 10.00 USD, while the stored string keeps its scale.
        if not isinstance(other, Money):
            return NotImplemented
        return self.currency is other.currency and self.amount == other.amount

    def __hash__(self) -> int:
        return hash((self.amount.normalize(), self.currency))

    @property
    def is_positive(self) -> bool:
        return self.amount > 0

    @property
    def is_zero(self) -> bool:
        return self.amount == 0

    def __str__(self) -> str:
        return f"{self.amount} {self.currency.value}"

    def shown(self) -> dict[str, str]:
        """The amount and currency as read models show them to clients (``plain``)."""
        return shown(self.amount, self.currency)


def shown(amount: Decimal, currency: Currency) -> dict[str, str]:
    """An amount of ``currency`` as read models show it to clients."""
    return {"amount": plain(amount, currency.decimals), "currency": currency.value}


def plain(amount: Decimal, decimals: int) -> str:
    """``amount`` in fixed-point notation with ``decimals`` places, and more only for digits
    beyond them that are not zero: what a client reads, however the amount was written or summed
    (``1E+2`` USD reads ``"100.00"``, ``10.00000000`` reads ``"10.00"``). Exact: no rounding, and
    no context precision (a ``normalize`` would round past 28 digits)."""
    _, digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int), "money is finite"
    while exponent < -decimals and digits[-1] == 0:
        digits, exponent = digits[:-1] or (0,), exponent + 1
    return format(amount, f".{max(decimals, -exponent)}f")


class PositiveMoney(Money):
    """Money a client may send: the amount must be greater than zero (numerically)."""

    @field_validator("amount")
    @classmethod
    def _positive(cls, value: Decimal) -> Decimal:
        if value <= 0:
            raise ValueError("amount must be greater than 0")
        return value


# ---- money a client sends ----------------------------------------------------------------------


#: How a client writes an amount: ASCII digits, an optional fraction and exponent. Python's
#: Decimal also reads "1_000" and the digits of other scripts (Arabic-Indic ones, say), which no
#: client means to send. Spelt out (no \d or \s, which mean more in Unicode regexes), so the
#: API document's pattern, read as ECMA-262 by JSON Schema, is this one.
_AMOUNT_TEXT = r"[ \t\n\r\f\v]*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?[ \t\n\r\f\v]*"
_CLIENT_AMOUNT = re.compile(_AMOUNT_TEXT)
#: ``_CLIENT_AMOUNT`` as a JSON Schema ``pattern``, which matches anywhere unless anchored.
AMOUNT_PATTERN = f"^{_AMOUNT_TEXT}$"


# The rules of an amount a client sends, for ``ClientMoney`` and for a decimal a client sends
# as it sends money (an item's cost): one copy of each.


def written_plainly(value: Any) -> Any:
    """A before-validator: a text amount must be written as ``_CLIENT_AMOUNT`` says."""
    if isinstance(value, str) and not _CLIENT_AMOUNT.fullmatch(value):
        # The field names what it is (``unitPrice.amount``, ``cost``).
        raise ValueError(f'{value!r} is not a decimal number such as "10.50"')
    return value


def within_digits(value: Decimal) -> Decimal:
    """No more digits than the original's decimal holds, so no total of such amounts can
    overflow the arithmetic ("9e999999" would)."""
    exponent = value.as_tuple().exponent
    if (
        not isinstance(exponent, int)
        or len(value.as_tuple().digits) > MAX_AMOUNT_DIGITS
        or value.adjusted() >= MAX_AMOUNT_DIGITS
        or exponent < -MAX_AMOUNT_DIGITS
    ):
        raise ValueError(
            f"must have at most {MAX_AMOUNT_DIGITS} digits, below 10^{MAX_AMOUNT_DIGITS}"
        )
    return value


def finer_than(amount: Decimal, decimals: int) -> str | None:
    """Why ``amount`` is not a whole number of units of ``decimals`` places ("2 decimal
    places"), or None when it is, whatever its scale (1.500 is 1.50). Scaled, not quantized:
    quantizing 28 digits to cents needs 30 and raises."""
    in_minor_units = amount.scaleb(decimals)
    if in_minor_units == in_minor_units.to_integral_value():
        return None
    return f"{decimals} decimal places" if decimals else "no decimal places"


#: What a client may send as an amount, for the API document: pydantic described Decimal as
#: "a number or any string", while a JSON number with a fraction or an exponent is a float (10.5,
#: 10.0, 1e3), refused here. JSON Schema counts 10.0 an integer, so that is said in words.
CLIENT_AMOUNT_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10**MAX_AMOUNT_DIGITS},
        {"type": "string", "pattern": AMOUNT_PATTERN},
    ],
    "description": "above 0: a JSON integer written without a fraction or an exponent (10.5, "
    '10.0 and 1e3 are floats, refused), or a decimal string such as "10.50"; at most '
    f"{MAX_AMOUNT_DIGITS} digits, and no finer than the currency's smallest unit (2 decimal "
    "places, none for JPY)",
}


class ClientMoney(PositiveMoney):
    """An amount a client sends: above zero, and no more digits than the original's decimal
    holds, so no total of such amounts can overflow the arithmetic ("9e999999" would)."""

    # Money's amount, described as the rules below take it (its validators apply as they are).
    amount: Annotated[Amount, WithJsonSchema(CLIENT_AMOUNT_SCHEMA, mode="validation")]

    @field_validator("amount", mode="before")
    @classmethod
    def _written_plainly(cls, value: Any) -> Any:
        return written_plainly(value)

    @field_validator("amount")
    @classmethod
    def _fits(cls, value: Decimal) -> Decimal:
        return within_digits(value)

    @model_validator(mode="after")
    def _in_minor_units(self) -> Self:
        # A price of 1.005 USD made a cart due 3.015 USD, which no payment in cents settles
        # (3.01 leaves half a cent due, 3.02 is more than is due), and 1.5 JPY a yen split in two.
        # The error is the amount's (``unitPrice.amount`` on the wire, as its other rules are):
        # a ValidationError raised here is merged under this model's place in the input.
        places = finer_than(self.amount, self.currency.decimals)
        if places is not None:
            said = f"{self.currency.value} amounts have {places}"
            raise field_error(type(self).__name__, "amount", str(self.amount), "value_error", said)
        return self


def _money_fields(value: Any) -> Any:
    # Any Money is a fine input too; it is then checked like any other (above zero, its digits).
    if isinstance(value, Money) and not isinstance(value, ClientMoney):
        return {"amount": value.amount, "currency": value.currency}
    return value


ClientAmount = Annotated[ClientMoney, BeforeValidator(_money_fields)]

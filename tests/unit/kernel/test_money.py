"""``Money`` on its own: arithmetic and ordering never mix currencies, amounts are never floats,
and ``ClientMoney`` (what a client sends) is above zero with a bounded number of digits.

The cart checks currencies too, so only these tests notice when ``Money`` itself stops doing so.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from eventualshop.kernel.errors import AmountTooLarge, CurrencyMismatch, DomainRejection
from eventualshop.kernel.money import (
    MAX_AMOUNT_DIGITS,
    ClientAmount,
    ClientMoney,
    Currency,
    Money,
    PositiveMoney,
    plain,
)

TEN_USD = Money.of("10.00", Currency.USD)
TEN_EUR = Money.of("10.00", Currency.EUR)

BINARY_OPERATIONS: dict[str, Callable[[Money, Money], object]] = {
    "add": operator.add,
    "subtract": operator.sub,
    "less than": operator.lt,
    "less or equal": operator.le,
    "greater than": operator.gt,
    "greater or equal": operator.ge,
}


class TestCurrencies:
    @pytest.mark.parametrize("operation", BINARY_OPERATIONS.values(), ids=BINARY_OPERATIONS.keys())
    def test_adding_subtracting_or_comparing_two_currencies_raises_currency_mismatch(
        self, operation: Callable[[Money, Money], object]
    ) -> None:
        with pytest.raises(CurrencyMismatch, match="USD and EUR"):
            operation(TEN_USD, TEN_EUR)

    @pytest.mark.parametrize("operation", BINARY_OPERATIONS.values(), ids=BINARY_OPERATIONS.keys())
    def test_the_mismatch_is_raised_whichever_side_holds_which_currency(
        self, operation: Callable[[Money, Money], object]
    ) -> None:
        with pytest.raises(CurrencyMismatch, match="JPY and USD"):
            operation(Money.of("10", Currency.JPY), TEN_USD)

    def test_a_mismatch_is_raised_even_when_one_amount_is_zero(self) -> None:
        with pytest.raises(CurrencyMismatch):
            _ = Money.zero(Currency.USD) + TEN_EUR
        with pytest.raises(CurrencyMismatch):
            _ = TEN_USD - Money.zero(Currency.EUR)

    def test_summing_amounts_of_two_currencies_raises_currency_mismatch(self) -> None:
        with pytest.raises(CurrencyMismatch):
            sum([TEN_USD, TEN_EUR], Money.zero(Currency.USD))

    def test_currency_mismatch_is_a_domain_rejection_with_a_stable_code(self) -> None:
        with pytest.raises(DomainRejection) as raised:
            _ = TEN_USD + TEN_EUR
        assert isinstance(raised.value, CurrencyMismatch)
        assert raised.value.code == "currency-mismatch"

    def test_amounts_of_two_currencies_are_unequal_without_raising(self) -> None:
        assert TEN_USD != TEN_EUR
        assert Money.zero(Currency.USD) != Money.zero(Currency.EUR)


class TestSameCurrencyArithmetic:
    def test_adding_keeps_the_currency_and_adds_the_amounts(self) -> None:
        total = Money.of("10.50", "USD") + Money.of("0.75", "USD")
        assert total.currency is Currency.USD
        assert total.amount == Decimal("11.25")

    def test_subtracting_keeps_the_currency_and_may_go_below_zero(self) -> None:
        assert Money.of("10.00", "EUR") - Money.of("2.50", "EUR") == Money.of("7.50", "EUR")
        assert (Money.of("1", "EUR") - Money.of("3", "EUR")).amount == Decimal(-2)

    def test_multiplying_by_a_whole_number_works_on_either_side(self) -> None:
        assert Money.of("12.345", "USD") * 3 == Money.of("37.035", "USD")
        assert 3 * Money.of("12.345", "USD") == Money.of("37.035", "USD")

    @pytest.mark.parametrize("factor", [1.5, Decimal("1.5"), True, "2"])
    def test_multiplying_by_anything_but_an_int_is_refused(self, factor: Any) -> None:
        with pytest.raises(TypeError):
            _ = TEN_USD * factor

    def test_comparisons_follow_the_amounts(self) -> None:
        small, large = Money.of("9.99", "USD"), Money.of("10.00", "USD")
        assert small < large
        assert small <= large
        assert large > small
        assert large >= small
        assert large <= Money.of("10", "USD")
        assert large >= Money.of("10", "USD")
        assert not large < small
        assert not small > large

    def test_summing_starts_from_zero_in_the_currency(self) -> None:
        prices = [Money.of("0.99", "USD"), Money.of("10.00", "USD"), Money.of("12.345", "USD")]
        assert sum(prices, Money.zero(Currency.USD)) == Money.of("23.335", "USD")

    def test_equal_amounts_of_another_scale_are_equal_and_hash_alike(self) -> None:
        assert Money.of("10.0", "USD") == Money.of("10.00", "USD")
        assert hash(Money.of("10.0", "USD")) == hash(Money.of("10.00", "USD"))
        assert (
            Money.of("10.0", "USD").amount.as_tuple() != Money.of("10.00", "USD").amount.as_tuple()
        )

    def test_arithmetic_returns_a_new_value_and_leaves_the_operands_alone(self) -> None:
        a, b = Money.of("1.00", "USD"), Money.of("2.00", "USD")
        _ = a + b
        assert (a.amount, b.amount) == (Decimal("1.00"), Decimal("2.00"))
        with pytest.raises(ValidationError):
            a.amount = Decimal(5)  # type: ignore[misc]


class TestConstruction:
    @pytest.mark.parametrize("amount", [10.5, 0.1, 1.0, True])
    def test_a_float_or_a_bool_amount_is_refused(self, amount: Any) -> None:
        with pytest.raises(ValidationError, match="not a float"):
            Money.model_validate({"amount": amount, "currency": "USD"})

    def test_a_float_is_refused_by_of_too(self) -> None:
        with pytest.raises(ValidationError):
            Money.of(10.5, "USD")  # type: ignore[arg-type]

    @pytest.mark.parametrize("amount", ["ten", "", "NaN", "Infinity", "-inf", None, [1]])
    def test_an_amount_that_is_not_a_finite_decimal_is_refused(self, amount: Any) -> None:
        with pytest.raises(ValidationError):
            Money.model_validate({"amount": amount, "currency": "USD"})

    @pytest.mark.parametrize("amount", ["10.50", " 10.50 ", Decimal("10.50")])
    def test_a_decimal_string_or_a_decimal_is_kept_exactly(self, amount: str | Decimal) -> None:
        money = Money.model_validate({"amount": amount, "currency": "USD"})
        assert money.amount.as_tuple() == Decimal("10.50").as_tuple()

    def test_an_int_amount_is_accepted(self) -> None:
        assert Money.of(7, "USD").amount == Decimal(7)

    @pytest.mark.parametrize("text", ["USD", "usd", " Usd ", "US$", "us$"])
    def test_a_currency_is_an_iso_code_or_a_symbol_whatever_the_case(self, text: str) -> None:
        assert Money.of("1", text).currency is Currency.USD

    @pytest.mark.parametrize("currency", ["XXX", "Undefined", "", 840])
    def test_an_unknown_currency_is_refused(self, currency: Any) -> None:
        with pytest.raises(ValidationError):
            Money.model_validate({"amount": "1", "currency": currency})

    def test_an_unknown_field_is_refused(self) -> None:
        with pytest.raises(ValidationError):
            Money.model_validate({"amount": "1", "currency": "USD", "rate": "1"})

    def test_zero_has_the_decimals_of_its_currency(self) -> None:
        assert Money.zero(Currency.USD).model_dump(mode="json") == {
            "amount": "0.00",
            "currency": "USD",
        }
        assert Money.zero(Currency.JPY).model_dump(mode="json") == {
            "amount": "0",
            "currency": "JPY",
        }
        assert Money.zero(Currency.EUR).is_zero
        assert not Money.zero(Currency.EUR).is_positive

    def test_on_the_wire_an_amount_is_a_string_and_it_reads_back_equal(self) -> None:
        money = Money.of("10.50", "GBP")
        text = money.model_dump_json()
        assert text == '{"amount":"10.50","currency":"GBP"}'
        assert Money.model_validate_json(text) == money
        assert str(money) == "10.50 GBP"


class TestClientMoney:
    @pytest.mark.parametrize("amount", ["0.01", "1", "10.50", "12.34", "12.340", "1E+3"])
    def test_an_amount_above_zero_is_accepted(self, amount: str) -> None:
        money = ClientMoney.of(amount, "USD")
        assert isinstance(money, ClientMoney)
        assert money.amount == Decimal(amount)

    @pytest.mark.parametrize("amount", ["0", "0.00", "-0", "-0.01", "-10"])
    def test_zero_or_a_negative_amount_is_refused(self, amount: str) -> None:
        with pytest.raises(ValidationError, match="greater than 0"):
            ClientMoney.of(amount, "USD")

    def test_a_float_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="not a float"):
            ClientMoney.model_validate({"amount": 10.5, "currency": "USD"})

    @pytest.mark.parametrize(
        "amount",
        [
            "9" * MAX_AMOUNT_DIGITS,  # the most digits, the largest whole amount
            "1E+27",  # below 10^28
            "1." + "0" * (MAX_AMOUNT_DIGITS - 1),  # 28 digits in all
        ],
    )
    def test_an_amount_within_the_digit_limit_is_accepted(self, amount: str) -> None:
        assert ClientMoney.of(amount, "USD").amount == Decimal(amount)

    @pytest.mark.parametrize(
        "amount",
        [
            "9" * (MAX_AMOUNT_DIGITS + 1),  # too many digits
            "1E+28",  # a single digit, but 10^28
            "9e999999",  # would overflow any total
            "1E-29",  # a step finer than 10^-28
            "1." + "0" * MAX_AMOUNT_DIGITS,  # 29 digits although below 10
        ],
    )
    def test_an_amount_beyond_the_digit_limit_is_refused(self, amount: str) -> None:
        with pytest.raises(ValidationError, match="at most 28 digits"):
            ClientMoney.of(amount, "USD")

    @pytest.mark.parametrize(
        ("amount", "currency", "said"),
        [
            ("12.345", "USD", "USD amounts have 2 decimal places"),
            ("0.001", "EUR", "EUR amounts have 2 decimal places"),
            ("0." + "0" * (MAX_AMOUNT_DIGITS - 1) + "1", "USD", "USD amounts have 2 decimal"),
            ("1.5", "JPY", "JPY amounts have no decimal places"),
        ],
    )
    def test_an_amount_finer_than_its_currencys_smallest_unit_is_refused(
        self, amount: str, currency: str, said: str
    ) -> None:
        """A price of 1.005 USD made a cart due 3.015 USD, which no payment in cents settles."""
        with pytest.raises(ValidationError, match=said):
            ClientMoney.of(amount, currency)

    @pytest.mark.parametrize(
        ("amount", "currency"),
        [("7", "JPY"), ("7.0", "JPY"), ("1E+3", "JPY"), ("1.50", "USD"), ("1.500", "USD")],
    )
    def test_an_amount_in_whole_smallest_units_is_accepted_whatever_its_scale(
        self, amount: str, currency: str
    ) -> None:
        assert ClientMoney.of(amount, currency).amount == Decimal(amount)

    def test_client_money_is_money_and_mixes_only_with_its_own_currency(self) -> None:
        price = ClientMoney.of("10.00", "USD")
        assert isinstance(price, PositiveMoney)
        assert price + TEN_USD == Money.of("20.00", "USD")
        with pytest.raises(CurrencyMismatch):
            _ = price + TEN_EUR
        with pytest.raises(CurrencyMismatch):
            _ = price < TEN_EUR

    def test_arithmetic_on_client_money_is_not_held_to_what_a_client_may_send(self) -> None:
        price = ClientMoney.of("5.00", "USD")
        large = ClientMoney.of("5" + "0" * (MAX_AMOUNT_DIGITS - 1), "USD")  # 5 x 10^27

        assert (price - price).amount == 0
        assert (price * 0).amount == 0
        assert (-1 * price).amount == Decimal("-5.00")
        assert (large * 2).amount == Decimal("1E+28")  # past what a client may send, exact
        assert type(price - price) is ClientMoney

    def test_a_client_amount_accepts_any_money_and_checks_it_like_client_money(self) -> None:
        adapter: TypeAdapter[ClientMoney] = TypeAdapter(ClientAmount)
        accepted = adapter.validate_python(Money.of("10.50", "USD"))
        assert isinstance(accepted, ClientMoney)
        assert accepted == Money.of("10.50", "USD")
        assert adapter.validate_python({"amount": "1", "currency": "eur"}).currency is Currency.EUR
        with pytest.raises(ValidationError, match="greater than 0"):
            adapter.validate_python(Money.zero(Currency.USD))
        with pytest.raises(ValidationError, match="at most 28 digits"):
            adapter.validate_python(Money.of("1E+30", "USD"))


class TestPlainAmounts:
    """What clients read: fixed-point at the currency's decimals, whatever the notation."""

    @pytest.mark.parametrize(
        ("amount", "decimals", "shown"),
        [
            ("1E+2", 2, "100.00"),
            ("5E+1", 0, "50"),
            ("10.00000000", 2, "10.00"),
            ("0.010", 2, "0.01"),
            ("0.5", 2, "0.50"),
            ("1.005", 2, "1.005"),  # never rounded: a digit beyond the currency's is kept
            ("0.0000", 2, "0.00"),
            ("-2.50", 2, "-2.50"),
            ("9999999999999999999999999999.99", 2, "9999999999999999999999999999.99"),
            ("1E+27", 2, "1000000000000000000000000000.00"),
        ],
    )
    def test_an_amount_reads_in_fixed_point(self, amount: str, decimals: int, shown: str) -> None:
        assert plain(Decimal(amount), decimals) == shown

    def test_money_shows_its_amount_at_its_currency_decimals(self) -> None:
        assert Money.of("1E+2", "USD").shown() == {"amount": "100.00", "currency": "USD"}
        assert Money.of("1E+3", "JPY").shown() == {"amount": "1000", "currency": "JPY"}


@pytest.mark.parametrize("written", ["1_000", "\u0661\u0660", "10,50", "ten", "0x10", "1e2e3"])
def test_a_client_amount_is_written_in_ascii_decimal_notation(written: str) -> None:
    # Was: "1_000" and Arabic-Indic digits taken (Python's Decimal reads both).
    with pytest.raises(ValidationError, match="not a decimal number"):
        ClientMoney.model_validate({"amount": written, "currency": "USD"})


@pytest.mark.parametrize("written", ["10", "10.50", " 10.5 ", "1E+2", ".5", "10.", "+3"])
def test_the_decimal_notations_a_client_uses_are_taken(written: str) -> None:
    assert ClientMoney.model_validate({"amount": written, "currency": "USD"}).is_positive


class TestExactArithmetic:
    """Decimal rounds to 28 digits without a word: money refuses a result it would round."""

    def test_a_product_with_more_digits_than_an_amount_holds_is_refused(self) -> None:
        # Was: 111111111111111111111111111.0 (rounded), which no payment in cents settles.
        price = Money.of("12345678901234567890123456.78", "USD")

        with pytest.raises(AmountTooLarge) as refused:
            price * 9

        assert refused.value.code == "amount-too-large"

    def test_a_sum_that_would_be_rounded_is_refused(self) -> None:
        big = Money.of("9999999999999999999999999999", "JPY")
        with pytest.raises(AmountTooLarge):
            big + Money.of("0.5", "JPY")

    @pytest.mark.parametrize(
        ("left", "factor", "product"),
        [
            ("12345678901234567890123456.78", 7, "86419752308641975230864197.46"),  # 28 digits
            ("1000000000000000000000000000.00", 1, "1E+27"),  # trailing zeros are not digits lost
            ("9.99", 3, "29.97"),
        ],
    )
    def test_an_exact_result_is_kept(self, left: str, factor: int, product: str) -> None:
        assert (Money.of(left, "USD") * factor).amount == Decimal(product)

"""Amounts at the boundary: what is accepted exactly at each limit, what is refused a hair
beyond it, and the message the producer reads in the 422 (it names what is wrong)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from worker.money import MAX_AMOUNT, Amount, Money, Total, parse_decimal

AMOUNT: TypeAdapter[Decimal] = TypeAdapter(Amount)
MONEY: TypeAdapter[Decimal] = TypeAdapter(Money)
TOTAL: TypeAdapter[Decimal] = TypeAdapter(Total)


def refusal(adapter: TypeAdapter[Decimal], value: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        adapter.validate_python(value)
    (error,) = caught.value.errors()
    return str(error["msg"])


@pytest.mark.parametrize(
    ("given", "parsed"),
    [
        ("4.00", Decimal("4.00")),
        (" 4.00 ", Decimal("4.00")),
        (4, Decimal("4")),
        (Decimal("1.5"), Decimal("1.5")),
        (0.1, Decimal("0.1")),  # a float by its shortest repr, never its binary expansion
        ("1000000000", MAX_AMOUNT),  # the bound itself is allowed
        ("-1000000000", -MAX_AMOUNT),
        ("0.000001", Decimal("0.000001")),  # six decimals: allowed (tax amounts carry four)
    ],
)
def test_amounts_within_the_bounds_are_parsed_exactly(given: Any, parsed: Decimal) -> None:
    result = parse_decimal(given)
    assert result == parsed
    assert result.as_tuple() == parsed.as_tuple()


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (True, "amount must be a number or a numeric string, not a boolean"),
        ("abc", "not a decimal amount: 'abc'"),
        (None, "amount must be a number or a numeric string"),
        ([1], "amount must be a number or a numeric string"),
        ("NaN", "amount must be finite"),
        ("Infinity", "amount must be finite"),
        ("1000000000.000001", "amount must be at most 1000000000 in absolute value"),
        ("-1000000000.01", "amount must be at most 1000000000 in absolute value"),
        ("0.0000001", "amount must have at most 6 decimals"),
    ],
)
def test_an_amount_out_of_bounds_is_refused_with_a_message_saying_why(
    given: Any, message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        parse_decimal(given)
    assert str(caught.value) == message
    assert refusal(AMOUNT, given) == f"Value error, {message}"


def test_a_total_may_be_zero_or_under_one_but_never_negative() -> None:
    assert TOTAL.validate_python("0") == Decimal("0")
    assert TOTAL.validate_python("0.50") == Decimal("0.50")
    assert TOTAL.validate_python("18.1525") == Decimal("18.1525")  # a total may carry tax digits
    assert refusal(TOTAL, "-0.01") == "Value error, amount must not be negative"


def test_money_we_send_is_non_negative_with_at_most_two_decimals() -> None:
    assert MONEY.validate_python("0") == Decimal("0.00")
    assert str(MONEY.validate_python("1.2")) == "1.20"
    assert MONEY.validate_python("0.01") == Decimal("0.01")
    assert refusal(MONEY, "-0.01") == "Value error, amount must not be negative"
    assert refusal(MONEY, "1.234") == "Value error, amount must have at most two decimals"
    assert refusal(MONEY, "1.230") == "Value error, amount must have at most two decimals"

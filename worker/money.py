"""Money as Decimal end to end: parsing K-Series' strings-or-numbers, quantising, serialising.

K-Series sends amounts as strings ("4.00") in notifications and sales and as numbers in
schemas; both arrive here as `Decimal` (JSON is parsed with `parse_float=Decimal`), never float.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

__all__ = ["CENT", "MAX_AMOUNT", "Amount", "Money", "Total", "cents", "parse_decimal"]

CENT = Decimal("0.01")
# No restaurant check comes near this; anything beyond is a bug or an attack, and refusing it
# at the boundary keeps every later sum and quantize inside Decimal's default context.
MAX_AMOUNT = Decimal("1000000000")
MAX_DECIMALS = 6


def parse_decimal(value: Any) -> Decimal:
    """Accept str, int, Decimal (and, defensively, float via its shortest repr)."""
    if isinstance(value, bool):
        raise ValueError("amount must be a number or a numeric string, not a boolean")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | str):
        try:
            result = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"not a decimal amount: {value!r}") from None
    elif isinstance(value, float):
        result = Decimal(repr(value))
    else:
        raise ValueError("amount must be a number or a numeric string")
    if not result.is_finite():
        raise ValueError("amount must be finite")
    if abs(result) > MAX_AMOUNT:
        raise ValueError(f"amount must be at most {MAX_AMOUNT} in absolute value")
    exponent = result.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_DECIMALS:
        raise ValueError(f"amount must have at most {MAX_DECIMALS} decimals")
    return result


def _total(value: Any) -> Decimal:
    amount = parse_decimal(value)
    if amount < 0:
        raise ValueError("amount must not be negative")
    return amount


def _money(value: Any) -> Decimal:
    amount = parse_decimal(value)
    if amount < 0:
        raise ValueError("amount must not be negative")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise ValueError("amount must have at most two decimals")
    return amount.quantize(CENT)


def cents(amount: Decimal) -> Decimal:
    """Round to the cent, half up, as the POS does."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


# What we send: non-negative, at most two decimals (K-Series' schema); JSON as a string.
Money = Annotated[Decimal, BeforeValidator(_money), PlainSerializer(str, when_used="json")]
# What we receive: up to six decimals (tax amounts carry four), bounded; JSON as a string.
Amount = Annotated[Decimal, BeforeValidator(parse_decimal), PlainSerializer(str, when_used="json")]
# A total or paid amount we receive: like Amount, and never negative.
Total = Annotated[Decimal, BeforeValidator(_total), PlainSerializer(str, when_used="json")]

"""How K-Series writes money and time on the wire, and the clock the sandbox reads.

Notifications and sales carry amounts as strings ("4.00"); the order API's timestamps look like
`2021-12-21T13:24:49.265+0000`, the finance API's like `2023-02-14T19:58:48.224Z`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

import simplejson
from starlette.responses import JSONResponse

__all__ = [
    "CENT",
    "Clock",
    "JSONDecimalResponse",
    "SystemClock",
    "cents",
    "dumps",
    "kseries_time",
    "money",
    "zulu_time",
]

CENT = Decimal("0.01")


class Clock(Protocol):
    """Wall-clock source, injectable so deadlines can be tested."""

    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def cents(amount: Decimal) -> Decimal:
    """Round to the cent, half up, as the POS does."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def money(amount: Decimal) -> str:
    """'4.00': how notifications and sales write amounts."""
    return str(cents(amount))


def kseries_time(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def zulu_time(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def dumps(payload: Any) -> bytes:
    """JSON with Decimal written as a number, never through float."""
    return simplejson.dumps(payload, use_decimal=True).encode()


class JSONDecimalResponse(JSONResponse):
    """A JSONResponse that can carry Decimal amounts."""

    def render(self, content: Any) -> bytes:
        return dumps(content)

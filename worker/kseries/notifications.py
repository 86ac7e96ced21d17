"""What K-Series POSTs to our webhook, as models: ORDER, PAYMENT, account, item availability
and Online Ordering API readiness notifications (the order-and-pay OpenAPI's `webhooks`).

Every field orderflow keeps or acts on is bounded; free text is clipped rather than refused, so
a long `reason` never costs us the news it comes with. An `account` whose amounts cannot be
read is dropped and named in `unreadable` (see `keep_readable`): the status still counts.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, TypeAdapter, field_validator, model_validator

from worker.kseries.models import AccountSnapshot, Readiness, _Incoming, keep_readable
from worker.money import Total

__all__ = [
    "AccountNotification",
    "ItemNotification",
    "LocationId",
    "OrderNotification",
    "PaymentNotification",
    "ReadinessNotification",
]

CLIP = 300


def _clip(value: Any) -> Any:
    return value[:CLIP] if isinstance(value, str) else value


Clipped = Annotated[str, BeforeValidator(_clip)]
LocationId = Annotated[int, Field(gt=0, le=2**63 - 1)]  # int64, as K-Series' schema says
_ONLINE_ORDER = re.compile(r"^(?:TASK:)?OO-([0-9]{1,19})-(.{1,64})$", re.DOTALL)


def _int_location(value: Any) -> Any:
    """K-Series sends the location as a number, seed 003 as a string of ASCII digits."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        return int(value)
    return value


class _Notification(_Incoming):
    thirdPartyReference: Annotated[str, Field(min_length=1, max_length=64)]
    businessLocationId: Annotated[LocationId, BeforeValidator(_int_location)] | None = None
    status: Annotated[str, Field(min_length=1, max_length=40)]
    reason: Clipped | None = None
    ikentooAccountIdentifier: Clipped | None = None
    ikentooAccountId: Clipped | int | None = None
    unreadable: str | None = None


_ACCOUNT: dict[str, TypeAdapter[Any]] = {"account": TypeAdapter(AccountSnapshot)}


class OrderNotification(_Notification):
    """`type: ORDER` (the default when `type` is left out, as in the FAILURE example): SUCCESS,
    FAILURE, IN_DELIVERY, READY_FOR_PICKUP, CLOSED, ABANDONED, CANCELLED, CHECK_WAS_UPDATED."""

    type: Literal["ORDER"] = "ORDER"
    account: AccountSnapshot | None = None

    @model_validator(mode="before")
    @classmethod
    def _account_apart(cls, data: Any) -> Any:
        return keep_readable(data, _ACCOUNT)


class PaymentErrorTimeout(_Incoming):
    errorKey: Clipped | None = None
    message: Clipped | None = None


class PaymentErrorAccount(_Incoming):
    type: Annotated[str, BeforeValidator(_clip), Field(max_length=64)] | None = None


class PaymentErrors(_Incoming):
    timeout: PaymentErrorTimeout | None = None
    account: PaymentErrorAccount | None = None


class PaymentNotification(_Notification):
    """`type: PAYMENT`: `thirdPartyReference` holds our `thirdPartyPaymentReference`."""

    type: Literal["PAYMENT"]
    errors: PaymentErrors | None = None

    @property
    def timed_out(self) -> bool:
        return bool(self.errors and self.errors.timeout and self.errors.timeout.errorKey)

    @property
    def error_type(self) -> str | None:
        return self.errors.account.type if self.errors and self.errors.account else None


class ExternalReference(_Incoming):
    prefix: Clipped | None = None
    reference: Clipped | None = None


_TOTALS: dict[str, TypeAdapter[Any]] = {
    "totalAmount": TypeAdapter(Total),
    "paidAmount": TypeAdapter(Total),
}


class AccountNotificationAccount(_Incoming):
    accountNumber: Clipped | None = None
    businessLocationId: int | Clipped | None = None
    totalAmount: Total | None = None
    paidAmount: Total | None = None
    externalReferences: Annotated[list[ExternalReference], Field(max_length=100)] = Field(
        default_factory=list
    )
    unreadable: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _amounts_apart(cls, data: Any) -> Any:
        return keep_readable(data, _TOTALS)


class AccountNotification(_Incoming):
    """Account notifications (seed 003): OPEN / UPDATE / CLOSE / CANCEL with a full account."""

    notificationType: Literal["OPEN", "UPDATE", "CLOSE", "CANCEL"]
    businessLocationId: Annotated[LocationId, BeforeValidator(_int_location)] | None = None
    account: AccountNotificationAccount

    def online_order_reference(self) -> tuple[int, str] | None:
        """(businessLocationId, thirdPartyReference) from a `TASK:OO-{bl}-{ref}` reference."""
        for ext in self.account.externalReferences:
            if ext.prefix not in (None, "TASK"):
                continue
            found = _ONLINE_ORDER.match(ext.reference or "")
            if found and 0 < int(found[1]) < 2**63:
                return int(found[1]), found[2]
        return None


class ItemNotification(_Incoming):
    """`type: ITEM`: a SKU's sales restriction changed at a location. Recorded; no use yet."""

    type: Literal["ITEM"]
    sku: Clipped
    businessLocationId: Annotated[LocationId, BeforeValidator(_int_location)]
    status: Annotated[str, Field(min_length=1, max_length=40)]
    count: int | None = None
    countUpdatedAt: Clipped | None = None


class ReadinessNotification(Readiness):
    """`type: ORDER_API`: whether a location can take online orders (READY / NOT_READY), the
    same facts as `GET /o/op/1/onlineOrderReadiness`, pushed when they change."""

    type: Literal["ORDER_API"]
    businessLocationId: Annotated[LocationId, BeforeValidator(_int_location)]
    status: Annotated[str, Field(min_length=1, max_length=40)]
    lastUpdatedAt: datetime | None = None
    posStatus: dict[str, Any] | None = None
    onlineOrderingApiConfiguration: dict[str, Any] | None = None

    @field_validator("lastUpdatedAt")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        """A time without an offset cannot be ordered against others: taken as unknown."""
        return value if value is None or value.tzinfo is not None else None

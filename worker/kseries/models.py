"""pydantic models for what we send to K-Series and what it sends back.

Outgoing models are strict (`extra="forbid"`, K-Series' field limits) so a bad producer body is
rejected before anything is stored. Incoming models tolerate unknown fields: real payloads carry
fields the published schema lacks (e.g. `completionMode`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from worker.money import Amount, Money, cents

__all__ = [
    "AccountNotification",
    "AccountSnapshot",
    "ApplyPayment",
    "CustomerInfo",
    "DeliveryAddress",
    "LocalOrder",
    "OrderItem",
    "OrderNotification",
    "OrderPayment",
    "PaymentNotification",
    "Readiness",
    "Sale",
    "ToGoOrder",
    "WebhookRegistration",
]

NonEmpty = Annotated[str, Field(min_length=1)]


class _Outgoing(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Incoming(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


class Modifier(_Outgoing):
    modifierId: Annotated[str, Field(min_length=1, max_length=64)]


class SubItem(_Outgoing):
    quantity: Annotated[int, Field(ge=1, le=10_000)]
    sku: Annotated[str, Field(min_length=1, max_length=25)]
    customItemName: str | None = None
    customItemPrice: Money | None = None
    modifiers: list[Modifier] | None = None


class OrderItem(SubItem):
    discountCode: str | None = None
    course: Annotated[int, Field(ge=0)] | None = None
    subItems: list[SubItem] | None = None


class ToGoItem(SubItem):
    discountCode: str | None = None
    subItems: list[SubItem] | None = None


class CustomerInfo(_Outgoing):
    firstName: Annotated[str, Field(min_length=1, max_length=128)]
    lastName: str | None = None
    thirdPartyReference: str | None = None
    email: str | None = None
    contactNumberAsE164: Annotated[str, Field(pattern=r"^\+[1-9]\d{1,14}$")] | None = None
    notes: str | None = None
    salutation: str | None = None
    emailNotification: Literal["ENABLE", "DISABLE", "DONT_CHANGE"] | None = None


class OrderPayment(_Outgoing):
    """An order's upfront payment. `paymentAmount` includes the tip (kseries-api.md)."""

    paymentMethod: NonEmpty
    paymentAmount: Money
    tipAmount: Money = Decimal("0.00")


class _OrderBase(_Outgoing):
    businessLocationId: Annotated[int, Field(gt=0)]
    thirdPartyReference: Annotated[str, Field(min_length=1, max_length=48)]
    endpointId: Annotated[str, Field(min_length=1)] | None = None
    customerInfo: CustomerInfo
    orderNote: str | None = None
    maxTimeToAttemptOrderDeliverToPos: Annotated[int, Field(ge=1)] | None = None
    staffId: int | None = None
    accountProfileCode: str | None = None
    scheduledTimeForOrderAsIso8601: datetime | None = None
    payment: OrderPayment | None = None

    @field_validator("scheduledTimeForOrderAsIso8601")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must carry a UTC offset, e.g. 2026-11-22T18:30:00+00:00")
        return value


class LocalOrder(_OrderBase):
    """Body of `POST /o/op/1/order/local` (dine-in)."""

    accountId: str | None = None
    accountIdentifier: str | None = None
    tableNumber: str | None = None
    clientCount: Annotated[int, Field(ge=0)] | None = None
    items: list[OrderItem] = Field(min_length=1)


class DeliveryAddress(_Outgoing):
    addressLine1: Annotated[str, Field(min_length=1)]
    addressLine2: str | None = None
    zip: str | None = None
    city: str | None = None


class ToGoOrder(_OrderBase):
    """Body of `POST /o/op/1/order/toGo` (takeaway or delivery)."""

    deliveryAddress: DeliveryAddress | None = None
    collectionCode: Annotated[str, Field(min_length=1, max_length=8)] | None = None
    orderCollectionTimeAsIso8601: datetime | None = None
    items: list[ToGoItem] = Field(min_length=1)


class ApplyPayment(_Outgoing):
    """Body of `POST /o/op/1/pay`. `paymentAmount` excludes the tip."""

    iKaccountIdentifier: NonEmpty
    thirdPartyPaymentReference: Annotated[str, Field(min_length=1, max_length=50)]
    endpointId: NonEmpty
    businessLocationId: int
    taskTtlInMs: Annotated[int, Field(ge=1)]
    paymentMethod: NonEmpty
    paymentAmount: Money
    tipAmount: Money = Decimal("0.00")


class EventSubscription(_Outgoing):
    name: str
    resource: str


class WebhookRegistration(_Outgoing):
    """Body of `PUT`/`POST /o/wh/1/webhook`; an update resets booleans left out."""

    endpointId: NonEmpty
    url: NonEmpty
    withBasicAuth: bool = False
    username: str | None = None
    password: str | None = None
    provideAccount: bool = True
    expandTransactions: bool = True
    expandPayments: bool = True
    subscribeTo: list[EventSubscription] = Field(
        default_factory=lambda: [EventSubscription(name="DELIVERED", resource="order")]
    )


# --- incoming ---------------------------------------------------------------------------------


class PaymentEntry(_Incoming):
    externalReference: str | None = None
    paymentMethodCode: str | None = None
    amountPaid: Amount | None = None
    active: bool | None = None


class AccountSnapshot(_Incoming):
    """A check (`GET /o/op/1/order/accounts/{id}`, or a notification's `account`)."""

    ikaccountId: str | None = None
    currentAmount: Amount = Decimal(0)
    paidAmount: Amount = Decimal(0)
    closeDate: str | None = None
    paymentEntries: list[PaymentEntry] = Field(default_factory=list)

    @property
    def outstanding(self) -> Decimal:
        return cents(self.currentAmount - self.paidAmount)

    @property
    def payment_references(self) -> frozenset[str]:
        return frozenset(
            p.externalReference
            for p in self.paymentEntries
            if p.externalReference and p.active is not False
        )


class SaleLine(_Incoming):
    totalNetAmountWithTax: Amount = Decimal(0)
    sku: str | None = None


class SalePayment(_Incoming):
    netAmountWithTax: Amount = Decimal(0)
    tip: Amount | None = None
    externalReference: str | None = None
    code: str | None = None


class Sale(_Incoming):
    """`GET /f/finance/{bl}/saleByExternalReference` 200 (the financial API's SaleDto)."""

    accountFiscId: str | None = None
    receiptId: str | None = None
    salesLines: list[SaleLine] = Field(default_factory=list)
    payments: list[SalePayment] = Field(default_factory=list)
    cancelled: bool | None = None

    @property
    def total(self) -> Decimal:
        return cents(sum((line.totalNetAmountWithTax for line in self.salesLines), Decimal(0)))

    @property
    def paid(self) -> Decimal:
        return cents(sum((p.netAmountWithTax for p in self.payments), Decimal(0)))

    @property
    def payment_references(self) -> frozenset[str]:
        return frozenset(p.externalReference for p in self.payments if p.externalReference)


class _Notification(_Incoming):
    thirdPartyReference: Annotated[str, Field(min_length=1, max_length=64)]
    businessLocationId: int | None = None
    status: Annotated[str, Field(min_length=1, max_length=40)]
    reason: str | None = None
    ikentooAccountIdentifier: str | None = None
    ikentooAccountId: str | int | None = None

    @field_validator("businessLocationId", mode="before")
    @classmethod
    def _int_location(cls, value: Any) -> Any:
        return int(value) if isinstance(value, str) and value.isdigit() else value


class OrderNotification(_Notification):
    """`type: ORDER`: SUCCESS, FAILURE, IN_DELIVERY, READY_FOR_PICKUP, CLOSED, ... ."""

    type: Literal["ORDER"]
    account: AccountSnapshot | None = None


class PaymentErrorTimeout(_Incoming):
    errorKey: str | None = None
    message: str | None = None


class PaymentErrorAccount(_Incoming):
    type: str | None = None


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
    prefix: str | None = None
    reference: str | None = None


class AccountNotificationAccount(_Incoming):
    accountNumber: str | None = None
    businessLocationId: int | str | None = None
    totalAmount: Amount = Decimal(0)
    paidAmount: Amount = Decimal(0)
    externalReferences: list[ExternalReference] = Field(default_factory=list)


class AccountNotification(_Incoming):
    """Account notifications (seed 003): OPEN / UPDATE / CLOSE / CANCEL with a full account."""

    notificationType: Literal["OPEN", "UPDATE", "CLOSE", "CANCEL"]
    businessLocationId: int | None = None
    account: AccountNotificationAccount

    def online_order_reference(self) -> tuple[int, str] | None:
        """(businessLocationId, thirdPartyReference) from a `TASK`/`OO-{bl}-{ref}` reference."""
        for ext in self.account.externalReferences:
            raw = ext.reference or ""
            if raw.startswith("TASK:"):
                raw = raw[5:]
            if ext.prefix not in (None, "TASK") or not raw.startswith("OO-"):
                continue
            location, _, reference = raw[3:].partition("-")
            if location.isdigit() and reference:
                return int(location), reference
        return None


class Readiness(_Incoming):
    """`GET /o/op/1/onlineOrderReadiness`."""

    status: str
    posStatus: dict[str, Any] | None = None


class SpringFieldError(_Incoming):
    field: str | None = None
    defaultMessage: str | None = None


class SpringError(_Incoming):
    """K-Series' 400 body; `errors` only on validation failures."""

    message: str | None = Field(default=None, validation_alias=AliasChoices("message", "msg"))
    errors: list[SpringFieldError] = Field(default_factory=list)

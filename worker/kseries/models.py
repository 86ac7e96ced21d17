"""pydantic models for what we send to K-Series and what it sends back.

Outgoing models are strict (`extra="forbid"`, K-Series' field limits) so a bad producer body is
rejected before anything is stored. Incoming models tolerate unknown fields: real payloads carry
fields the published schema lacks (e.g. `completionMode`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from worker.constants import MAX_DELIVERY_TTL_MS
from worker.money import Amount, Money, Total, cents

__all__ = [
    "REFERENCE_PATTERN",
    "AccountId",
    "AccountSnapshot",
    "ApplyPayment",
    "CustomerInfo",
    "DeliveryAddress",
    "LocalOrder",
    "OrderItem",
    "OrderPayment",
    "Readiness",
    "Sale",
    "ToGoOrder",
    "WebhookRegistration",
    "describe_error",
    "keep_readable",
]

NonEmpty = Annotated[str, Field(min_length=1)]

# Submission bounds: K-Series' own where its schema gives one (reference 1-48, SKU 25,
# firstName 128, collectionCode 8, int64 ids, delivery limit), generous caps elsewhere, so no
# field of a stored order is unbounded (a body is at most ORDERFLOW_MAX_BODY_BYTES anyway).
Text = Annotated[str, Field(max_length=1000)]  # free text: notes
Name = Annotated[str, Field(max_length=128)]
Code = Annotated[str, Field(min_length=1, max_length=64)]  # ids and codes we need
Short = Annotated[str, Field(max_length=64)]  # optional codes a producer may send empty
Id64 = Annotated[int, Field(gt=0, le=2**63 - 1)]
# What `GET /orders/{bl}/{ref}` can serve as one path segment: no '/', '?', '#', '%', spaces or
# control characters, and no leading '.' (so never "." or "..", which clients collapse).
REFERENCE_PATTERN = r"^[A-Za-z0-9_:~-][A-Za-z0-9._:~-]{0,47}$"
Reference = Annotated[str, Field(min_length=1, max_length=48, pattern=REFERENCE_PATTERN)]
MAX_ITEMS = 500
MAX_PARTS = 50  # modifiers or sub-items of one line
# How a producer writes an amount we pass on (the API's OpenAPI description of it).
PRICE_JSON_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "pattern": r"^[0-9]{1,10}(\.[0-9]{1,2})?$"},
        {"type": "number", "minimum": 0, "maximum": 1_000_000_000},
    ]
}
Price = Annotated[Money, WithJsonSchema(PRICE_JSON_SCHEMA)]


class _Outgoing(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Incoming(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


class Modifier(_Outgoing):
    modifierId: Code


class SubItem(_Outgoing):
    quantity: Annotated[int, Field(ge=1, le=10_000)]
    sku: Annotated[str, Field(min_length=1, max_length=25)]
    customItemName: Name | None = None
    customItemPrice: Price | None = None
    modifiers: Annotated[list[Modifier], Field(max_length=MAX_PARTS)] | None = None


class OrderItem(SubItem):
    discountCode: Short | None = None
    course: Annotated[int, Field(ge=0, le=1_000)] | None = None
    subItems: Annotated[list[SubItem], Field(max_length=MAX_PARTS)] | None = None


class ToGoItem(SubItem):
    discountCode: Short | None = None
    subItems: Annotated[list[SubItem], Field(max_length=MAX_PARTS)] | None = None


class CustomerInfo(_Outgoing):
    firstName: Annotated[str, Field(min_length=1, max_length=128)]
    lastName: Name | None = None
    thirdPartyReference: Short | None = None
    email: Annotated[str, Field(max_length=254)] | None = None
    contactNumberAsE164: Annotated[str, Field(pattern=r"^\+[1-9]\d{1,14}$")] | None = None
    notes: Text | None = None
    salutation: Annotated[str, Field(max_length=32)] | None = None
    emailNotification: Literal["ENABLE", "DISABLE", "DONT_CHANGE"] | None = None


class OrderPayment(_Outgoing):
    """An order's upfront payment. `paymentAmount` includes the tip (kseries-api.md)."""

    paymentMethod: Code
    paymentAmount: Price
    tipAmount: Price = Decimal("0.00")


class _OrderBase(_Outgoing):
    businessLocationId: Id64
    thirdPartyReference: Reference
    endpointId: Code | None = None
    customerInfo: CustomerInfo
    orderNote: Text | None = None
    maxTimeToAttemptOrderDeliverToPos: (
        Annotated[int, Field(ge=1, le=MAX_DELIVERY_TTL_MS)] | None
    ) = None
    staffId: Id64 | None = None
    accountProfileCode: Short | None = None
    scheduledTimeForOrderAsIso8601: datetime | None = None
    payment: OrderPayment | None = None

    @field_validator(
        "scheduledTimeForOrderAsIso8601", "orderCollectionTimeAsIso8601", check_fields=False
    )
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must carry a UTC offset, e.g. 2026-11-22T18:30:00+00:00")
        return value


class LocalOrder(_OrderBase):
    """Body of `POST /o/op/1/order/local` (dine-in)."""

    accountId: Short | None = None
    accountIdentifier: Short | None = None
    tableNumber: Annotated[str, Field(max_length=32)] | None = None
    clientCount: Annotated[int, Field(ge=0, le=10_000)] | None = None
    items: Annotated[list[OrderItem], Field(min_length=1, max_length=MAX_ITEMS)]


class DeliveryAddress(_Outgoing):
    addressLine1: Annotated[str, Field(min_length=1, max_length=256)]
    addressLine2: Annotated[str, Field(max_length=256)] | None = None
    zip: Annotated[str, Field(max_length=32)] | None = None
    city: Name | None = None


class ToGoOrder(_OrderBase):
    """Body of `POST /o/op/1/order/toGo` (takeaway or delivery)."""

    deliveryAddress: DeliveryAddress | None = None
    collectionCode: Annotated[str, Field(min_length=1, max_length=8)] | None = None
    orderCollectionTimeAsIso8601: datetime | None = None
    items: Annotated[list[ToGoItem], Field(min_length=1, max_length=MAX_ITEMS)]


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

# K-Series' account identifiers look like `A17700.3`; one goes into a URL path (the check read)
# and into `/pay`, so nothing else is taken for one (no '/', no leading '.').
AccountId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
PROBLEM_CHARS = 160
_TYPES = frozenset({"str", "int", "float", "bool", "dict", "list", "none"})


def describe_error(exc: ValidationError, prefix: str = "") -> str:
    """The first problem of a validation error, as `field.path: message`, bounded in length:
    what a history entry or an unmatched notification says about a body it could not read."""
    first = exc.errors(include_url=False, include_input=False)[0]
    # Union members show in `loc` as e.g. `function-before[_clip(), str]`: not a field name.
    parts = (prefix, *first["loc"])
    where = ".".join(str(p) for p in parts if p != "" and "[" not in str(p) and p not in _TYPES)
    return f"{where or 'body'}: {first['msg']}"[:PROBLEM_CHARS]


def keep_readable(data: Any, parts: dict[str, TypeAdapter[Any]], required: bool = False) -> Any:
    """Validate the money-bearing `parts` of an incoming body on their own (a `mode="before"`
    model validator). A part that fails, or is missing when `required`, is dropped and named in
    `unreadable`: the news around it still counts, its numbers never do (README, statuses)."""
    if not isinstance(data, dict):
        return data
    data = {**data, "unreadable": None}  # never taken from the body itself
    problems = []
    for name, adapter in parts.items():
        if data.get(name) is None:
            data.pop(name, None)
            if required:
                problems.append(f"{name}: missing")
            continue
        try:
            data[name] = adapter.validate_python(data[name])
        except ValidationError as exc:
            del data[name]
            problems.append(describe_error(exc, name))
    if problems:
        data["unreadable"] = "; ".join(problems)[:PROBLEM_CHARS]
    return data


class PaymentEntry(_Incoming):
    externalReference: str | None = None
    paymentMethodCode: str | None = None
    amountPaid: Amount | None = None
    active: bool | None = None


class AccountSnapshot(_Incoming):
    """A check (`GET /o/op/1/order/accounts/{id}`, or a notification's `account`). Both amounts
    are required: a check without them says nothing about what is left to pay."""

    ikaccountId: AccountId | None = None
    currentAmount: Total
    paidAmount: Total
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
    totalNetAmountWithTax: Amount  # a discount or refund line may be negative; the sum may not
    sku: str | None = None


class SalePayment(_Incoming):
    netAmountWithTax: Amount
    tip: Amount | None = None
    externalReference: str | None = None
    code: str | None = None


_SALE_PARTS: dict[str, TypeAdapter[Any]] = {
    "salesLines": TypeAdapter(list[SaleLine]),
    "payments": TypeAdapter(list[SalePayment]),
}


class Sale(_Incoming):
    """`GET /f/finance/{bl}/saleByExternalReference` 200 (the financial API's SaleDto).

    The account it names is K-Series' own answer about our reference, so it is required; its
    lines and payments are read on their own (`unreadable` says why they were not), so an
    unreadable amount still tells that the order is on the POS and which check it is.
    """

    accountFiscId: AccountId
    receiptId: str | None = None
    salesLines: list[SaleLine] | None = None
    payments: list[SalePayment] | None = None
    cancelled: bool | None = None
    unreadable: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _amounts_apart(cls, data: Any) -> Any:
        return keep_readable(data, _SALE_PARTS, required=True)

    @property
    def total(self) -> Decimal | None:
        if self.salesLines is None:
            return None
        return cents(sum((line.totalNetAmountWithTax for line in self.salesLines), Decimal(0)))

    @property
    def paid(self) -> Decimal | None:
        if self.payments is None:
            return None
        return cents(sum((p.netAmountWithTax for p in self.payments), Decimal(0)))

    @property
    def payment_references(self) -> frozenset[str]:
        return frozenset(p.externalReference for p in self.payments or () if p.externalReference)


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

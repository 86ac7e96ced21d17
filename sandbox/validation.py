"""Request validation as K-Series does it: field by field, Spring-style errors, lenient types.

Like Jackson, scalars are coerced where Spring would (`"123"` is a fine Long); like Bean
Validation, every rule is checked and every failure reported, not just the first.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.config import SandboxConfig
from sandbox.pos import (
    DEFAULT_METHOD,
    ItemRequest,
    OrderKind,
    OrderPaymentRequest,
    OrderRequest,
    PaymentRequest,
)
from sandbox.spring import JAVA_TYPES, FieldError

__all__ = ["ORDER_OBJECT", "PAYMENT_OBJECT", "Checker", "parse_order", "parse_payment"]

ORDER_OBJECT: dict[OrderKind, str] = {"local": "localOrder", "toGo": "toGoOrder"}
PAYMENT_OBJECT = "standalonePayment"


class Checker:
    """Collects FieldErrors while reading typed values out of a JSON object."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def fail(
        self,
        field: str,
        code: str,
        message: str,
        java_type: str = "String",
        *limits: int,
        binding: bool = False,
    ) -> None:
        self.errors.append(FieldError(field, code, message, java_type, limits, binding))

    def _mismatch(self, field: str, value: Any, java_type: str) -> None:
        given = "java.lang.String" if isinstance(value, str) else "java.lang.Object"
        self.fail(
            field,
            "typeMismatch",
            f"Failed to convert property value of type '{given}' to required type "
            f"'{JAVA_TYPES.get(java_type, java_type)}' for property '{field}'",
            java_type,
            binding=True,
        )

    def _missing(self, field: str, java_type: str) -> None:
        self.fail(field, "NotNull", "must not be null", java_type)

    def text(
        self,
        obj: Mapping[str, Any],
        key: str,
        field: str,
        *,
        required: bool = False,
        min_len: int = 0,
        max_len: int | None = None,
        not_blank: bool = False,
    ) -> str | None:
        value = obj.get(key)
        if value is None:
            if required:
                self._missing(field, "String")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            self._mismatch(field, value, "String")
            return None
        text = str(value)
        if not_blank and not text.strip():
            self.fail(field, "NotBlank", "must not be blank")
            return None
        if len(text) < min_len or (max_len is not None and len(text) > max_len):
            upper = max_len if max_len is not None else 2_147_483_647
            self.fail(
                field,
                "Size",
                f"size must be between {min_len} and {upper}",
                "String",
                upper,
                min_len,
            )
            return None
        return text

    def integer(
        self,
        obj: Mapping[str, Any],
        key: str,
        field: str,
        *,
        required: bool = False,
        minimum: int | None = None,
        java_type: str = "Long",
    ) -> int | None:
        value = obj.get(key)
        if value is None:
            if required:
                self._missing(field, java_type)
            return None
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, Decimal) and value == value.to_integral_value():
            number = int(value)
        elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
            number = int(value.strip())
        if number is None:
            self._mismatch(field, value, java_type)
            return None
        if minimum is not None and number < minimum:
            self.fail(
                field, "Min", f"must be greater than or equal to {minimum}", java_type, minimum
            )
            return None
        return number

    def amount(
        self, obj: Mapping[str, Any], key: str, field: str, *, required: bool = False
    ) -> Decimal | None:
        value = obj.get(key)
        if value is None:
            if required:
                self._missing(field, "BigDecimal")
            return None
        amount: Decimal | None = None
        if isinstance(value, int | Decimal) and not isinstance(value, bool):
            amount = Decimal(value)
        elif isinstance(value, str):
            try:
                amount = Decimal(value.strip())
            except InvalidOperation:
                amount = None
        if amount is None or not amount.is_finite():
            self._mismatch(field, value, "BigDecimal")
            return None
        if amount < 0:
            self.fail(field, "DecimalMin", "must be greater than or equal to 0", "BigDecimal")
            return None
        return amount

    def boolean(self, obj: Mapping[str, Any], key: str, field: str) -> bool:
        value = obj.get(key)
        if value is None:
            return False
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        self._mismatch(field, value, "Boolean")
        return False

    def mapping(
        self, obj: Mapping[str, Any], key: str, field: str, *, required: bool = False
    ) -> Mapping[str, Any] | None:
        value = obj.get(key)
        if value is None:
            if required:
                self._missing(field, "Object")
            return None
        if not isinstance(value, Mapping):
            self._mismatch(field, value, "Object")
            return None
        return value

    def array(self, obj: Mapping[str, Any], key: str, field: str) -> list[Any]:
        value = obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self._mismatch(field, value, "List")
            return []
        return value

    def moment(
        self, obj: Mapping[str, Any], key: str, field: str, *, future_of: datetime | None = None
    ) -> datetime | None:
        value = obj.get(key)
        if value is None:
            return None
        parsed: datetime | None = None
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.strip())
            except ValueError:
                parsed = None
        if parsed is None:
            self._mismatch(field, value, "ZonedDateTime")
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        if future_of is not None and parsed <= future_of:
            self.fail(field, "Future", "must be a future date", "ZonedDateTime")
            return None
        return parsed


def _items(check: Checker, raw: list[Any], prefix: str, *, nested: bool) -> tuple[ItemRequest, ...]:
    items: list[ItemRequest] = []
    for index, entry in enumerate(raw):
        field = f"{prefix}[{index}]"
        if not isinstance(entry, Mapping):
            check.fail(field, "typeMismatch", "must be an object", "Object", binding=True)
            continue
        sku = check.text(entry, "sku", f"{field}.sku", required=True, max_len=25)
        quantity = check.integer(
            entry, "quantity", f"{field}.quantity", required=True, minimum=1, java_type="Integer"
        )
        name = check.text(entry, "customItemName", f"{field}.customItemName")
        price = check.amount(entry, "customItemPrice", f"{field}.customItemPrice")
        subs: tuple[ItemRequest, ...] = ()
        if not nested:
            raw_subs = check.array(entry, "subItems", f"{field}.subItems")
            subs = _items(check, raw_subs, f"{field}.subItems", nested=True)
        if sku is not None and quantity is not None:
            items.append(ItemRequest(sku, quantity, name, price, subs))
    return tuple(items)


def _order_payment(check: Checker, body: Mapping[str, Any]) -> OrderPaymentRequest | None:
    raw = check.mapping(body, "payment", "payment")
    if raw is None:
        return None
    method = check.text(raw, "paymentMethod", "payment.paymentMethod") or DEFAULT_METHOD
    amount = check.amount(raw, "paymentAmount", "payment.paymentAmount", required=True)
    tip = check.amount(raw, "tipAmount", "payment.tipAmount") or Decimal(0)
    return None if amount is None else OrderPaymentRequest(method, amount, tip)


def parse_order(
    body: Mapping[str, Any], kind: OrderKind, config: SandboxConfig, now: datetime
) -> tuple[OrderRequest | None, list[FieldError]]:
    """An order the POS can take, or the field errors K-Series would answer 400 with."""
    check = Checker()
    bl = check.integer(body, "businessLocationId", "businessLocationId", required=True)
    reference = check.text(
        body, "thirdPartyReference", "thirdPartyReference", required=True, min_len=1, max_len=48
    )
    endpoint = check.text(body, "endpointId", "endpointId", required=True, not_blank=True)
    customer = check.mapping(body, "customerInfo", "customerInfo", required=True)
    if customer is not None:
        check.text(
            customer, "firstName", "customerInfo.firstName", required=True, min_len=1, max_len=128
        )
    ttl = check.integer(
        body,
        "maxTimeToAttemptOrderDeliverToPos",
        "maxTimeToAttemptOrderDeliverToPos",
        minimum=config.min_ttl_ms,
        java_type="Integer",
    )
    scheduled = check.moment(
        body, "scheduledTimeForOrderAsIso8601", "scheduledTimeForOrderAsIso8601", future_of=now
    )
    payment = _order_payment(check, body)
    items = _items(check, check.array(body, "items", "items"), "items", nested=False)
    table = client_count = code = None
    if kind == "local":
        table = check.text(body, "tableNumber", "tableNumber")
        client_count = check.integer(
            body, "clientCount", "clientCount", minimum=0, java_type="Integer"
        )
    else:
        code = check.text(body, "collectionCode", "collectionCode", max_len=8)
        check.moment(body, "orderCollectionTimeAsIso8601", "orderCollectionTimeAsIso8601")
    staff = check.integer(body, "staffId", "staffId")
    profile = check.text(body, "accountProfileCode", "accountProfileCode")
    if check.errors or bl is None or reference is None or endpoint is None:
        return None, check.errors
    order = OrderRequest(
        kind=kind,
        business_location_id=bl,
        reference=reference,
        endpoint_id=endpoint,
        items=items,
        payment=payment,
        ttl_ms=ttl if ttl is not None else config.default_ttl_ms,
        scheduled_at=scheduled,
        table_number=table,
        client_count=client_count,
        collection_code=code,
        staff_id=staff,
        account_profile_code=profile,
    )
    return order, []


def parse_payment(
    body: Mapping[str, Any], config: SandboxConfig
) -> tuple[PaymentRequest | None, list[FieldError]]:
    """A payment the POS can apply, or the field errors K-Series would answer 400 with."""
    check = Checker()
    bl = check.integer(body, "businessLocationId", "businessLocationId", required=True)
    reference = check.text(
        body,
        "thirdPartyPaymentReference",
        "thirdPartyPaymentReference",
        required=True,
        min_len=1,
        max_len=50,
    )
    endpoint = check.text(body, "endpointId", "endpointId", required=True, not_blank=True)
    amount = check.amount(body, "paymentAmount", "paymentAmount", required=True)
    tip = check.amount(body, "tipAmount", "tipAmount") or Decimal(0)
    ttl = check.integer(
        body, "taskTtlInMs", "taskTtlInMs", minimum=config.min_ttl_ms, java_type="Integer"
    )
    identifier = check.text(body, "iKaccountIdentifier", "iKaccountIdentifier")
    account_id = check.integer(body, "iKaccountId", "iKaccountId")
    method = check.text(body, "paymentMethod", "paymentMethod") or DEFAULT_METHOD
    check.integer(body, "staffId", "staffId")
    check.integer(body, "deviceId", "deviceId")
    if check.errors or bl is None or reference is None or endpoint is None or amount is None:
        return None, check.errors
    payment = PaymentRequest(
        business_location_id=bl,
        reference=reference,
        endpoint_id=endpoint,
        account_identifier=identifier or None,
        account_id=account_id or None,
        method=method,
        amount=amount,
        tip=tip,
        ttl_ms=ttl if ttl is not None else config.default_ttl_ms,
    )
    return payment, []

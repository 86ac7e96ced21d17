"""JSON shapes K-Series shows the outside world: account snapshots, sales, notifications.

Shapes follow the published examples (apeAccountSnapshot, financial-apiSaleDto, the ORDER and
PAYMENT notification examples). Notifications and sales write money as strings ("4.00"), as
real ones do; the account lookup writes JSON numbers (`4.00`), as its schema says, so callers
meet both forms.
"""

from __future__ import annotations

import base64
import uuid
from decimal import Decimal
from typing import Any, Literal

from sandbox.formats import kseries_time, money, zulu_time
from sandbox.pos import Account, PaymentLine, SaleLine

__all__ = [
    "account_snapshot",
    "order_failure",
    "order_notification",
    "payment_failure",
    "payment_success",
    "sale_dto",
]

STAFF_ID = 31930
STAFF_NAME = "Online Order"
TASK_TIMEOUT_KEY = "errors.payment.pos.task_timeout"
MoneyStyle = Literal["string", "number"]


def _amount(value: Decimal, style: MoneyStyle) -> str | Decimal:
    return money(value) if style == "string" else Decimal(money(value))


def _table_number(account: Account) -> int | None:
    raw = account.order.table_number
    return int(raw) if raw and raw.isdigit() else None


def _check_name(account: Account) -> str:
    code = account.order.collection_code or account.order.reference[:4].upper()
    return f"Order {code}"


def _line_item(line: SaleLine, style: MoneyStyle) -> dict[str, Any]:
    amount = _amount(line.amount, style)
    return {
        "id": line.id,
        "uuid": line.uuid,
        "itemName": line.name,
        "itemSku": line.sku,
        "unitAmount": _amount(line.unit, style),
        "quantity": line.quantity,
        "modifiers": [],
        "amountWithTax": amount,
        "amountLessTax": amount,
        "discountedAmount": _amount(Decimal(0), style),
        "grossUnitAmount": _amount(line.unit, style),
        "timeOfTransactionUtc": kseries_time(line.at),
        "active": True,
        "subLineItems": [_line_item(sub, style) for sub in line.sub_lines],
        "taxIncluded": True,
    }


def _payment_entry(payment: PaymentLine, style: MoneyStyle) -> dict[str, Any]:
    return {
        "paymentMethodDescription": "API Payment",
        "externalReference": payment.reference,
        "paymentMethodCode": payment.method,
        "amountPaid": _amount(payment.amount, style),
        "paymentDate": kseries_time(payment.at),
        "active": True,
    }


def account_snapshot(account: Account, style: MoneyStyle = "string") -> dict[str, Any]:
    """apeAccountSnapshot: a notification's `account` and the account lookup's answer."""
    snapshot: dict[str, Any] = {
        "clientCount": account.order.client_count or 1,
        "uuid": account.uuid,
        "openDate": kseries_time(account.opened),
        "paidAmount": _amount(account.paid, style),
        "serviceCharge": _amount(account.service_charge, style),
        "name": _check_name(account),
        "currentAmount": _amount(account.total, style),
        "staffName": STAFF_NAME,
        "staffId": STAFF_ID,
        "salesEntries": [_line_item(line, style) for line in account.lines],
        "paymentEntries": [_payment_entry(p, style) for p in account.payments],
        "ikaccountId": account.identifier,
        "tableNumber": _table_number(account),
        "posId": account.pos_id,
    }
    if account.closed is not None:
        snapshot["closeDate"] = kseries_time(account.closed)
    return snapshot


def _base(account: Account) -> dict[str, Any]:
    return {
        "thirdPartyReference": account.order.reference,
        "businessLocationId": account.business_location_id,
        "ikentooAccountIdentifier": account.identifier,
        "ikentooAccountId": str(account.numeric_id),
    }


def order_notification(account: Account, status: str) -> dict[str, Any]:
    """ORDER SUCCESS / CLOSED / CHECK_WAS_UPDATED; the notifier drops `account` if unwanted."""
    return {
        "type": "ORDER",
        "status": status,
        **_base(account),
        "account": account_snapshot(account),
    }


def order_failure(business_location_id: int, reference: str, reason: str) -> dict[str, Any]:
    return {
        "type": "ORDER",
        "status": "FAILURE",
        "reason": reason,
        "thirdPartyReference": reference,
        "businessLocationId": business_location_id,
    }


def payment_success(account: Account, payment_reference: str) -> dict[str, Any]:
    return {
        "type": "PAYMENT",
        "status": "SUCCESS",
        **_base(account),
        "thirdPartyReference": payment_reference,
    }


def payment_failure(
    business_location_id: int,
    payment_reference: str,
    reason: str,
    *,
    error_type: str | None = None,
    timeout: bool = False,
    account: Account | None = None,
) -> dict[str, Any]:
    """PAYMENT FAILURE with `errors.account.type` or `errors.timeout.errorKey`."""
    payload: dict[str, Any] = {
        "type": "PAYMENT",
        "status": "FAILURE",
        "reason": reason,
        "thirdPartyReference": payment_reference,
        "businessLocationId": business_location_id,
    }
    if account is not None:
        payload["ikentooAccountIdentifier"] = account.identifier
    if timeout:
        payload["errors"] = {"timeout": {"errorKey": TASK_TIMEOUT_KEY, "message": reason}}
    elif error_type:
        payload["errors"] = {"account": {"type": error_type}}
    return payload


def _b64_uuid(value: str) -> str:
    return base64.urlsafe_b64encode(uuid.UUID(value).bytes).decode()


def sale_dto(account: Account, currency: str) -> dict[str, Any]:
    """financial-apiSaleDto for `saleByExternalReference`; money as strings."""
    sales_lines: list[dict[str, Any]] = []
    for top in account.lines:
        for line in top.flat():
            entry: dict[str, Any] = {
                "id": f"S{account.pos_id}.{line.id}",
                "totalNetAmountWithTax": money(line.amount),
                "totalNetAmountWithoutTax": money(line.amount),
                "menuListPrice": money(line.unit),
                "serviceCharge": "0.00",
                "discountAmount": "0.00",
                "taxAmount": "0.00",
                "taxRatePercentage": "0.00",
                "sku": line.sku,
                "name": line.name,
                "quantity": str(line.quantity),
                "currency": currency,
                "timeofSale": zulu_time(line.at),
                "staffId": STAFF_ID,
                "staffName": STAFF_NAME,
            }
            if line is not top:
                entry["parentLineId"] = f"S{account.pos_id}.{top.id}"
            sales_lines.append(entry)
    payments = [
        {
            "code": p.method,
            "description": "API Payment",
            "netAmountWithTax": money(p.amount),
            "currency": currency,
            "tip": money(p.tip),
            "type": "NORMAL",
            "externalReference": p.reference,
            "fiscId": f"T{account.pos_id}.{p.id}",
            "uuid": _b64_uuid(p.uuid),
            "fiscDate": zulu_time(p.at),
            "surcharge": "0.00",
            "staffId": STAFF_ID,
            "staffName": STAFF_NAME,
        }
        for p in account.payments
    ]
    return {
        "accountReference": _b64_uuid(account.uuid),
        "accountFiscId": account.identifier,
        "receiptId": account.receipt_id,
        "source": {"initialAccountId": account.identifier},
        "salesLines": sales_lines,
        "payments": payments,
        "timeofOpening": zulu_time(account.opened),
        "timeofCloseAndPaid": zulu_time(account.closed) if account.closed else None,
        "cancelled": False,
        "tableNumber": account.order.table_number,
        "type": "SALE",
        "externalReferences": [account.external_reference],
        "nbCovers": account.order.client_count or 1,
        "dineIn": account.order.kind == "local",
        "ownerName": STAFF_NAME,
        "ownerId": STAFF_ID,
    }

"""Builders for payloads and orders used across tests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from config.settings import Confirmation
from worker.lifecycle import Policy
from worker.order import HistoryEntry, Order, Status, SubmissionAdapter, fingerprint

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
BL = 45454565682155


def submission_body(
    ref: str = "shop-1", *, settle: str | None = "5.00", paid: str | None = "10.00", **order: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "local",
        "order": {
            "businessLocationId": BL,
            "thirdPartyReference": ref,
            "customerInfo": {"firstName": "Jane", "email": "jane@example.com"},
            "items": [{"sku": "BURGER", "quantity": 1}],
            **order,
        },
    }
    if paid is not None:
        body["order"]["payment"] = {
            "paymentMethod": "OOPAYMENT",
            "paymentAmount": paid,
            "tipAmount": "0.00",
        }
    if settle is not None:
        body["settleRemaining"] = {"paymentMethod": "OOPAYMENT", "maxAmount": settle}
    return body


def new_order(
    ref: str = "shop-1", *, ttl_ms: int = 60_000, now: datetime = T0, **kwargs: Any
) -> Order:
    submission = SubmissionAdapter.validate_python(submission_body(ref, **kwargs))
    return Order(
        business_location_id=BL,
        reference=ref,
        submission=submission,
        fingerprint=fingerprint(submission),
        created_at=now,
        delivery_ttl_ms=ttl_ms,
        submit_deadline=now + timedelta(milliseconds=ttl_ms),
        history=(HistoryEntry(at=now, status=Status.QUEUED, event="submitted"),),
    )


def policy(confirmation: Confirmation = Confirmation.HYBRID, **kwargs: Any) -> Policy:
    counter = itertools.count(1)
    return Policy(
        confirmation=confirmation,
        rand=lambda: 1.0,
        new_payment_reference=lambda: f"pay-{next(counter)}",
        **kwargs,
    )


def money(value: str) -> Decimal:
    return Decimal(value)

"""What the API shows of an order: amounts as strings, no personal data."""

from __future__ import annotations

from typing import Any

from worker.order import Order

__all__ = ["order_view"]


def order_view(order: Order) -> dict[str, Any]:
    """An order as `GET /orders/{bl}/{ref}` shows it: amounts as strings, no personal data."""
    return {
        "businessLocationId": order.business_location_id,
        "thirdPartyReference": order.reference,
        "type": order.submission.type,
        "status": str(order.status),
        "accountIdentifier": order.account_identifier,
        "totalAmount": None if order.total is None else str(order.total),
        "outstandingAmount": None if order.outstanding is None else str(order.outstanding),
        "failureReason": order.failure_reason,
        "confirmDeadline": order.confirm_deadline.isoformat() if order.confirm_deadline else None,
        "payments": [
            {
                "thirdPartyPaymentReference": p.reference,
                "amount": str(p.amount),
                "status": str(p.status),
                "attempt": p.attempt,
            }
            for p in order.payments
        ],
        "replayOf": order.replay_of,
        "replayedAs": order.replayed_as,
        "history": [
            {"at": h.at.isoformat(), "status": str(h.status), "event": h.event, "detail": h.detail}
            for h in order.history
        ],
    }

"""The order state machine (lifecycle.md): given an order, an event and the time, the next order.

Pure: no Redis, no HTTP, no clock of its own, randomness injected through `Policy`. The engine
(`worker.engine`) asks `next_action` what to do, performs it, and feeds the outcome back to
`apply`. Every call of `apply` appends one history entry or more; an order only moves forward
(`Status.rank`), and terminal orders only gain history, with one exception (`moves.revise`):
K-Series' news about an order orderflow gave up on (failed, yet on the POS; or left in
`needs_attention` because it could not look) is acted on.

    policy.py      Action, Policy, backoff, next_action
    moves.py       history, forward-only moves, starting a settlement
    ordering.py    submit answers, sale lookups, ORDER and account notifications
    retries.py     failed and rate-limited calls, deadlines passed while looking
    settlement.py  checks read, payment answers, PAYMENT notifications
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from worker.events import (
    AccessDenied,
    AccountNews,
    CheckMissing,
    CheckRead,
    Event,
    Held,
    LocationReady,
    OrderNews,
    PaymentAccepted,
    PaymentNews,
    PaymentRejected,
    Retry,
    SaleFound,
    SaleNotFound,
    SubmitAccepted,
    SubmitDeadline,
    SubmitRejected,
    Throttled,
)
from worker.lifecycle import ordering, retries, settlement
from worker.lifecycle.moves import event_name, note, reopen_for_settlement
from worker.lifecycle.policy import Action, Policy, backoff, next_action
from worker.order import Order

__all__ = ["Action", "Policy", "apply", "backoff", "next_action", "reopen_for_settlement"]

SEEN_KEEP = 200


def apply(order: Order, event: Event, now: datetime, policy: Policy) -> Order:
    """The order after `event`. Total: any event in any state gives a valid order."""
    seen_key = getattr(event, "key", None)
    if seen_key is not None and seen_key in order.seen:
        return note(order, now, event_name(event), "duplicate notification, already applied")
    if seen_key is not None:
        order = order.model_copy(update={"seen": (*order.seen, seen_key)[-SEEN_KEEP:]})
    snapshot = getattr(event, "snapshot", None)
    if snapshot is not None and snapshot.unreadable:  # news to record, never truth
        detail = f"ignored: unreadable check: {snapshot.unreadable}"
        order = note(order, now, event_name(event), detail)
    handler = _HANDLERS[type(event)]
    return handler(order, event, now, policy)


_HANDLERS: dict[type, Callable[[Order, Any, datetime, Policy], Order]] = {
    SubmitAccepted: ordering.submit_accepted,
    SubmitRejected: ordering.submit_rejected,
    SubmitDeadline: ordering.submit_deadline,
    Retry: retries.retry,
    Throttled: retries.throttled,
    Held: retries.held,
    LocationReady: retries.location_ready,
    AccessDenied: retries.access_denied,
    SaleFound: ordering.sale_found,
    SaleNotFound: ordering.sale_not_found,
    CheckRead: settlement.check_read,
    CheckMissing: settlement.check_missing,
    PaymentAccepted: settlement.payment_accepted,
    PaymentRejected: settlement.payment_rejected,
    PaymentNews: settlement.payment_news,
    OrderNews: ordering.order_news,
    AccountNews: ordering.account_news,
}

"""The order state machine (lifecycle.md): given an order, an event and the time, the next order.

Pure: no Redis, no HTTP, no clock of its own, randomness injected through `Policy`. The engine
(`worker.engine`) asks `next_action` what to do, performs it, and feeds the outcome back to
`apply`. Every call of `apply` appends one history entry or more; an order only moves forward
(`Status.rank`), and terminal orders only gain history.

    policy.py      Action, Policy, backoff, next_action
    moves.py       history, forward-only moves, starting a settlement
    ordering.py    submit answers, sale lookups, ORDER and account notifications
    settlement.py  checks read, payment answers, PAYMENT notifications
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from worker.events import (
    AccountNews,
    CheckMissing,
    CheckRead,
    Event,
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
)
from worker.lifecycle import ordering, settlement
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
    handler = _HANDLERS[type(event)]
    return handler(order, event, now, policy)


_HANDLERS: dict[type, Callable[[Order, Any, datetime, Policy], Order]] = {
    SubmitAccepted: ordering.submit_accepted,
    SubmitRejected: ordering.submit_rejected,
    SubmitDeadline: ordering.submit_deadline,
    Retry: ordering.retry,
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

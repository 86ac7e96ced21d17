"""The building blocks every transition uses: history, forward-only moves, settlement start."""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from config.settings import Confirmation
from worker.events import AccountNews, Event, OrderNews, PaymentNews, Snapshot
from worker.lifecycle.policy import Policy
from worker.money import cents
from worker.order import AccountFacts, HistoryEntry, Order, Payment, Status

# A learned time to the POS delays the first look by at most this (a wrong one costs little).
LEARNED_WAIT_MAX = timedelta(minutes=2)

__all__ = [
    "LEARNED_WAIT_MAX",
    "confirm",
    "decide_settlement",
    "event_name",
    "first_check",
    "first_look",
    "history",
    "merge",
    "move",
    "note",
    "reopen_for_settlement",
    "replace_payment",
    "revise",
    "start_payment",
]

HISTORY_HEAD, HISTORY_TAIL = 20, 180


def history(order: Order, entry: HistoryEntry) -> tuple[HistoryEntry, ...]:
    history = (*order.history, entry)
    if len(history) > HISTORY_HEAD + HISTORY_TAIL:
        history = history[:HISTORY_HEAD] + history[-HISTORY_TAIL:]
    return history


def note(order: Order, now: datetime, event: str, detail: str, **updates: Any) -> Order:
    """Record an event that does not change the status."""
    entry = HistoryEntry(at=now, status=order.status, event=event, detail=detail)
    return order.model_copy(update={**updates, "history": history(order, entry)})


def move(
    order: Order, status: Status, now: datetime, event: str, detail: str, **updates: Any
) -> Order:
    """Move forward to `status`; terminal states clear the timer."""
    if status.rank < order.status.rank or order.status.terminal:
        raise AssertionError(f"illegal transition {order.status} -> {status}")
    entry = HistoryEntry(at=now, status=status, event=event, detail=detail)
    return _enter(order, entry, updates)


def revise(
    order: Order, status: Status, now: datetime, event: str, detail: str, **updates: Any
) -> Order:
    """Leave a terminal state on K-Series' news about an order orderflow gave up on (a failed
    order seen on the POS, one whose outcome it could not learn): the only way out of one
    besides an operator's replay."""
    if not order.status.terminal:
        raise AssertionError(f"not a revision: {order.status} -> {status}")
    entry = HistoryEntry(at=now, status=status, event=event, detail=detail)
    return _enter(order, entry, updates)


def _enter(order: Order, entry: HistoryEntry, updates: dict[str, Any]) -> Order:
    """The order in `entry.status`; a terminal status clears the timer unless told not to."""
    if entry.status.terminal:
        updates = {"wake_at": None, **updates}
    return order.model_copy(
        update={**updates, "status": entry.status, "history": history(order, entry)}
    )


def merge(snapshot: Snapshot) -> dict[str, Any]:
    """Account facts from K-Series' own answers about our order, keeping what we knew when it
    says nothing. A notification's claims (unverified) never name the check orderflow pays or
    the amounts it pays by; every value is validated as the record is, so none can poison it."""
    if not snapshot.verified:
        return {}
    updates: dict[str, Any] = {}
    with suppress(ValidationError):
        updates = _facts(account_identifier=snapshot.account_identifier or None)
    total, paid = snapshot.total, snapshot.paid
    if total is not None and paid is not None and snapshot.unreadable is None:
        with suppress(ValidationError, ArithmeticError):
            outstanding = max(Decimal("0.00"), cents(total - paid))
            updates |= _facts(total=cents(total), paid=cents(paid), outstanding=outstanding)
    return updates


def _facts(**values: Any) -> dict[str, Any]:
    return AccountFacts.model_validate(values).model_dump(exclude_none=True)


def confirm(order: Order, now: datetime, policy: Policy, event: str, snapshot: Snapshot) -> Order:
    order = move(order, Status.CONFIRMED, now, event, "on the POS", **merge(snapshot))
    return decide_settlement(order, now, policy)


def decide_settlement(order: Order, now: datetime, policy: Policy) -> Order:
    """From `confirmed`: complete, settle the remainder, or flag it (lifecycle.md)."""
    settle = order.settle
    if settle is None:
        return move(
            order, Status.COMPLETED, now, "settle", "nothing to settle (no settleRemaining)"
        )
    if order.account_identifier is None or order.outstanding is None:
        return note(
            order, now, "settle", "outstanding amount unknown: reading the check", wake_at=now
        )
    if order.outstanding <= 0:
        return move(order, Status.COMPLETED, now, "settle", "nothing outstanding")
    if order.outstanding > settle.maxAmount:
        reason = f"remainder {order.outstanding} exceeds the allowed {settle.maxAmount}"
        return move(order, Status.NEEDS_ATTENTION, now, "settle", reason, failure_reason=reason)
    return start_payment(order, now, policy, order.outstanding, attempt=len(order.payments) + 1)


def start_payment(
    order: Order, now: datetime, policy: Policy, amount: Decimal, attempt: int
) -> Order:
    reference = policy.new_payment_reference()
    while reference == order.reference or any(p.reference == reference for p in order.payments):
        reference = policy.new_payment_reference()
    payment = Payment(
        reference=reference,
        amount=amount,
        attempt=attempt,
        created_at=now,
        deadline=now + policy.payment_ttl + policy.payment_grace,
    )
    detail = f"paying {amount} under {reference} (attempt {attempt})"
    updates = {"payments": (*order.payments, payment), "wake_at": now, "poll_attempts": 0}
    if order.status is Status.SETTLING:
        return note(order, now, "payment.start", detail, **updates)
    return move(order, Status.SETTLING, now, "payment.start", detail, **updates)


def replace_payment(order: Order, payment: Payment) -> tuple[Payment, ...]:
    return tuple(payment if p.reference == payment.reference else p for p in order.payments)


def first_look(policy: Policy, time_to_pos: timedelta | None) -> timedelta:
    """How long after K-Series' 200 orderflow first looks for the outcome itself (hybrid and
    poll modes): the configured wait, or longer when the location's orders have lately taken
    longer to reach the POS (plus a tenth), never more than `LEARNED_WAIT_MAX`."""
    wait = (
        policy.webhook_wait if policy.confirmation is Confirmation.HYBRID else policy.poll_initial
    )
    if time_to_pos is None:
        return wait
    return max(wait, min(time_to_pos * 1.1, LEARNED_WAIT_MAX))


def first_check(
    order: Order,
    now: datetime,
    policy: Policy,
    deadline: datetime,
    time_to_pos: timedelta | None = None,
) -> datetime:
    start = max(now, order.scheduled_at or now)
    if policy.confirmation is Confirmation.WEBHOOK:
        return deadline
    return min(start + first_look(policy, time_to_pos), deadline)


def reopen_for_settlement(order: Order, now: datetime, note: str) -> Order:
    """Operator replay of a `needs_attention` order that is on the POS: settle it again.

    The one backwards move lifecycle.md allows, and only by an explicit operator action; the
    check is read afresh and up to `max_payment_attempts` new references may be used.
    """
    if order.status is not Status.NEEDS_ATTENTION or order.account_identifier is None:
        raise ValueError("only a needs_attention order that is on the POS can be settled again")
    entry = HistoryEntry(at=now, status=Status.CONFIRMED, event="operator.replay", detail=note)
    return order.model_copy(
        update={
            "status": Status.CONFIRMED,
            "failure_reason": None,
            "outstanding": None,
            "wake_at": now,
            "poll_attempts": 0,
            "attempt_base": len(order.payments),
            "history": history(order, entry),
        }
    )


def event_name(event: Event) -> str:
    if isinstance(event, OrderNews | PaymentNews):
        return f"{type(event).__name__}:{event.status}"
    if isinstance(event, AccountNews):
        return f"AccountNews:{event.kind}"
    return type(event).__name__

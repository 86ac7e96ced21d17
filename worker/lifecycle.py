"""The order state machine (lifecycle.md): given an order, an event and the time, the next order.

Pure: no Redis, no HTTP, no clock of its own, randomness injected through `Policy`. The engine
(`worker.engine`) asks `next_action` what to do, performs it, and feeds the outcome back to
`apply`. Every call of `apply` appends one history entry or more; an order only moves forward
(`Status.rank`), and terminal orders only gain history.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from config.settings import Confirmation, Settings
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
    Snapshot,
    SubmitAccepted,
    SubmitDeadline,
    SubmitRejected,
)
from worker.money import cents
from worker.order import HistoryEntry, Order, Payment, PaymentStatus, Status

__all__ = ["Action", "Policy", "apply", "backoff", "next_action"]

HISTORY_HEAD, HISTORY_TAIL, SEEN_KEEP = 20, 180, 200
MAX_READ_ATTEMPTS = 40
ON_POS_NEWS = frozenset(
    {"SUCCESS", "CLOSED", "CHECK_WAS_UPDATED", "IN_DELIVERY", "READY_FOR_PICKUP"}
)
OFF_POS_NEWS = {"CANCELLED": "cancelled on the POS", "ABANDONED": "abandoned on the POS"}
UNCERTAIN_FAILURES = {"OVERPAID": "overpaid", "ACCOUNT_ALREADY_CLOSED": "closed"}


class Action(StrEnum):
    """What the engine must do next for an order."""

    NONE = "none"  # terminal
    WAIT = "wait"  # nothing is due before `wake_at`
    SUBMIT = "submit"  # POST the order
    SUBMIT_DEADLINE = "submit_deadline"  # last look for the sale, then fail
    POLL_SALE = "poll_sale"  # GET saleByExternalReference
    READ_CHECK = "read_check"  # GET the account (check)
    POST_PAYMENT = "post_payment"  # POST /o/op/1/pay under the current reference


def backoff(attempt: int, base: timedelta, cap: timedelta, rand: Callable[[], float]) -> timedelta:
    """Capped exponential backoff with equal jitter: in [d/2, d], d = min(cap, base * 2**n)."""
    ceiling = min(cap.total_seconds(), base.total_seconds() * (2 ** min(attempt, 30)))
    return timedelta(seconds=ceiling * (0.5 + rand() / 2))


def _new_reference() -> str:
    return f"pay-{uuid.uuid4().hex}"


@dataclass(frozen=True)
class Policy:
    """The timing and limits `apply` needs, built from Settings."""

    confirmation: Confirmation = Confirmation.HYBRID
    webhook_wait: timedelta = timedelta(seconds=3)
    poll_initial: timedelta = timedelta(seconds=1)
    poll_max: timedelta = timedelta(seconds=30)
    confirm_grace: timedelta = timedelta(seconds=30)
    payment_grace: timedelta = timedelta(seconds=30)
    payment_ttl: timedelta = timedelta(minutes=5)
    max_payment_attempts: int = 3
    rand: Callable[[], float] = field(default=random.random)
    new_payment_reference: Callable[[], str] = field(default=_new_reference)

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        ms = timedelta(milliseconds=1)
        return cls(
            confirmation=settings.confirmation,
            webhook_wait=settings.webhook_wait_ms * ms,
            poll_initial=settings.poll_initial_ms * ms,
            poll_max=settings.poll_max_ms * ms,
            confirm_grace=settings.confirm_grace_ms * ms,
            payment_grace=settings.payment_grace_ms * ms,
            payment_ttl=settings.payment_ttl_ms * ms,
            max_payment_attempts=settings.max_payment_attempts,
        )

    def poll_delay(self, attempt: int) -> timedelta:
        return backoff(attempt, self.poll_initial, self.poll_max, self.rand)


# --- what to do next ---------------------------------------------------------------------------


def next_action(order: Order, now: datetime, policy: Policy) -> Action:
    """The one thing the engine should do for this order now."""
    if order.status.terminal:
        return Action.NONE
    if order.wake_at is not None and now < order.wake_at:
        return Action.WAIT
    if order.status is Status.QUEUED:
        return Action.SUBMIT if now < order.submit_deadline else Action.SUBMIT_DEADLINE
    if order.status is Status.SUBMITTED:
        return Action.POLL_SALE
    if order.status is Status.CONFIRMED:
        return Action.POLL_SALE if order.account_identifier is None else Action.READ_CHECK
    payment = order.current_payment
    if payment and payment.status is PaymentStatus.PENDING and now < _send_until(payment, policy):
        return Action.POST_PAYMENT
    return Action.READ_CHECK


def _send_until(payment: Payment, policy: Policy) -> datetime:
    return payment.created_at + policy.payment_ttl


# --- transitions -------------------------------------------------------------------------------


def apply(order: Order, event: Event, now: datetime, policy: Policy) -> Order:
    """The order after `event`. Total: any event in any state gives a valid order."""
    seen_key = getattr(event, "key", None)
    if seen_key is not None and seen_key in order.seen:
        return _note(order, now, _name(event), "duplicate notification, already applied")
    if seen_key is not None:
        order = order.model_copy(update={"seen": (*order.seen, seen_key)[-SEEN_KEEP:]})
    handler = _HANDLERS[type(event)]
    return handler(order, event, now, policy)


def _name(event: Event) -> str:
    if isinstance(event, OrderNews | PaymentNews):
        return f"{type(event).__name__}:{event.status}"
    if isinstance(event, AccountNews):
        return f"AccountNews:{event.kind}"
    return type(event).__name__


def _history(order: Order, entry: HistoryEntry) -> tuple[HistoryEntry, ...]:
    history = (*order.history, entry)
    if len(history) > HISTORY_HEAD + HISTORY_TAIL:
        history = history[:HISTORY_HEAD] + history[-HISTORY_TAIL:]
    return history


def _note(order: Order, now: datetime, event: str, detail: str, **updates: Any) -> Order:
    """Record an event that does not change the status."""
    entry = HistoryEntry(at=now, status=order.status, event=event, detail=detail)
    return order.model_copy(update={**updates, "history": _history(order, entry)})


def _move(
    order: Order, status: Status, now: datetime, event: str, detail: str, **updates: Any
) -> Order:
    """Move forward to `status`; terminal states clear the timer."""
    if status.rank < order.status.rank or order.status.terminal:
        raise AssertionError(f"illegal transition {order.status} -> {status}")
    if status.terminal:
        updates.setdefault("wake_at", None)
    entry = HistoryEntry(at=now, status=status, event=event, detail=detail)
    return order.model_copy(update={**updates, "status": status, "history": _history(order, entry)})


def _merge(order: Order, snapshot: Snapshot) -> dict[str, Any]:
    """Account facts from a snapshot, keeping what we knew when it says nothing."""
    updates: dict[str, Any] = {}
    if snapshot.account_identifier:
        updates["account_identifier"] = snapshot.account_identifier
    if snapshot.total is not None and snapshot.paid is not None:
        updates["total"] = cents(snapshot.total)
        updates["paid"] = cents(snapshot.paid)
        updates["outstanding"] = max(Decimal("0.00"), cents(snapshot.total - snapshot.paid))
    return updates


def _confirm(order: Order, now: datetime, policy: Policy, event: str, snapshot: Snapshot) -> Order:
    order = _move(order, Status.CONFIRMED, now, event, "on the POS", **_merge(order, snapshot))
    return _decide_settlement(order, now, policy)


def _decide_settlement(order: Order, now: datetime, policy: Policy) -> Order:
    """From `confirmed`: complete, settle the remainder, or flag it (lifecycle.md)."""
    settle = order.settle
    if settle is None:
        return _move(
            order, Status.COMPLETED, now, "settle", "nothing to settle (no settleRemaining)"
        )
    if order.account_identifier is None or order.outstanding is None:
        return _note(
            order, now, "settle", "outstanding amount unknown: reading the check", wake_at=now
        )
    if order.outstanding <= 0:
        return _move(order, Status.COMPLETED, now, "settle", "nothing outstanding")
    if order.outstanding > settle.maxAmount:
        reason = f"remainder {order.outstanding} exceeds the allowed {settle.maxAmount}"
        return _move(order, Status.NEEDS_ATTENTION, now, "settle", reason, failure_reason=reason)
    return _start_payment(order, now, policy, order.outstanding, attempt=len(order.payments) + 1)


def _start_payment(
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
        return _note(order, now, "payment.start", detail, **updates)
    return _move(order, Status.SETTLING, now, "payment.start", detail, **updates)


def _replace_payment(order: Order, payment: Payment) -> tuple[Payment, ...]:
    return tuple(payment if p.reference == payment.reference else p for p in order.payments)


def _first_check(order: Order, now: datetime, policy: Policy, deadline: datetime) -> datetime:
    start = max(now, order.scheduled_at or now)
    if policy.confirmation is Confirmation.WEBHOOK:
        return deadline
    wait = (
        policy.webhook_wait if policy.confirmation is Confirmation.HYBRID else policy.poll_initial
    )
    return min(start + wait, deadline)


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
            "history": _history(order, entry),
        }
    )


# --- handlers, one per event type --------------------------------------------------------------


def _submit_accepted(order: Order, event: SubmitAccepted, now: datetime, policy: Policy) -> Order:
    detail = "409: reference already accepted" if event.duplicate else "200: accepted for delivery"
    if order.status is not Status.QUEUED:
        return _note(order, now, "submit.accepted", f"late answer ({detail})")
    start = max(now, order.scheduled_at or now)
    deadline = start + timedelta(milliseconds=order.delivery_ttl_ms) + policy.confirm_grace
    return _move(
        order,
        Status.SUBMITTED,
        now,
        "submit.accepted",
        detail,
        accepted_at=now,
        confirm_deadline=deadline,
        wake_at=_first_check(order, now, policy, deadline),
        last_error=None,
    )


def _submit_rejected(order: Order, event: SubmitRejected, now: datetime, policy: Policy) -> Order:
    if order.status is not Status.QUEUED:
        return _note(order, now, "submit.rejected", f"late answer: {event.reason}")
    reason = f"rejected by K-Series: {event.reason}"
    return _move(order, Status.FAILED, now, "submit.rejected", reason, failure_reason=reason)


def _submit_deadline(order: Order, event: SubmitDeadline, now: datetime, policy: Policy) -> Order:
    if order.status is not Status.QUEUED:
        return _note(order, now, "submit.deadline", "ignored: already submitted")
    last = order.last_error or "no answer before the submit deadline"
    if last.startswith("readiness:"):
        reason = f"not sent: {last.removeprefix('readiness: ')} until the submit deadline"
    else:
        reason = f"K-Series unreachable: {last}"
    return _move(order, Status.FAILED, now, "submit.deadline", reason, failure_reason=reason)


def _retry(order: Order, event: Retry, now: datetime, policy: Policy) -> Order:
    detail = f"{event.call}: {event.error}"
    if order.status.terminal:
        return _note(order, now, "retry", f"ignored: {detail}")
    # Retry-After is a floor; jitter above it so a throttled location is not hit by a herd.
    floor = timedelta(seconds=(event.retry_after_s or 0) * (1 + policy.rand() / 4))
    if order.status is Status.QUEUED:
        attempts = order.submit_attempts + 1
        wait = max(backoff(attempts - 1, policy.poll_initial, policy.poll_max, policy.rand), floor)
        wake = min(now + wait, order.submit_deadline)
        return _note(
            order, now, "retry", detail, submit_attempts=attempts, last_error=detail, wake_at=wake
        )
    attempts = order.poll_attempts + 1
    wake = now + max(policy.poll_delay(attempts - 1), floor)
    if order.status is Status.SUBMITTED and order.confirm_deadline is not None:
        if now >= order.confirm_deadline:
            reason = f"could not be confirmed before its delivery deadline: {detail}"
            return _move(order, Status.FAILED, now, "retry", reason, failure_reason=reason)
        wake = min(wake, order.confirm_deadline)
    if order.status is Status.CONFIRMED and attempts > MAX_READ_ATTEMPTS:
        reason = f"on the POS, but its check could not be read: {detail}"
        return _move(order, Status.NEEDS_ATTENTION, now, "retry", reason, failure_reason=reason)
    payment = order.current_payment
    if order.status is Status.SETTLING and payment and now >= payment.deadline + policy.payment_ttl:
        reason = f"payment {payment.reference} could not be verified: {detail}"
        return _move(order, Status.NEEDS_ATTENTION, now, "retry", reason, failure_reason=reason)
    updates: dict[str, Any] = {"poll_attempts": attempts, "last_error": detail, "wake_at": wake}
    if order.status is Status.SETTLING and payment and event.call == "pay":
        # The POST may have reached K-Series: the payment is uncertain until this TTL ends.
        sent = payment.model_copy(
            update={
                "last_sent_at": now,
                "deadline": now + policy.payment_ttl + policy.payment_grace,
            }
        )
        updates["payments"] = _replace_payment(order, sent)
        updates["wake_at"] = min(wake, max(now, _send_until(payment, policy)))
    return _note(order, now, "retry", detail, **updates)


def _sale_found(order: Order, event: SaleFound, now: datetime, policy: Policy) -> Order:
    if order.status in (Status.QUEUED, Status.SUBMITTED):
        return _confirm(order, now, policy, "sale.found", event.snapshot)
    if order.status is Status.CONFIRMED:
        order = _note(order, now, "sale.found", "account data", **_merge(order, event.snapshot))
        return _decide_settlement(order, now, policy)
    return _note(order, now, "sale.found", "late news", **_merge(order, event.snapshot))


def _sale_not_found(order: Order, event: SaleNotFound, now: datetime, policy: Policy) -> Order:
    if order.status is Status.QUEUED:
        return _submit_deadline(order, SubmitDeadline(), now, policy)
    if order.status is Status.SUBMITTED and order.confirm_deadline is not None:
        if now >= order.confirm_deadline:
            reason = "not on the POS before its delivery deadline"
            return _move(order, Status.FAILED, now, "sale.not_found", reason, failure_reason=reason)
        attempts = order.poll_attempts + 1
        if policy.confirmation is Confirmation.WEBHOOK:
            wake = order.confirm_deadline
        else:
            wake = min(now + policy.poll_delay(attempts - 1), order.confirm_deadline)
        return _note(
            order, now, "sale.not_found", "not on the POS yet", poll_attempts=attempts, wake_at=wake
        )
    if order.status is Status.CONFIRMED:
        return _retry(order, Retry("sale", "sale not found yet for a confirmed order"), now, policy)
    return _note(order, now, "sale.not_found", "ignored")


def _check_read(order: Order, event: CheckRead, now: datetime, policy: Policy) -> Order:
    snap = event.snapshot
    if order.status in (Status.QUEUED, Status.SUBMITTED):
        return _confirm(order, now, policy, "check.read", snap)
    if order.status is Status.CONFIRMED:
        order = _note(order, now, "check.read", "account data", **_merge(order, snap))
        return _decide_settlement(order, now, policy)
    if order.status is not Status.SETTLING:
        return _note(order, now, "check.read", "late news", **_merge(order, snap))
    return _settle_from_check(order, snap, now, policy)


def _settle_from_check(order: Order, snap: Snapshot, now: datetime, policy: Policy) -> Order:
    """`settling` + the check as K-Series has it: applied, keep waiting, retry, or flag."""
    updates = _merge(order, snap)
    applied = [p for p in order.payments if p.reference in snap.payment_references]
    if applied:
        payments = order.payments
        for p in applied:
            payments = tuple(
                q.model_copy(update={"status": PaymentStatus.APPLIED})
                if q.reference == p.reference
                else q
                for q in payments
            )
        detail = f"payment {applied[-1].reference} is on the check"
        return _move(
            order, Status.COMPLETED, now, "check.read", detail, **updates, payments=payments
        )
    payment = order.current_payment
    assert payment is not None
    outstanding = snap.outstanding
    if payment.status is PaymentStatus.UNCERTAIN and payment.failure_kind in ("overpaid", "closed"):
        if outstanding is not None and outstanding <= 0:
            return _move(
                order, Status.COMPLETED, now, "check.read", "nothing outstanding", **updates
            )
        reason = f"payment failed ({payment.failure_kind}) and {outstanding} is still outstanding"
        return _move(
            order,
            Status.NEEDS_ATTENTION,
            now,
            "check.read",
            reason,
            **updates,
            failure_reason=reason,
        )
    timed_out = payment.status is PaymentStatus.UNCERTAIN and payment.failure_kind == "timeout"
    if not timed_out and now < payment.deadline:
        attempts = order.poll_attempts + 1
        wake = min(now + policy.poll_delay(attempts - 1), payment.deadline)
        if payment.status is PaymentStatus.PENDING:
            wake = min(wake, max(now, _send_until(payment, policy)))
        if policy.confirmation is Confirmation.WEBHOOK and payment.status is PaymentStatus.SENT:
            wake = payment.deadline
        return _note(
            order,
            now,
            "check.read",
            "payment not on the check yet",
            **updates,
            poll_attempts=attempts,
            wake_at=wake,
        )
    kind = payment.failure_kind or "expired"
    failed = payment.model_copy(update={"status": PaymentStatus.FAILED, "failure_kind": kind})
    order = _note(
        order,
        now,
        "check.read",
        f"payment {payment.reference} not applied ({kind})",
        **updates,
        payments=_replace_payment(order, failed),
    )
    settle = order.settle
    assert settle is not None
    if outstanding is not None and outstanding <= 0:
        return _move(order, Status.COMPLETED, now, "check.read", "nothing outstanding")
    if payment.attempt - order.attempt_base >= policy.max_payment_attempts or outstanding is None:
        reason = f"payment not applied after {payment.attempt - order.attempt_base} attempts"
        return _move(
            order, Status.NEEDS_ATTENTION, now, "check.read", reason, failure_reason=reason
        )
    if outstanding > settle.maxAmount:
        reason = f"remainder {cents(outstanding)} exceeds the allowed {settle.maxAmount}"
        return _move(
            order, Status.NEEDS_ATTENTION, now, "check.read", reason, failure_reason=reason
        )
    return _start_payment(order, now, policy, cents(outstanding), attempt=payment.attempt + 1)


def _check_missing(order: Order, event: CheckMissing, now: datetime, policy: Policy) -> Order:
    if order.status in (Status.CONFIRMED, Status.SETTLING):
        reason = f"check {order.account_identifier} not found on K-Series"
        return _move(
            order, Status.NEEDS_ATTENTION, now, "check.missing", reason, failure_reason=reason
        )
    return _note(order, now, "check.missing", "ignored")


def _payment_accepted(order: Order, event: PaymentAccepted, now: datetime, policy: Policy) -> Order:
    payment = order.current_payment
    detail = "400: reference already used (accepted before)" if event.duplicate else "200: accepted"
    if (
        order.status is not Status.SETTLING
        or payment is None
        or payment.reference != event.reference
        or payment.status is not PaymentStatus.PENDING
    ):
        return _note(
            order, now, "payment.accepted", f"late answer for {event.reference} ({detail})"
        )
    deadline = now + policy.payment_ttl + policy.payment_grace
    sent = payment.model_copy(
        update={"status": PaymentStatus.SENT, "last_sent_at": now, "deadline": deadline}
    )
    if policy.confirmation is Confirmation.WEBHOOK:
        wake = deadline
    elif policy.confirmation is Confirmation.HYBRID:
        wake = now + policy.webhook_wait
    else:
        wake = now + policy.poll_initial
    return _note(
        order,
        now,
        "payment.accepted",
        f"{event.reference}: {detail}",
        payments=_replace_payment(order, sent),
        wake_at=wake,
        poll_attempts=0,
    )


def _payment_rejected(order: Order, event: PaymentRejected, now: datetime, policy: Policy) -> Order:
    payment = order.current_payment
    if (
        order.status is not Status.SETTLING
        or payment is None
        or payment.reference != event.reference
    ):
        return _note(
            order, now, "payment.rejected", f"late answer for {event.reference}: {event.reason}"
        )
    failed = payment.model_copy(
        update={"status": PaymentStatus.FAILED, "failure_kind": "rejected", "reason": event.reason}
    )
    reason = f"payment rejected by K-Series: {event.reason}"
    return _move(
        order,
        Status.NEEDS_ATTENTION,
        now,
        "payment.rejected",
        reason,
        payments=_replace_payment(order, failed),
        failure_reason=reason,
    )


def _payment_news(order: Order, event: PaymentNews, now: datetime, policy: Policy) -> Order:
    name = _name(event)
    payment = next((p for p in order.payments if p.reference == event.reference), None)
    if payment is None:
        return _note(order, now, name, f"unknown payment reference {event.reference}")
    if event.status == "SUCCESS":
        applied = payment.model_copy(update={"status": PaymentStatus.APPLIED})
        payments = _replace_payment(order, applied)
        if order.status is Status.SETTLING:
            detail = f"payment {payment.reference} applied"
            return _move(order, Status.COMPLETED, now, name, detail, payments=payments)
        return _note(
            order, now, name, f"payment {payment.reference} applied (late news)", payments=payments
        )
    if event.status != "FAILURE":
        return _note(order, now, name, "unhandled payment status")
    current = order.current_payment
    reason = event.reason or "no reason given"
    if (
        order.status is not Status.SETTLING
        or current is None
        or current.reference != payment.reference
    ):
        return _note(order, now, name, f"late failure for {payment.reference}: {reason}")
    if payment.status is PaymentStatus.APPLIED:
        return _note(
            order, now, name, f"contradiction: {payment.reference} was applied; keeping that"
        )
    kind = "timeout" if event.timed_out else UNCERTAIN_FAILURES.get(event.error_type or "")
    if kind is None and "greater than the amount due" in reason:
        kind = "overpaid"
    if kind is not None:
        uncertain = payment.model_copy(
            update={"status": PaymentStatus.UNCERTAIN, "failure_kind": kind, "reason": reason}
        )
        return _note(
            order,
            now,
            name,
            f"{reason}: reading the check",
            payments=_replace_payment(order, uncertain),
            wake_at=now,
        )
    failed = payment.model_copy(
        update={
            "status": PaymentStatus.FAILED,
            "failure_kind": event.error_type or "failure",
            "reason": reason,
        }
    )
    text = f"payment failed: {reason}" + (f" ({event.error_type})" if event.error_type else "")
    return _move(
        order,
        Status.NEEDS_ATTENTION,
        now,
        name,
        text,
        payments=_replace_payment(order, failed),
        failure_reason=text,
    )


def _order_news(order: Order, event: OrderNews, now: datetime, policy: Policy) -> Order:
    name = _name(event)
    early = order.status in (Status.QUEUED, Status.SUBMITTED)
    if event.status == "FAILURE":
        reason = event.reason or "FAILURE without a reason"
        if early:
            return _move(order, Status.FAILED, now, name, reason, failure_reason=reason)
        if order.status is Status.FAILED:
            return _note(order, now, name, f"already failed: {reason}")
        return _note(
            order, now, name, f"contradiction: FAILURE ({reason}) after SUCCESS; keeping SUCCESS"
        )
    if event.status in OFF_POS_NEWS:
        return _off_pos(order, now, name, OFF_POS_NEWS[event.status])
    if event.status not in ON_POS_NEWS:
        return _note(order, now, name, "status recorded, no effect")
    return _on_pos(order, now, policy, name, event.snapshot)


def _account_news(order: Order, event: AccountNews, now: datetime, policy: Policy) -> Order:
    if event.kind == "CANCEL":
        return _off_pos(order, now, _name(event), "cancelled on the POS")
    return _on_pos(order, now, policy, _name(event), event.snapshot)


def _off_pos(order: Order, now: datetime, name: str, reason: str) -> Order:
    if order.status.terminal:
        return _note(order, now, name, f"{reason} (after {order.status})")
    return _move(order, Status.NEEDS_ATTENTION, now, name, reason, failure_reason=reason)


def _on_pos(order: Order, now: datetime, policy: Policy, name: str, snap: Snapshot) -> Order:
    """News that the order is on the POS, possibly out of order, possibly with its check."""
    if order.status in (Status.QUEUED, Status.SUBMITTED):
        return _confirm(order, now, policy, name, snap)
    if order.status is Status.FAILED:
        return _note(order, now, name, "contradiction: on the POS after failing; keeping failed")
    if order.status is Status.CONFIRMED and (snap.total is not None or snap.account_identifier):
        return _decide_settlement(
            _note(order, now, name, "account data", **_merge(order, snap)), now, policy
        )
    if order.status is Status.SETTLING and any(
        p.reference in snap.payment_references for p in order.payments
    ):
        return _settle_from_check(order, snap, now, policy)
    return _note(order, now, name, "recorded", **_merge(order, snap))


_HANDLERS: dict[type, Callable[[Order, Any, datetime, Policy], Order]] = {
    SubmitAccepted: _submit_accepted,
    SubmitRejected: _submit_rejected,
    SubmitDeadline: _submit_deadline,
    Retry: _retry,
    SaleFound: _sale_found,
    SaleNotFound: _sale_not_found,
    CheckRead: _check_read,
    CheckMissing: _check_missing,
    PaymentAccepted: _payment_accepted,
    PaymentRejected: _payment_rejected,
    PaymentNews: _payment_news,
    OrderNews: _order_news,
    AccountNews: _account_news,
}

"""Transitions of the follow-up payment: checks read, payment answers and notifications."""

from __future__ import annotations

from datetime import datetime

from config.settings import Confirmation
from worker.events import (
    CheckMissing,
    CheckRead,
    PaymentAccepted,
    PaymentNews,
    PaymentRejected,
    Snapshot,
)
from worker.lifecycle.moves import (
    confirm,
    decide_settlement,
    event_name,
    first_look,
    merge,
    move,
    note,
    replace_payment,
    start_payment,
)
from worker.lifecycle.policy import Policy, send_until
from worker.money import cents
from worker.order import Order, PaymentStatus, Status

UNCERTAIN_FAILURES = {"OVERPAID": "overpaid", "ACCOUNT_ALREADY_CLOSED": "closed"}


def check_read(order: Order, event: CheckRead, now: datetime, policy: Policy) -> Order:
    snap = event.snapshot
    if order.status in (Status.QUEUED, Status.SUBMITTED):
        return confirm(order, now, policy, "check.read", snap)
    if order.status is Status.CONFIRMED:
        order = note(order, now, "check.read", "account data", **merge(snap))
        return decide_settlement(order, now, policy)
    if order.status is not Status.SETTLING:
        return note(order, now, "check.read", "late news", **merge(snap))
    return settle_from_check(order, snap, now, policy)


def settle_from_check(order: Order, snap: Snapshot, now: datetime, policy: Policy) -> Order:
    """`settling` + the check as K-Series has it: applied, keep waiting, retry, or flag."""
    updates = merge(snap)
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
        return move(
            order, Status.COMPLETED, now, "check.read", detail, **updates, payments=payments
        )
    payment = order.current_payment
    assert payment is not None
    outstanding = snap.outstanding
    if payment.status is PaymentStatus.UNCERTAIN and payment.failure_kind in ("overpaid", "closed"):
        if outstanding is not None and outstanding <= 0:
            return move(
                order, Status.COMPLETED, now, "check.read", "nothing outstanding", **updates
            )
        reason = f"payment failed ({payment.failure_kind}) and {outstanding} is still outstanding"
        return move(
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
        window_ends = send_until(payment, policy)
        if payment.status is PaymentStatus.PENDING and window_ends > now:
            wake = min(wake, window_ends)  # the POST is due again before the window ends
        if policy.confirmation is Confirmation.WEBHOOK and payment.status is PaymentStatus.SENT:
            wake = payment.deadline
        return note(
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
    order = note(
        order,
        now,
        "check.read",
        f"payment {payment.reference} not applied ({kind})",
        **updates,
        payments=replace_payment(order, failed),
    )
    settle = order.settle
    assert settle is not None
    if outstanding is not None and outstanding <= 0:
        return move(order, Status.COMPLETED, now, "check.read", "nothing outstanding")
    if payment.attempt - order.attempt_base >= policy.max_payment_attempts or outstanding is None:
        reason = f"payment not applied after {payment.attempt - order.attempt_base} attempts"
        return move(order, Status.NEEDS_ATTENTION, now, "check.read", reason, failure_reason=reason)
    if outstanding > settle.maxAmount:
        reason = f"remainder {cents(outstanding)} exceeds the allowed {settle.maxAmount}"
        return move(order, Status.NEEDS_ATTENTION, now, "check.read", reason, failure_reason=reason)
    return start_payment(order, now, policy, cents(outstanding), attempt=payment.attempt + 1)


def check_missing(order: Order, event: CheckMissing, now: datetime, policy: Policy) -> Order:
    if order.status in (Status.CONFIRMED, Status.SETTLING):
        reason = f"check {order.account_identifier} not found on K-Series"
        return move(
            order, Status.NEEDS_ATTENTION, now, "check.missing", reason, failure_reason=reason
        )
    return note(order, now, "check.missing", "ignored")


def payment_accepted(order: Order, event: PaymentAccepted, now: datetime, policy: Policy) -> Order:
    payment = order.current_payment
    detail = "400: reference already used (accepted before)" if event.duplicate else "200: accepted"
    if (
        order.status is not Status.SETTLING
        or payment is None
        or payment.reference != event.reference
        or payment.status is not PaymentStatus.PENDING
    ):
        return note(order, now, "payment.accepted", f"late answer for {event.reference} ({detail})")
    deadline = now + policy.payment_ttl + policy.payment_grace
    sent = payment.model_copy(
        update={"status": PaymentStatus.SENT, "last_sent_at": now, "deadline": deadline}
    )
    if policy.confirmation is Confirmation.WEBHOOK:
        wake = deadline
    else:
        wake = now + first_look(policy, event.time_to_pos)
    return note(
        order,
        now,
        "payment.accepted",
        f"{event.reference}: {detail}",
        payments=replace_payment(order, sent),
        wake_at=wake,
        poll_attempts=0,
    )


def payment_rejected(order: Order, event: PaymentRejected, now: datetime, policy: Policy) -> Order:
    payment = order.current_payment
    if (
        order.status is not Status.SETTLING
        or payment is None
        or payment.reference != event.reference
    ):
        return note(
            order, now, "payment.rejected", f"late answer for {event.reference}: {event.reason}"
        )
    failed = payment.model_copy(
        update={"status": PaymentStatus.FAILED, "failure_kind": "rejected", "reason": event.reason}
    )
    reason = f"payment rejected by K-Series: {event.reason}"
    return move(
        order,
        Status.NEEDS_ATTENTION,
        now,
        "payment.rejected",
        reason,
        payments=replace_payment(order, failed),
        failure_reason=reason,
    )


def payment_news(order: Order, event: PaymentNews, now: datetime, policy: Policy) -> Order:
    name = event_name(event)
    payment = next((p for p in order.payments if p.reference == event.reference), None)
    if payment is None:
        return note(order, now, name, f"unknown payment reference {event.reference}")
    if event.status == "SUCCESS":
        applied = payment.model_copy(update={"status": PaymentStatus.APPLIED})
        payments = replace_payment(order, applied)
        if order.status is Status.SETTLING:
            detail = f"payment {payment.reference} applied"
            return move(order, Status.COMPLETED, now, name, detail, payments=payments)
        return note(
            order, now, name, f"payment {payment.reference} applied (late news)", payments=payments
        )
    if event.status != "FAILURE":
        return note(order, now, name, "unhandled payment status")
    current = order.current_payment
    reason = event.reason or "no reason given"
    if (
        order.status is not Status.SETTLING
        or current is None
        or current.reference != payment.reference
    ):
        return note(order, now, name, f"late failure for {payment.reference}: {reason}")
    if payment.status is PaymentStatus.APPLIED:
        return note(
            order, now, name, f"contradiction: {payment.reference} was applied; keeping that"
        )
    kind = "timeout" if event.timed_out else UNCERTAIN_FAILURES.get(event.error_type or "")
    if kind is None and "greater than the amount due" in reason:
        kind = "overpaid"
    if kind is not None:
        uncertain = payment.model_copy(
            update={"status": PaymentStatus.UNCERTAIN, "failure_kind": kind, "reason": reason}
        )
        return note(
            order,
            now,
            name,
            f"{reason}: reading the check",
            payments=replace_payment(order, uncertain),
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
    return move(
        order,
        Status.NEEDS_ATTENTION,
        now,
        name,
        text,
        payments=replace_payment(order, failed),
        failure_reason=text,
    )

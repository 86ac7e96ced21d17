"""The follow-up payment, exactly: what each check read, payment answer and PAYMENT
notification does to the order, its payments, its timer and its history.

`settling(p)`: on the POS at T0 + 1 s with 1.65 outstanding, pay-1 pending (created T0 + 1 s,
sendable until T0 + 301 s, deadline T0 + 331 s). `sent(p)`: pay-1 accepted at T0 + 2 s
(deadline T0 + 332 s).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from config.settings import Confirmation
from tests.builders import T0
from tests.unit.lifecycle_states import (
    ACCOUNT,
    S,
    check,
    completed,
    confirmed,
    fresh,
    last,
    queued,
    sent,
    settling,
    submitted,
)
from worker.events import (
    CheckMissing,
    CheckRead,
    Snapshot,
)
from worker.lifecycle import Policy, apply
from worker.order import Order, PaymentStatus, Status


def uncertain(p: Policy, kind: str, reason: str = "x") -> Order:
    """pay-1 sent, then a FAILURE that needs the check read to know."""
    order = sent(p)
    payment = order.payments[0].model_copy(
        update={"status": PaymentStatus.UNCERTAIN, "failure_kind": kind, "reason": reason}
    )
    return order.model_copy(update={"payments": (payment,)})


# --- check read ---------------------------------------------------------------------------


@pytest.mark.parametrize("early", ["queued", "submitted"])
def test_a_check_read_before_any_news_confirms_the_order(early: str) -> None:
    p = fresh()
    order = queued() if early == "queued" else submitted(p)
    order = apply(order, CheckRead(check()), T0 + S, p)
    assert [(h.status, h.event, h.detail) for h in order.history[-2:]] == [
        (Status.CONFIRMED, "check.read", "on the POS"),
        (Status.SETTLING, "payment.start", "paying 1.65 under pay-1 (attempt 1)"),
    ]


def test_a_check_read_for_a_confirmed_order_writes_its_amounts_and_settles() -> None:
    p = fresh()
    order = apply(confirmed(p), CheckRead(check()), T0 + 2 * S, p)
    entry = order.history[-2]
    assert (entry.status, entry.event, entry.detail) == (
        Status.CONFIRMED,
        "check.read",
        "account data",
    )
    assert (order.status, order.outstanding) == (Status.SETTLING, Decimal("1.65"))


def test_a_check_read_for_a_finished_order_is_late_news_that_still_updates_its_amounts() -> None:
    p = fresh()
    order = apply(completed(p), CheckRead(check("20.00", "20.00")), T0 + 9 * S, p)
    assert last(order) == (Status.COMPLETED, "check.read", "late news")
    assert (order.total, order.paid, order.outstanding) == (
        Decimal("20.00"),
        Decimal("20.00"),
        Decimal("0.00"),
    )


def test_payments_on_the_check_are_all_marked_applied_and_the_order_completes() -> None:
    p = fresh()
    order = sent(p)
    second = order.payments[0].model_copy(update={"reference": "pay-2", "attempt": 2})
    third = order.payments[0].model_copy(update={"reference": "pay-3", "attempt": 3})
    order = order.model_copy(update={"payments": (*order.payments, second, third)})
    order = apply(order, CheckRead(check("18.15", "18.15", "pay-1", "pay-2")), T0 + 5 * S, p)
    assert [p.status for p in order.payments] == [
        PaymentStatus.APPLIED,
        PaymentStatus.APPLIED,
        PaymentStatus.SENT,
    ]
    assert last(order) == (Status.COMPLETED, "check.read", "payment pay-2 is on the check")
    assert (order.paid, order.outstanding, order.wake_at) == (
        Decimal("18.15"),
        Decimal("0.00"),
        None,
    )


def test_a_sent_payment_not_on_the_check_yet_is_looked_for_again_with_backoff() -> None:
    p = fresh()
    order = apply(sent(p), CheckRead(check("18.15", "17.00")), T0 + 5 * S, p)
    assert last(order) == (Status.SETTLING, "check.read", "payment not on the check yet")
    assert (order.paid, order.outstanding) == (Decimal("17.00"), Decimal("1.15"))
    assert (order.poll_attempts, order.wake_at) == (1, T0 + 6 * S)
    order = apply(order, CheckRead(check()), T0 + 6 * S, p)
    assert (order.poll_attempts, order.wake_at) == (2, T0 + 8 * S)
    order = order.model_copy(update={"poll_attempts": 10})
    order = apply(order, CheckRead(check()), T0 + 320 * S, p)
    assert order.wake_at == T0 + 332 * S  # never after the payment's deadline


def test_a_pending_payment_not_on_the_check_is_posted_again_before_its_window_ends() -> None:
    p = fresh()
    order = settling(p).model_copy(update={"poll_attempts": 10})
    order = apply(order, CheckRead(check()), T0 + 290 * S, p)
    assert order.wake_at == T0 + 301 * S
    late = apply(settling(p), CheckRead(check()), T0 + 301 * S, p)
    assert late.wake_at == T0 + 302 * S  # the window has ended: the backoff alone


def test_in_webhook_mode_a_sent_payment_is_looked_for_only_at_its_deadline() -> None:
    p = fresh(Confirmation.WEBHOOK)
    order = apply(sent(p), CheckRead(check()), T0 + 5 * S, p)
    assert order.wake_at == T0 + 332 * S
    pending = apply(settling(p), CheckRead(check()), T0 + 5 * S, p)
    assert pending.wake_at == T0 + 6 * S


def test_a_payment_not_on_the_check_at_its_deadline_fails_and_another_is_started() -> None:
    p = fresh()
    order = apply(sent(p), CheckRead(check("18.155", "16.50")), T0 + 332 * S, p)
    first, second = order.payments
    assert (first.status, first.failure_kind) == (PaymentStatus.FAILED, "expired")
    assert (second.reference, second.amount, second.attempt) == ("pay-2", Decimal("1.66"), 2)
    assert [(h.status, h.event, h.detail) for h in order.history[-2:]] == [
        (Status.SETTLING, "check.read", "payment pay-1 not applied (expired)"),
        (Status.SETTLING, "payment.start", "paying 1.66 under pay-2 (attempt 2)"),
    ]
    assert (order.total, order.outstanding) == (Decimal("18.16"), Decimal("1.66"))
    q = fresh()
    just_before = apply(sent(q), CheckRead(check()), T0 + 331 * S, q)
    assert len(just_before.payments) == 1


def test_a_timed_out_payment_is_retried_at_once_without_waiting_for_its_deadline() -> None:
    p = fresh()
    order = apply(uncertain(p, "timeout"), CheckRead(check()), T0 + 5 * S, p)
    assert order.payments[0].failure_kind == "timeout"
    assert order.history[-2].detail == "payment pay-1 not applied (timeout)"
    assert order.current_payment.reference == "pay-2"  # type: ignore[union-attr]


def test_nothing_outstanding_after_a_failed_payment_completes_without_another() -> None:
    p = fresh()
    order = apply(uncertain(p, "timeout"), CheckRead(check("18.15", "18.15")), T0 + 5 * S, p)
    assert last(order) == (Status.COMPLETED, "check.read", "nothing outstanding")
    assert len(order.payments) == 1


def test_a_failed_payment_and_a_check_without_amounts_needs_a_person() -> None:
    p = fresh()
    snap = Snapshot(ACCOUNT, None, None)
    order = apply(uncertain(p, "timeout"), CheckRead(snap), T0 + 5 * S, p)
    reason = "payment not applied after 1 attempts"
    assert last(order) == (Status.NEEDS_ATTENTION, "check.read", reason)
    assert order.failure_reason == reason


def test_the_attempt_cap_counts_only_the_payments_since_the_last_operator_replay() -> None:
    p = fresh(max_payment_attempts=2)
    order = uncertain(p, "timeout")
    payment = order.payments[0].model_copy(update={"attempt": 3})
    order = order.model_copy(update={"payments": (payment,), "attempt_base": 2})
    retried = apply(order, CheckRead(check()), T0 + 5 * S, p)
    assert (retried.status, retried.current_payment.attempt) == (Status.SETTLING, 4)  # type: ignore[union-attr]
    capped = order.model_copy(update={"attempt_base": 1})
    capped = apply(capped, CheckRead(check()), T0 + 5 * S, p)
    assert capped.failure_reason == "payment not applied after 2 attempts"


def test_a_retry_above_the_cap_needs_a_person_naming_the_rounded_remainder() -> None:
    p = fresh()
    order = apply(uncertain(p, "timeout"), CheckRead(check("21.505", "16.50")), T0 + 5 * S, p)
    reason = "remainder 5.01 exceeds the allowed 5.00"
    assert last(order) == (Status.NEEDS_ATTENTION, "check.read", reason)
    at_cap = apply(uncertain(p, "timeout"), CheckRead(check("21.50", "16.50")), T0 + 5 * S, p)
    assert at_cap.current_payment.amount == Decimal("5.00")  # type: ignore[union-attr]


def test_a_single_cent_still_outstanding_after_a_failed_payment_is_paid() -> None:
    p = fresh()
    order = apply(uncertain(p, "timeout"), CheckRead(check("18.15", "18.14")), T0 + 5 * S, p)
    assert (order.status, order.current_payment.amount) == (  # type: ignore[union-attr]
        Status.SETTLING,
        Decimal("0.01"),
    )


@pytest.mark.parametrize("kind", ["overpaid", "closed"])
def test_an_overpaid_or_closed_failure_completes_only_with_nothing_outstanding(kind: str) -> None:
    p = fresh()
    done = apply(uncertain(p, kind), CheckRead(check("18.15", "18.15")), T0 + 5 * S, p)
    assert last(done) == (Status.COMPLETED, "check.read", "nothing outstanding")
    assert done.outstanding == Decimal("0.00")
    short = apply(uncertain(p, kind), CheckRead(check("18.15", "18.14")), T0 + 5 * S, p)
    reason = f"payment failed ({kind}) and 0.01 is still outstanding"
    assert last(short) == (Status.NEEDS_ATTENTION, "check.read", reason)
    assert (short.failure_reason, short.outstanding) == (reason, Decimal("0.01"))
    unknown = apply(uncertain(p, kind), CheckRead(Snapshot(ACCOUNT)), T0 + 5 * S, p)
    assert unknown.failure_reason == f"payment failed ({kind}) and None is still outstanding"


# --- check missing ------------------------------------------------------------------------


@pytest.mark.parametrize("state", [confirmed, settling])
def test_a_missing_check_of_an_order_on_the_pos_needs_a_person(state: object) -> None:
    p = fresh()
    order = apply(state(p), CheckMissing(), T0 + 5 * S, p)  # type: ignore[operator]
    reason = f"check {ACCOUNT} not found on K-Series"
    assert last(order) == (Status.NEEDS_ATTENTION, "check.missing", reason)
    assert order.failure_reason == reason


@pytest.mark.parametrize("state", [submitted, completed])
def test_a_missing_check_of_another_order_is_ignored(state: object) -> None:
    p = fresh()
    order = state(p)  # type: ignore[operator]
    after = apply(order, CheckMissing(), T0 + 5 * S, p)
    assert (after.status, last(after)[1:]) == (order.status, ("check.missing", "ignored"))

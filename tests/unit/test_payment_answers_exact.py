"""Answers to our payment POST and PAYMENT notifications, exactly: the payment record, the
order's status, its timer and its history line, for the current payment and for late ones.

`settling(p)`: pay-1 pending (created T0 + 1 s). `sent(p)`: pay-1 accepted at T0 + 2 s
(deadline T0 + 332 s).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from config.settings import Confirmation
from tests.builders import T0
from tests.unit.lifecycle_states import S, completed, failed, fresh, last, sent, settling
from worker.events import CheckMissing, PaymentAccepted, PaymentNews, PaymentRejected
from worker.lifecycle import apply
from worker.order import Payment, PaymentStatus, Status


def news(status: str, reason: str | None = None, **kwargs: object) -> PaymentNews:
    return PaymentNews("n", "pay-1", status, reason, **kwargs)  # type: ignore[arg-type]


# --- payment answers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("confirmation", "wake"),
    [(Confirmation.HYBRID, 5), (Confirmation.POLL, 3), (Confirmation.WEBHOOK, 332)],
)
def test_an_accepted_payment_is_sent_and_looked_for_by_the_confirmation_mode(
    confirmation: Confirmation, wake: int
) -> None:
    p = fresh(confirmation)
    order = settling(p).model_copy(update={"poll_attempts": 4})
    order = apply(order, PaymentAccepted("pay-1"), T0 + 2 * S, p)
    assert order.payments == (
        Payment(
            reference="pay-1",
            amount=Decimal("1.65"),
            attempt=1,
            status=PaymentStatus.SENT,
            created_at=T0 + S,
            last_sent_at=T0 + 2 * S,
            deadline=T0 + 332 * S,
        ),
    )
    assert (order.wake_at, order.poll_attempts) == (T0 + wake * S, 0)
    assert last(order) == (Status.SETTLING, "payment.accepted", "pay-1: 200: accepted")


def test_a_reused_reference_is_an_acceptance_recorded_as_such() -> None:
    p = fresh()
    order = apply(settling(p), PaymentAccepted("pay-1", duplicate=True), T0 + 2 * S, p)
    assert last(order)[2] == "pay-1: 400: reference already used (accepted before)"


@pytest.mark.parametrize(
    ("state", "reference"),
    [("settling", "pay-9"), ("sent", "pay-1"), ("completed", "pay-1"), ("no payment", "pay-1")],
)
def test_an_acceptance_for_anything_but_the_pending_payment_is_a_late_answer(
    state: str, reference: str
) -> None:
    p = fresh()
    order = {
        "settling": lambda: settling(p),
        "sent": lambda: sent(p),
        "completed": lambda: completed(p),
        "no payment": lambda: settling(p).model_copy(update={"payments": ()}),
    }[state]()
    after = apply(order, PaymentAccepted(reference, duplicate=True), T0 + 9 * S, p)
    assert after.model_copy(update={"history": order.history}) == order
    detail = f"late answer for {reference} (400: reference already used (accepted before))"
    assert last(after) == (order.status, "payment.accepted", detail)


def test_a_rejected_payment_fails_and_needs_a_person() -> None:
    p = fresh()
    order = apply(settling(p), PaymentRejected("pay-1", "paymentMethod: unknown"), T0 + 2 * S, p)
    payment = order.payments[0]
    assert (payment.status, payment.failure_kind, payment.reason) == (
        PaymentStatus.FAILED,
        "rejected",
        "paymentMethod: unknown",
    )
    reason = "payment rejected by K-Series: paymentMethod: unknown"
    assert last(order) == (Status.NEEDS_ATTENTION, "payment.rejected", reason)
    assert (order.failure_reason, order.wake_at) == (reason, None)


@pytest.mark.parametrize("state", ["other reference", "completed", "no payment"])
def test_a_rejection_for_anything_but_the_current_payment_is_a_late_answer(state: str) -> None:
    p = fresh()
    reference = "pay-9" if state == "other reference" else "pay-1"
    order = {
        "other reference": lambda: settling(p),
        "completed": lambda: completed(p),
        "no payment": lambda: settling(p).model_copy(update={"payments": ()}),
    }[state]()
    after = apply(order, PaymentRejected(reference, "nope"), T0 + 9 * S, p)
    assert after.model_copy(update={"history": order.history}) == order
    assert last(after) == (order.status, "payment.rejected", f"late answer for {reference}: nope")


# --- PAYMENT notifications ----------------------------------------------------------------


def test_a_success_for_an_unknown_reference_changes_nothing() -> None:
    p = fresh()
    order = sent(p)
    after = apply(order, PaymentNews("n", "pay-9", "SUCCESS"), T0 + 5 * S, p)
    assert after.model_copy(update={"history": order.history, "seen": ()}) == order
    assert last(after) == (
        Status.SETTLING,
        "PaymentNews:SUCCESS",
        "unknown payment reference pay-9",
    )


def test_a_success_completes_a_settling_order_and_is_late_news_for_a_finished_one() -> None:
    p = fresh()
    order = apply(sent(p), news("SUCCESS"), T0 + 5 * S, p)
    assert order.payments[0].status is PaymentStatus.APPLIED
    assert last(order) == (Status.COMPLETED, "PaymentNews:SUCCESS", "payment pay-1 applied")
    q = fresh()
    gone = apply(sent(q), CheckMissing(), T0 + 3 * S, q)
    late = apply(gone, news("SUCCESS"), T0 + 5 * S, q)
    assert late.payments[0].status is PaymentStatus.APPLIED
    assert last(late) == (
        Status.NEEDS_ATTENTION,
        "PaymentNews:SUCCESS",
        "payment pay-1 applied (late news)",
    )


def test_a_payment_status_other_than_success_or_failure_is_recorded_only() -> None:
    p = fresh()
    order = sent(p)
    after = apply(order, news("PENDING"), T0 + 5 * S, p)
    assert after.payments == order.payments
    assert last(after) == (Status.SETTLING, "PaymentNews:PENDING", "unhandled payment status")


@pytest.mark.parametrize(
    ("kwargs", "kind"),
    [
        ({"timed_out": True, "error_type": "OVERPAID"}, "timeout"),
        ({"error_type": "OVERPAID"}, "overpaid"),
        ({"error_type": "ACCOUNT_ALREADY_CLOSED"}, "closed"),
    ],
)
def test_a_failure_that_may_not_be_one_reads_the_check_at_once(
    kwargs: dict[str, object], kind: str
) -> None:
    p = fresh()
    order = apply(sent(p), news("FAILURE", "why", **kwargs), T0 + 5 * S, p)
    payment = order.payments[0]
    assert (payment.status, payment.failure_kind, payment.reason) == (
        PaymentStatus.UNCERTAIN,
        kind,
        "why",
    )
    assert (order.status, order.wake_at) == (Status.SETTLING, T0 + 5 * S)
    assert last(order) == (Status.SETTLING, "PaymentNews:FAILURE", "why: reading the check")


def test_a_failure_saying_the_amount_is_above_what_is_due_is_taken_as_overpaid() -> None:
    p = fresh()
    reason = "the payment amount is greater than the amount due"
    order = apply(sent(p), news("FAILURE", reason, error_type="OTHER"), T0 + 5 * S, p)
    assert order.payments[0].failure_kind == "overpaid"


def test_any_other_failure_fails_the_payment_and_needs_a_person() -> None:
    p = fresh()
    order = apply(sent(p), news("FAILURE", "no such method", error_type="X"), T0 + 5 * S, p)
    payment = order.payments[0]
    assert (payment.status, payment.failure_kind, payment.reason) == (
        PaymentStatus.FAILED,
        "X",
        "no such method",
    )
    text = "payment failed: no such method (X)"
    assert last(order) == (Status.NEEDS_ATTENTION, "PaymentNews:FAILURE", text)
    assert order.failure_reason == text
    q = fresh()
    bare = apply(sent(q), news("FAILURE"), T0 + 5 * S, q)
    assert bare.payments[0].failure_kind == "failure"
    assert bare.failure_reason == "payment failed: no reason given"


def test_a_failure_of_a_payment_already_applied_is_a_contradiction_that_changes_nothing() -> None:
    p = fresh()
    order = sent(p)
    applied = order.payments[0].model_copy(update={"status": PaymentStatus.APPLIED})
    order = order.model_copy(update={"payments": (applied,)})
    after = apply(order, news("FAILURE", "x"), T0 + 5 * S, p)
    assert after.payments == order.payments
    assert last(after) == (
        Status.SETTLING,
        "PaymentNews:FAILURE",
        "contradiction: pay-1 was applied; keeping that",
    )


@pytest.mark.parametrize("state", ["earlier payment", "finished"])
def test_a_failure_of_anything_but_the_current_payment_is_late(state: str) -> None:
    p = fresh()
    order = sent(p)
    if state == "earlier payment":
        second = order.payments[0].model_copy(update={"reference": "pay-2", "attempt": 2})
        order = order.model_copy(update={"payments": (*order.payments, second)})
    else:
        order = apply(order, CheckMissing(), T0 + 3 * S, p)
    after = apply(order, news("FAILURE"), T0 + 5 * S, p)
    assert after.payments == order.payments
    assert after.status is order.status
    assert last(after)[2] == "late failure for pay-1: no reason given"


def test_a_failure_for_an_order_that_never_paid_is_an_unknown_reference() -> None:
    p = fresh()
    order = apply(failed(p), news("FAILURE", "x"), T0 + 5 * S, p)
    assert last(order)[2] == "unknown payment reference pay-1"

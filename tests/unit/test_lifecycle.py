"""The pure state machine: lifecycle.md's table, row by row."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from config.settings import Confirmation
from tests.builders import T0, new_order, policy
from worker.events import (
    AccountNews,
    CheckMissing,
    CheckRead,
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
from worker.lifecycle import Action, apply, backoff, next_action
from worker.order import PaymentStatus, Status

S = timedelta(seconds=1)
P = policy()


@pytest.fixture(autouse=True)
def _fresh_references() -> None:
    """Payment references count from pay-1 in every test."""
    global P  # noqa: PLW0603
    P = policy()


def on_pos(
    total: str = "18.15", paid: str = "16.50", refs: frozenset[str] = frozenset()
) -> Snapshot:
    return Snapshot("A17700.3", Decimal(total), Decimal(paid), refs)


def submitted(**kwargs: object):  # type: ignore[no-untyped-def]
    return apply(new_order(**kwargs), SubmitAccepted(), T0, P)  # type: ignore[arg-type]


def settling():  # type: ignore[no-untyped-def]
    return apply(submitted(), OrderNews("k1", "SUCCESS", snapshot=on_pos()), T0 + S, P)


def test_a_new_order_is_submitted_first() -> None:
    assert next_action(new_order(), T0, P) is Action.SUBMIT


def test_a_200_moves_the_order_to_submitted_and_waits_for_the_webhook_in_hybrid_mode() -> None:
    order = submitted()
    assert order.status is Status.SUBMITTED
    assert order.accepted_at == T0
    assert order.confirm_deadline == T0 + timedelta(milliseconds=60_000) + P.confirm_grace
    assert order.wake_at == T0 + P.webhook_wait
    assert next_action(order, T0 + S, P) is Action.WAIT
    assert next_action(order, T0 + P.webhook_wait, P) is Action.POLL_SALE


def test_a_409_means_the_order_is_there() -> None:
    order = apply(new_order(), SubmitAccepted(duplicate=True), T0, P)
    assert order.status is Status.SUBMITTED
    assert "409" in order.history[-1].detail


def test_a_400_fails_the_order_with_the_field_errors() -> None:
    order = apply(new_order(), SubmitRejected("customerInfo.firstName: must not be null"), T0, P)
    assert order.status is Status.FAILED
    assert order.failure_reason == "rejected by K-Series: customerInfo.firstName: must not be null"
    assert next_action(order, T0, P) is Action.NONE


def test_transient_errors_back_off_until_the_submit_deadline_then_fail() -> None:
    order = new_order()
    order = apply(order, Retry("submit", "503 Service Unavailable"), T0, P)
    assert order.status is Status.QUEUED
    assert order.wake_at == T0 + P.poll_initial  # rand=1.0: the full first step
    order = apply(order, Retry("submit", "429", retry_after_s=7), T0, P)
    # Retry-After beats a shorter backoff, with up to a quarter more as jitter
    assert T0 + 7 * S <= order.wake_at <= T0 + 8.75 * S  # type: ignore[operator]
    assert next_action(order, order.submit_deadline, P) is Action.SUBMIT_DEADLINE
    order = apply(order, SubmitDeadline(), order.submit_deadline, P)
    assert order.status is Status.FAILED
    assert order.failure_reason == "K-Series unreachable: submit: 429"


def test_retries_never_wake_after_the_submit_deadline() -> None:
    order = apply(new_order(ttl_ms=60_000), Retry("submit", "x", retry_after_s=3600), T0, P)
    assert order.wake_at == order.submit_deadline


def test_success_without_settle_remaining_completes() -> None:
    order = apply(submitted(settle=None), OrderNews("k", "SUCCESS", snapshot=on_pos()), T0, P)
    assert order.status is Status.COMPLETED
    assert [h.status for h in order.history] == [
        Status.QUEUED,
        Status.SUBMITTED,
        Status.CONFIRMED,
        Status.COMPLETED,
    ]


def test_success_with_a_remainder_starts_one_payment_of_the_outstanding_amount() -> None:
    order = settling()
    assert order.status is Status.SETTLING
    assert order.account_identifier == "A17700.3"
    assert order.outstanding == Decimal("1.65")
    payment = order.current_payment
    assert payment is not None
    assert (payment.reference, payment.amount, payment.status) == (
        "pay-1",
        Decimal("1.65"),
        PaymentStatus.PENDING,
    )
    assert payment.reference != order.reference
    assert next_action(order, T0 + S, P) is Action.POST_PAYMENT


def test_nothing_outstanding_completes() -> None:
    order = apply(submitted(), SaleFound(on_pos("10.00", "10.00")), T0, P)
    assert order.status is Status.COMPLETED
    assert order.history[-1].detail == "nothing outstanding"


def test_a_remainder_above_max_amount_needs_attention() -> None:
    order = apply(submitted(settle="1.00"), SaleFound(on_pos("18.15", "16.50")), T0, P)
    assert order.status is Status.NEEDS_ATTENTION
    assert order.failure_reason == "remainder 1.65 exceeds the allowed 1.00"
    assert order.payments == ()


def test_success_without_account_data_reads_the_check_first() -> None:
    order = apply(submitted(), OrderNews("k", "SUCCESS", snapshot=Snapshot("A1.1")), T0, P)
    assert order.status is Status.CONFIRMED
    assert next_action(order, T0, P) is Action.READ_CHECK
    order = apply(order, CheckRead(on_pos()), T0, P)
    assert order.status is Status.SETTLING


def test_a_failure_notification_fails_the_order_with_its_reason() -> None:
    order = apply(
        submitted(), OrderNews("k", "FAILURE", reason="Could not add item X (not found)"), T0, P
    )
    assert order.status is Status.FAILED
    assert order.failure_reason == "Could not add item X (not found)"


def test_a_404_before_the_deadline_polls_again_with_capped_backoff() -> None:
    order = submitted()
    wakes = []
    now = T0 + P.webhook_wait
    for _ in range(6):
        order = apply(order, SaleNotFound(), now, P)
        wakes.append((order.wake_at - now).total_seconds())  # type: ignore[operator]
        now = order.wake_at  # type: ignore[assignment]
    assert order.status is Status.SUBMITTED
    assert wakes[:3] == [1.0, 2.0, 4.0]
    assert max(wakes) <= P.poll_max.total_seconds()


def test_a_404_at_the_deadline_fails_the_order() -> None:
    order = submitted()
    order = apply(order, SaleNotFound(), order.confirm_deadline, P)  # type: ignore[arg-type]
    assert order.status is Status.FAILED
    assert order.failure_reason == "not on the POS before its delivery deadline"


def test_webhook_mode_checks_only_at_the_deadline() -> None:
    webhook = policy(Confirmation.WEBHOOK)
    order = apply(new_order(), SubmitAccepted(), T0, webhook)
    assert order.wake_at == order.confirm_deadline


def test_poll_mode_polls_at_once() -> None:
    poll = policy(Confirmation.POLL)
    order = apply(new_order(), SubmitAccepted(), T0, poll)
    assert order.wake_at == T0 + poll.poll_initial


def test_a_scheduled_order_has_its_deadline_from_the_scheduled_time() -> None:
    later = T0 + timedelta(hours=3)
    order = apply(
        new_order(scheduledTimeForOrderAsIso8601=later.isoformat()), SubmitAccepted(), T0, P
    )
    assert order.confirm_deadline == later + timedelta(minutes=1) + P.confirm_grace
    assert order.wake_at == later + P.webhook_wait


@pytest.mark.parametrize("status", ["CLOSED", "CHECK_WAS_UPDATED", "READY_FOR_PICKUP"])
def test_on_pos_news_before_success_confirms_out_of_order(status: str) -> None:
    order = apply(submitted(), OrderNews("k", status, snapshot=on_pos()), T0, P)
    assert order.status is Status.SETTLING
    assert order.history[2].event == f"OrderNews:{status}"


def test_an_account_notification_naming_our_order_confirms_it() -> None:
    order = apply(submitted(), AccountNews("k", "OPEN", snapshot=on_pos()), T0, P)
    assert order.status is Status.SETTLING


def test_cancelled_on_the_pos_needs_attention() -> None:
    order = apply(settling(), OrderNews("k9", "CANCELLED"), T0, P)
    assert order.status is Status.NEEDS_ATTENTION
    assert order.failure_reason == "cancelled on the POS"


def test_a_duplicate_notification_changes_nothing_but_is_recorded() -> None:
    order = settling()
    again = apply(order, OrderNews("k1", "SUCCESS", snapshot=on_pos()), T0 + 2 * S, P)
    assert again.status is order.status
    assert again.payments == order.payments
    assert again.history[-1].detail == "duplicate notification, already applied"


def test_a_failure_after_success_keeps_success() -> None:
    order = apply(settling(), OrderNews("k2", "FAILURE", reason="late"), T0, P)
    assert order.status is Status.SETTLING
    assert "contradiction" in order.history[-1].detail


def test_payment_success_completes() -> None:
    order = apply(settling(), PaymentAccepted("pay-1"), T0, P)
    assert order.current_payment.status is PaymentStatus.SENT  # type: ignore[union-attr]
    order = apply(order, PaymentNews("p1", "pay-1", "SUCCESS"), T0, P)
    assert order.status is Status.COMPLETED
    assert order.current_payment.status is PaymentStatus.APPLIED  # type: ignore[union-attr]


def test_payment_success_before_our_post_was_recorded_still_completes() -> None:
    order = apply(settling(), PaymentNews("p1", "pay-1", "SUCCESS"), T0, P)
    assert order.status is Status.COMPLETED


def test_a_reused_payment_reference_counts_as_accepted() -> None:
    order = apply(settling(), PaymentAccepted("pay-1", duplicate=True), T0, P)
    assert order.current_payment.status is PaymentStatus.SENT  # type: ignore[union-attr]


def test_a_rejected_payment_needs_attention() -> None:
    order = apply(settling(), PaymentRejected("pay-1", "paymentMethod: unknown"), T0, P)
    assert order.status is Status.NEEDS_ATTENTION
    assert order.failure_reason == "payment rejected by K-Series: paymentMethod: unknown"


def test_a_payment_timeout_reads_the_check_and_retries_under_a_new_reference() -> None:
    order = apply(settling(), PaymentAccepted("pay-1"), T0, P)
    order = apply(
        order, PaymentNews("p1", "pay-1", "FAILURE", "Not processed", timed_out=True), T0, P
    )
    assert next_action(order, T0, P) is Action.READ_CHECK
    order = apply(order, CheckRead(on_pos()), T0, P)
    assert [p.reference for p in order.payments] == ["pay-1", "pay-2"]
    assert order.payments[0].status is PaymentStatus.FAILED
    assert order.current_payment.amount == Decimal("1.65")  # type: ignore[union-attr]


def test_a_payment_timeout_whose_reference_is_on_the_check_completes_without_paying_again() -> None:
    order = apply(settling(), PaymentAccepted("pay-1"), T0, P)
    order = apply(order, PaymentNews("p1", "pay-1", "FAILURE", timed_out=True), T0, P)
    order = apply(order, CheckRead(on_pos("18.15", "18.15", frozenset({"pay-1"}))), T0, P)
    assert order.status is Status.COMPLETED
    assert len(order.payments) == 1


def test_a_payment_is_not_retried_before_its_deadline() -> None:
    order = apply(settling(), PaymentAccepted("pay-1"), T0, P)
    order = apply(order, CheckRead(on_pos()), T0 + 5 * S, P)
    assert order.status is Status.SETTLING
    assert len(order.payments) == 1
    assert order.wake_at <= order.current_payment.deadline  # type: ignore[operator,union-attr]


def test_nothing_by_the_payment_deadline_retries_at_most_three_times_then_needs_attention() -> None:
    order = settling()
    for attempt in (1, 2, 3):
        order = apply(order, PaymentAccepted(f"pay-{attempt}"), T0, P)
        deadline = order.current_payment.deadline  # type: ignore[union-attr]
        order = apply(order, CheckRead(on_pos()), deadline, P)
    assert order.status is Status.NEEDS_ATTENTION
    assert order.failure_reason == "payment not applied after 3 attempts"
    assert all(p.status is PaymentStatus.FAILED for p in order.payments)


@pytest.mark.parametrize("error_type", ["OVERPAID", "ACCOUNT_ALREADY_CLOSED"])
def test_overpaid_or_closed_completes_when_nothing_is_outstanding(error_type: str) -> None:
    order = apply(
        settling(), PaymentNews("p", "pay-1", "FAILURE", "x", error_type=error_type), T0, P
    )
    order = apply(order, CheckRead(on_pos("18.15", "18.15")), T0, P)
    assert order.status is Status.COMPLETED


def test_overpaid_with_something_still_outstanding_needs_attention() -> None:
    order = apply(
        settling(),
        PaymentNews("p", "pay-1", "FAILURE", "the payment amount is greater than the amount due"),
        T0,
        P,
    )
    order = apply(order, CheckRead(on_pos("18.15", "17.00")), T0, P)
    assert order.status is Status.NEEDS_ATTENTION


def test_any_other_payment_failure_needs_attention_with_reason_and_type() -> None:
    order = apply(
        settling(),
        PaymentNews(
            "p", "pay-1", "FAILURE", "Payment method not found", "PAYMENT_METHOD_NOT_FOUND"
        ),
        T0,
        P,
    )
    assert order.status is Status.NEEDS_ATTENTION
    assert (
        order.failure_reason
        == "payment failed: Payment method not found (PAYMENT_METHOD_NOT_FOUND)"
    )


def test_a_missing_check_needs_attention() -> None:
    order = apply(settling(), CheckMissing(), T0, P)
    assert order.status is Status.NEEDS_ATTENTION


def test_terminal_orders_only_gain_history() -> None:
    order = apply(submitted(settle=None), SaleFound(on_pos()), T0, P)
    for event in (
        SubmitAccepted(),
        OrderNews("z", "FAILURE", "late"),
        SaleNotFound(),
        Retry("sale", "x"),
    ):
        after = apply(order, event, T0, P)
        assert after.status is Status.COMPLETED
        assert len(after.history) == len(order.history) + 1


def test_backoff_is_exponential_capped_and_jittered_within_half_to_full() -> None:
    base, cap = timedelta(seconds=1), timedelta(seconds=30)
    assert [backoff(n, base, cap, lambda: 1.0).total_seconds() for n in range(7)] == [
        1,
        2,
        4,
        8,
        16,
        30,
        30,
    ]
    assert backoff(3, base, cap, lambda: 0.0).total_seconds() == 4.0


def test_a_payment_notification_before_the_late_order_notification_keeps_the_order_completed() -> (
    None
):
    # Given an order confirmed by polling and paid
    order = apply(submitted(), SaleFound(on_pos()), T0, P)
    order = apply(order, PaymentAccepted("pay-1"), T0, P)
    order = apply(order, PaymentNews("p1", "pay-1", "SUCCESS"), T0 + S, P)
    assert order.status is Status.COMPLETED
    # When the ORDER SUCCESS notification arrives after the PAYMENT one
    late = apply(order, OrderNews("o1", "SUCCESS", snapshot=on_pos()), T0 + 2 * S, P)
    # Then nothing moves and it is recorded
    assert late.status is Status.COMPLETED
    assert late.payments == order.payments
    assert late.history[-1].event == "OrderNews:SUCCESS"

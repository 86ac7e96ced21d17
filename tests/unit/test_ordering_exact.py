"""Getting the order onto the POS, exactly: submit answers, the submit deadline's verdicts,
sale lookups, and ORDER / account news in every state, down to the history line."""

from __future__ import annotations

from datetime import timedelta
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
    failed,
    fresh,
    last,
    needs_attention,
    queued,
    settling,
    submitted,
    unchanged_but_history,
)
from worker.events import (
    AccountNews,
    OrderNews,
    SaleFound,
    SaleNotFound,
    Snapshot,
    SubmitAccepted,
    SubmitDeadline,
    SubmitRejected,
)
from worker.lifecycle import apply
from worker.lifecycle.ordering import NOT_TRIED
from worker.order import Order, Status

CONFIRM_DEADLINE = T0 + 90 * S


# --- submit answers -----------------------------------------------------------------------


def test_an_accepted_submit_sets_the_confirm_deadline_and_clears_the_submit_error() -> None:
    p = fresh()
    order = queued().model_copy(update={"last_error": "submit: 503", "late_lookups": 2})
    order = apply(order, SubmitAccepted(), T0 + 5 * S, p)
    assert (order.accepted_at, order.confirm_deadline, order.wake_at) == (
        T0 + 5 * S,
        T0 + 95 * S,
        T0 + 8 * S,
    )
    assert (order.last_error, order.late_lookups) == (None, 0)
    assert last(order) == (Status.SUBMITTED, "submit.accepted", "200: accepted for delivery")


def test_an_order_scheduled_in_the_past_counts_its_deadline_from_now() -> None:
    p = fresh()
    earlier = T0 - timedelta(hours=1)
    order = queued(scheduledTimeForOrderAsIso8601=earlier.isoformat())
    order = apply(order, SubmitAccepted(), T0, p)
    assert order.confirm_deadline == CONFIRM_DEADLINE


@pytest.mark.parametrize(
    ("event", "name", "detail"),
    [
        (SubmitAccepted(), "submit.accepted", "late answer (200: accepted for delivery)"),
        (
            SubmitAccepted(duplicate=True),
            "submit.accepted",
            "late answer (409: reference already accepted)",
        ),
        (SubmitRejected("bad"), "submit.rejected", "late answer: bad"),
        (SubmitDeadline(), "submit.deadline", "ignored: already submitted"),
    ],
)
def test_a_submit_answer_for_an_order_already_past_queued_is_only_recorded(
    event: SubmitAccepted | SubmitRejected | SubmitDeadline, name: str, detail: str
) -> None:
    p = fresh()
    order = submitted(p)
    after = apply(order, event, T0 + 5 * S, p)
    assert unchanged_but_history(order, after)
    assert last(after) == (Status.SUBMITTED, name, detail)


def test_a_rejected_submit_fails_the_order_saying_why() -> None:
    order = apply(queued(), SubmitRejected("items: empty"), T0, fresh())
    reason = "rejected by K-Series: items: empty"
    assert last(order) == (Status.FAILED, "submit.rejected", reason)
    assert order.failure_reason == reason


# --- the submit deadline ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts", "last_error", "reason"),
    [
        (0, None, NOT_TRIED),
        (1, None, "K-Series unreachable: no answer before the submit deadline"),
        (0, "submit: 503", "K-Series unreachable: submit: 503"),
        (
            0,
            "readiness: location not ready",
            "not sent: location not ready until the submit deadline",
        ),
        (0, "held: tokens refused", "not sent: tokens refused until the submit deadline"),
        (
            0,
            "rate-limited: submit: whatever",
            "not sent: location rate-limited by K-Series (429) until the submit deadline",
        ),
        (
            0,
            "access denied: submit: 401",
            "not sent: access denied by K-Series until the submit deadline (submit: 401)",
        ),
    ],
)
def test_the_submit_deadline_fails_the_order_naming_what_kept_it_off_the_pos(
    attempts: int, last_error: str | None, reason: str
) -> None:
    order = queued().model_copy(update={"submit_attempts": attempts, "last_error": last_error})
    order = apply(order, SubmitDeadline(), T0 + 60 * S, fresh())
    assert last(order) == (Status.FAILED, "submit.deadline", reason)
    assert order.failure_reason == reason


def test_a_queued_order_whose_sale_is_not_found_meets_its_deadline() -> None:
    order = queued().model_copy(update={"submit_attempts": 1, "last_error": "submit: 503"})
    order = apply(order, SaleNotFound(), T0 + 60 * S, fresh())
    assert last(order) == (
        Status.FAILED,
        "submit.deadline",
        "K-Series unreachable: submit: 503",
    )


# --- sale lookups -------------------------------------------------------------------------


def test_a_sale_not_found_before_the_deadline_polls_again_capped_at_the_deadline() -> None:
    p = fresh()
    order = apply(submitted(p), SaleNotFound(), T0 + 10 * S, p)
    assert (order.poll_attempts, order.wake_at) == (1, T0 + 11 * S)
    assert last(order) == (Status.SUBMITTED, "sale.not_found", "not on the POS yet")
    order = apply(order.model_copy(update={"poll_attempts": 9}), SaleNotFound(), T0 + 89 * S, p)
    assert (order.poll_attempts, order.wake_at) == (10, CONFIRM_DEADLINE)


def test_in_webhook_mode_a_sale_not_found_waits_for_the_deadline() -> None:
    p = fresh(Confirmation.WEBHOOK)
    order = apply(submitted(p), SaleNotFound(), T0 + 10 * S, p)
    assert (order.poll_attempts, order.wake_at) == (1, CONFIRM_DEADLINE)


def test_a_sale_not_found_at_the_confirm_deadline_fails_the_order() -> None:
    p = fresh()
    before = apply(submitted(p), SaleNotFound(), CONFIRM_DEADLINE - timedelta(microseconds=1), p)
    assert before.status is Status.SUBMITTED
    order = apply(submitted(p), SaleNotFound(), CONFIRM_DEADLINE, p)
    reason = "not on the POS before its delivery deadline"
    assert last(order) == (Status.FAILED, "sale.not_found", reason)
    assert order.failure_reason == reason


def test_a_submitted_order_without_a_deadline_ignores_a_sale_not_found() -> None:
    p = fresh()
    order = submitted(p).model_copy(update={"confirm_deadline": None})
    after = apply(order, SaleNotFound(), T0 + 10 * S, p)
    assert unchanged_but_history(order, after)
    assert last(after) == (Status.SUBMITTED, "sale.not_found", "ignored")


def test_a_confirmed_order_whose_sale_is_not_found_yet_retries_the_lookup() -> None:
    p = fresh()
    order = apply(confirmed(p, account=None), SaleNotFound(), T0 + 10 * S, p)
    detail = "sale: sale not found yet for a confirmed order"
    assert last(order) == (Status.CONFIRMED, "retry", detail)
    assert (order.poll_attempts, order.wake_at, order.last_error) == (1, T0 + 11 * S, detail)


def test_a_sale_not_found_for_a_settling_order_is_ignored() -> None:
    p = fresh()
    order = settling(p)
    after = apply(order, SaleNotFound(), T0 + 10 * S, p)
    assert unchanged_but_history(order, after)
    assert last(after) == (Status.SETTLING, "sale.not_found", "ignored")


def test_a_sale_found_for_a_confirmed_order_writes_its_check_and_settles() -> None:
    p = fresh()
    order = apply(confirmed(p, account=None), SaleFound(check()), T0 + 2 * S, p)
    assert order.history[-2].detail == "account data"
    assert (order.status, order.account_identifier) == (Status.SETTLING, ACCOUNT)


def test_a_sale_found_late_updates_the_amounts_only() -> None:
    p = fresh()
    order = apply(settling(p), SaleFound(check("18.15", "17.00")), T0 + 5 * S, p)
    assert last(order) == (Status.SETTLING, "sale.found", "late news")
    assert (order.outstanding, len(order.payments)) == (Decimal("1.15"), 1)


def test_a_sale_saying_the_check_was_cancelled_needs_a_person() -> None:
    p = fresh()
    order = apply(submitted(p), SaleFound(Snapshot(ACCOUNT, cancelled=True)), T0 + 5 * S, p)
    assert last(order) == (Status.NEEDS_ATTENTION, "sale.found", "cancelled on the POS")
    assert order.failure_reason == "cancelled on the POS"


# --- ORDER and account news ---------------------------------------------------------------


@pytest.mark.parametrize("early", ["queued", "submitted"])
def test_a_failure_before_the_order_is_on_the_pos_fails_it(early: str) -> None:
    p = fresh()
    order = queued() if early == "queued" else submitted(p)
    order = apply(order, OrderNews("k", "FAILURE"), T0 + 5 * S, p)
    reason = "FAILURE without a reason"
    assert last(order) == (Status.FAILED, "OrderNews:FAILURE", reason)
    assert order.failure_reason == reason


def test_a_failure_for_a_failed_order_is_recorded_only() -> None:
    p = fresh()
    order = failed(p)
    after = apply(order, OrderNews("k", "FAILURE", "again"), T0 + 5 * S, p)
    assert unchanged_but_history(order, after)
    assert last(after) == (Status.FAILED, "OrderNews:FAILURE", "already failed: again")


def test_a_failure_for_an_order_on_the_pos_is_a_contradiction_that_keeps_it() -> None:
    p = fresh()
    order = needs_attention(p)
    after = apply(order, OrderNews("k", "FAILURE", "late"), T0 + 5 * S, p)
    assert unchanged_but_history(order, after)
    assert last(after)[2] == "contradiction: FAILURE (late) after SUCCESS; keeping SUCCESS"


def unknown_outcome(replayed_as: str | None = None) -> Order:
    """Given up without learning whether it reached the POS."""
    order = queued().model_copy(
        update={"status": Status.NEEDS_ATTENTION, "outcome_unknown": True, "wake_at": None}
    )
    return order.model_copy(
        update={"failure_reason": "not confirmed: (sale: 503)", "replayed_as": replayed_as}
    )


def test_a_failure_for_an_order_given_up_without_knowing_fails_it() -> None:
    order = apply(unknown_outcome(), OrderNews("k", "FAILURE", "no stock"), T0, fresh())
    assert last(order) == (Status.FAILED, "OrderNews:FAILURE", "no stock")
    assert (order.failure_reason, order.outcome_unknown) == ("no stock", False)


@pytest.mark.parametrize(
    ("status", "reason"),
    [("CANCELLED", "cancelled on the POS"), ("ABANDONED", "abandoned on the POS")],
)
def test_an_order_taken_off_the_pos_needs_a_person(status: str, reason: str) -> None:
    p = fresh()
    order = apply(settling(p), OrderNews("k", status), T0 + 5 * S, p)
    assert last(order) == (Status.NEEDS_ATTENTION, f"OrderNews:{status}", reason)
    assert order.failure_reason == reason


def test_an_order_taken_off_the_pos_after_it_finished_is_recorded_only() -> None:
    p = fresh()
    order = completed(p)
    after = apply(order, AccountNews("k", "CANCEL"), T0 + 5 * S, p)
    assert unchanged_but_history(order, after)
    assert last(after) == (
        Status.COMPLETED,
        "AccountNews:CANCEL",
        "cancelled on the POS (after completed)",
    )


def test_an_account_cancelled_on_the_pos_needs_a_person() -> None:
    p = fresh()
    order = apply(settling(p), AccountNews("k", "CANCEL"), T0 + 5 * S, p)
    assert (order.status, order.failure_reason) == (Status.NEEDS_ATTENTION, "cancelled on the POS")


def test_an_order_status_with_no_meaning_here_is_recorded_only() -> None:
    p = fresh()
    order = submitted(p)
    after = apply(order, OrderNews("k", "ACCEPTED", snapshot=check()), T0 + 5 * S, p)
    assert unchanged_but_history(order, after)
    assert last(after) == (Status.SUBMITTED, "OrderNews:ACCEPTED", "status recorded, no effect")


@pytest.mark.parametrize(
    "status", ["SUCCESS", "CLOSED", "CHECK_WAS_UPDATED", "IN_DELIVERY", "READY_FOR_PICKUP"]
)
def test_every_on_the_pos_status_confirms_a_submitted_order(status: str) -> None:
    p = fresh()
    order = apply(submitted(p), OrderNews("k", status, snapshot=check()), T0 + 5 * S, p)
    assert order.status is Status.SETTLING


def test_account_news_naming_our_order_confirms_it() -> None:
    p = fresh()
    order = apply(submitted(p), AccountNews("k", "UPDATE", snapshot=check()), T0 + 5 * S, p)
    assert order.history[-2].event == "AccountNews:UPDATE"
    assert order.status is Status.SETTLING


def test_news_that_a_failed_order_is_on_the_pos_after_all_needs_a_person() -> None:
    p = fresh()
    order = apply(failed(p), OrderNews("k", "SUCCESS", snapshot=check()), T0 + 5 * S, p)
    reason = "on the POS, though reported failed (rejected by K-Series: bad)"
    assert last(order) == (Status.NEEDS_ATTENTION, "OrderNews:SUCCESS", reason)
    assert (order.failure_reason, order.account_identifier) == (reason, ACCOUNT)


def test_news_that_an_order_given_up_on_is_on_the_pos_settles_it() -> None:
    p = fresh()
    order = apply(unknown_outcome(), OrderNews("k", "SUCCESS", snapshot=check()), T0, p)
    assert [(h.status, h.detail) for h in order.history[-2:]] == [
        (Status.CONFIRMED, "on the POS after all (orderflow had not been able to look)"),
        (Status.SETTLING, "paying 1.65 under pay-1 (attempt 1)"),
    ]
    assert (order.failure_reason, order.outcome_unknown) == (None, False)


def test_news_that_an_order_given_up_on_and_replayed_is_on_the_pos_warns_of_two_orders() -> None:
    p = fresh()
    news = OrderNews("k", "SUCCESS", snapshot=check())
    order = apply(unknown_outcome("shop-1-r1"), news, T0, p)
    reason = (
        "on the POS after all (not confirmed: (sale: 503)); replayed as shop-1-r1:"
        " two orders may be on the POS"
    )
    assert last(order) == (Status.NEEDS_ATTENTION, "OrderNews:SUCCESS", reason)
    assert (order.failure_reason, order.outcome_unknown, order.total) == (
        reason,
        False,
        Decimal("18.15"),
    )


def test_news_for_a_needs_attention_order_on_the_pos_is_recorded_only() -> None:
    p = fresh()
    order = needs_attention(p)
    after = apply(order, OrderNews("k", "CLOSED"), T0 + 5 * S, p)
    assert unchanged_but_history(order, after)
    assert last(after) == (Status.NEEDS_ATTENTION, "OrderNews:CLOSED", "recorded")


@pytest.mark.parametrize("snap", [Snapshot(ACCOUNT), Snapshot(None, Decimal("18.15"))])
def test_news_with_account_data_settles_a_confirmed_order(snap: Snapshot) -> None:
    p = fresh()
    order = confirmed(p, account=None)
    after = apply(order, OrderNews("k", "CLOSED", snapshot=snap), T0 + 5 * S, p)
    entry = after.history[len(order.history)]
    assert (entry.status, entry.event, entry.detail) == (
        Status.CONFIRMED,
        "OrderNews:CLOSED",
        "account data",
    )
    assert last(after)[1] == "settle"


def test_news_with_the_check_starts_paying_a_confirmed_orders_remainder() -> None:
    p = fresh()
    order = confirmed(p, account=None)
    after = apply(order, OrderNews("k", "CLOSED", snapshot=check()), T0 + 5 * S, p)
    assert (after.status, after.account_identifier, after.outstanding) == (
        Status.SETTLING,
        ACCOUNT,
        Decimal("1.65"),
    )
    assert last(after) == (Status.SETTLING, "payment.start", "paying 1.65 under pay-1 (attempt 1)")


def test_news_without_account_data_for_a_confirmed_order_is_recorded_only() -> None:
    p = fresh()
    order = confirmed(p, account=None)
    after = apply(order, OrderNews("k", "CLOSED"), T0 + 5 * S, p)
    assert last(after) == (Status.CONFIRMED, "OrderNews:CLOSED", "recorded")


def test_news_with_our_payment_on_the_check_completes_a_settling_order() -> None:
    p = fresh()
    news = OrderNews("k", "CLOSED", snapshot=check("18.15", "18.15", "pay-1"))
    order = apply(settling(p), news, T0 + 5 * S, p)
    assert last(order) == (Status.COMPLETED, "check.read", "payment pay-1 is on the check")
    other = OrderNews("k", "CLOSED", snapshot=check("18.15", "17.00", "pay-9"))
    after = apply(settling(fresh()), other, T0 + 5 * S, p)
    assert last(after) == (Status.SETTLING, "OrderNews:CLOSED", "recorded")
    assert (after.paid, after.outstanding) == (Decimal("17.00"), Decimal("1.15"))

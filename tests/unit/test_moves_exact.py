"""The lifecycle's building blocks, exactly: the history kept, forward-only moves, the facts a
check may write into the record, when settlement starts and which reference it pays under."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from config.settings import Confirmation
from tests.builders import T0, new_order
from tests.unit.lifecycle_states import (
    ACCOUNT,
    S,
    check,
    completed,
    confirmed,
    fresh,
    last,
    needs_attention,
    settling,
    submitted,
)
from worker.events import (
    AccountNews,
    CheckMissing,
    OrderNews,
    PaymentNews,
    Retry,
    SaleFound,
    Snapshot,
    SubmitAccepted,
)
from worker.lifecycle import apply, reopen_for_settlement
from worker.lifecycle.moves import (
    HISTORY_HEAD,
    HISTORY_TAIL,
    event_name,
    first_check,
    merge,
    move,
    note,
    revise,
    start_payment,
)
from worker.order import HistoryEntry, Order, Payment, Status


def with_history(order: Order, length: int) -> Order:
    entries = tuple(HistoryEntry(at=T0, status=Status.QUEUED, event=f"e{i}") for i in range(length))
    return order.model_copy(update={"history": entries})


# --- history ------------------------------------------------------------------------------


def test_the_history_keeps_all_of_its_first_two_hundred_entries() -> None:
    order = note(with_history(new_order(), 199), T0, "e199", "")
    assert [h.event for h in order.history] == [f"e{i}" for i in range(200)]


def test_a_longer_history_keeps_its_first_twenty_and_last_hundred_and_eighty_entries() -> None:
    assert (HISTORY_HEAD, HISTORY_TAIL) == (20, 180)
    order = note(with_history(new_order(), 200), T0, "e200", "")
    events = [h.event for h in order.history]
    assert events == [f"e{i}" for i in range(20)] + [f"e{i}" for i in range(21, 201)]


def test_a_note_records_the_event_at_the_current_status_and_applies_the_updates() -> None:
    order = note(new_order(), T0 + S, "thing", "what happened", last_error="x")
    assert order.history[-1] == HistoryEntry(
        at=T0 + S, status=Status.QUEUED, event="thing", detail="what happened"
    )
    assert (order.status, order.last_error) == (Status.QUEUED, "x")


# --- moves --------------------------------------------------------------------------------


def test_a_move_records_the_new_status_and_keeps_the_timer_of_a_live_order() -> None:
    order = new_order().model_copy(update={"wake_at": T0 + S})
    moved = move(order, Status.SUBMITTED, T0, "ev", "why", last_error="e")
    assert (moved.status, moved.wake_at, moved.last_error) == (Status.SUBMITTED, T0 + S, "e")
    assert moved.history[-1] == HistoryEntry(
        at=T0, status=Status.SUBMITTED, event="ev", detail="why"
    )


def test_a_move_to_the_same_status_is_allowed_and_a_move_back_is_not() -> None:
    order = new_order().model_copy(update={"status": Status.CONFIRMED})
    assert move(order, Status.CONFIRMED, T0, "ev", "").status is Status.CONFIRMED
    with pytest.raises(AssertionError, match="illegal transition confirmed -> submitted"):
        move(order, Status.SUBMITTED, T0, "ev", "")


def test_a_terminal_order_cannot_move_even_to_a_higher_rank() -> None:
    order = new_order().model_copy(update={"status": Status.NEEDS_ATTENTION})
    with pytest.raises(AssertionError, match="illegal transition needs_attention -> resolved"):
        move(order, Status.RESOLVED, T0, "ev", "")


def test_a_move_to_a_terminal_status_clears_the_timer_unless_told_otherwise() -> None:
    order = new_order().model_copy(update={"wake_at": T0 + S})
    assert move(order, Status.FAILED, T0, "ev", "").wake_at is None
    assert move(order, Status.FAILED, T0, "ev", "", wake_at=T0).wake_at == T0


def test_a_revision_leaves_only_a_terminal_status_and_clears_the_timer_of_a_terminal_one() -> None:
    live = new_order().model_copy(update={"wake_at": T0 + S})
    with pytest.raises(AssertionError, match="not a revision: queued -> failed"):
        revise(live, Status.FAILED, T0, "ev", "")
    gone = live.model_copy(update={"status": Status.FAILED})
    revised = revise(gone, Status.NEEDS_ATTENTION, T0, "ev", "why", last_error="e")
    assert (revised.status, revised.wake_at, revised.last_error) == (
        Status.NEEDS_ATTENTION,
        None,
        "e",
    )
    assert revised.history[-1] == HistoryEntry(
        at=T0, status=Status.NEEDS_ATTENTION, event="ev", detail="why"
    )
    assert revise(gone, Status.CONFIRMED, T0, "ev", "").wake_at == T0 + S
    assert revise(gone, Status.FAILED, T0, "ev", "", wake_at=T0).wake_at == T0


# --- merge --------------------------------------------------------------------------------


def test_a_verified_check_writes_its_account_and_amounts_rounded_to_the_cent() -> None:
    snap = Snapshot(ACCOUNT, Decimal("18.125"), Decimal("16.50"))
    assert merge(snap) == {
        "account_identifier": ACCOUNT,
        "total": Decimal("18.13"),
        "paid": Decimal("16.50"),
        "outstanding": Decimal("1.63"),
    }


def test_an_overpaid_check_has_nothing_outstanding_rather_than_a_negative_amount() -> None:
    facts = merge(Snapshot(ACCOUNT, Decimal("10.00"), Decimal("12.00")))
    assert facts["outstanding"] == Decimal("0.00")


def test_what_a_notification_claims_writes_nothing() -> None:
    snap = Snapshot(ACCOUNT, Decimal("18.15"), Decimal("16.50"), verified=False)
    assert merge(snap) == {}


@pytest.mark.parametrize(
    "snap",
    [
        Snapshot("", Decimal("1"), None),
        Snapshot(None, None, Decimal("1")),
        Snapshot(None, Decimal("3"), Decimal("1"), unreadable="a line without an amount"),
    ],
)
def test_a_check_without_both_readable_amounts_writes_no_amounts(snap: Snapshot) -> None:
    assert merge(snap) == {}


@pytest.mark.parametrize(
    ("total", "paid"),
    [("2000000000", "1"), ("1", "-1"), ("1E+40", "1")],  # beyond the bound, negative, absurd
)
def test_amounts_the_record_could_not_hold_are_left_out_and_the_account_kept(
    total: str, paid: str
) -> None:
    facts = merge(Snapshot(ACCOUNT, Decimal(total), Decimal(paid)))
    assert facts == {"account_identifier": ACCOUNT}


def test_an_account_the_record_could_not_hold_is_left_out_and_the_amounts_kept() -> None:
    facts = merge(Snapshot("x" * 500, Decimal("2"), Decimal("1")))
    assert facts == {
        "total": Decimal("2.00"),
        "paid": Decimal("1.00"),
        "outstanding": Decimal("1.00"),
    }


# --- settlement starts --------------------------------------------------------------------


def test_a_payment_starts_under_a_reference_neither_the_order_nor_an_earlier_payment_uses() -> None:
    p = fresh()
    order = settling(p).model_copy(update={"poll_attempts": 6, "wake_at": None})  # pay-1
    handed = iter(["shop-1", "pay-1", "pay-7"])
    q = fresh(new_payment_reference=lambda: next(handed))
    again = start_payment(order, T0 + 2 * S, q, Decimal("1.65"), attempt=2)
    payment = again.payments[-1]
    assert payment == Payment(
        reference="pay-7",
        amount=Decimal("1.65"),
        attempt=2,
        created_at=T0 + 2 * S,
        deadline=T0 + 2 * S + q.payment_ttl + q.payment_grace,
    )
    assert (again.status, again.wake_at, again.poll_attempts) == (
        Status.SETTLING,
        T0 + 2 * S,
        0,
    )
    assert last(again) == (
        Status.SETTLING,
        "payment.start",
        "paying 1.65 under pay-7 (attempt 2)",
    )
    assert len(again.history) == len(order.history) + 1


def test_the_first_payment_moves_the_order_to_settling_with_its_attempt_one() -> None:
    p = fresh()
    order = apply(submitted(p), SaleFound(check()), T0 + S, p)
    assert [(h.status, h.event, h.detail) for h in order.history[-2:]] == [
        (Status.CONFIRMED, "sale.found", "on the POS"),
        (Status.SETTLING, "payment.start", "paying 1.65 under pay-1 (attempt 1)"),
    ]
    assert (order.wake_at, order.poll_attempts) == (T0 + S, 0)


def test_a_confirmed_order_whose_outstanding_is_unknown_reads_its_check_at_once() -> None:
    p = fresh()
    order = confirmed(p)
    assert last(order) == (
        Status.CONFIRMED,
        "settle",
        "outstanding amount unknown: reading the check",
    )
    assert order.wake_at == T0 + S
    no_account = confirmed(fresh(), account=None)
    assert last(no_account)[2] == "outstanding amount unknown: reading the check"


def test_an_order_without_settle_remaining_completes_saying_so() -> None:
    order = completed(fresh())
    assert last(order) == (
        Status.COMPLETED,
        "settle",
        "nothing to settle (no settleRemaining)",
    )


def test_a_remainder_under_one_unit_is_paid_too() -> None:
    p = fresh()
    order = apply(submitted(p), SaleFound(check("17.00", "16.50")), T0 + S, p)
    assert [x.amount for x in order.payments] == [Decimal("0.50")]


@pytest.mark.parametrize(("total", "paid"), [("16.50", "16.50"), ("16.50", "20.00")])
def test_nothing_outstanding_completes(total: str, paid: str) -> None:
    p = fresh()
    order = apply(submitted(p), SaleFound(check(total, paid)), T0 + S, p)
    assert last(order) == (Status.COMPLETED, "settle", "nothing outstanding")
    assert order.payments == ()


def test_a_remainder_just_above_the_cap_needs_attention_and_one_at_it_is_paid() -> None:
    p = fresh()
    order = needs_attention(p)
    reason = "remainder 1.65 exceeds the allowed 1.00"
    assert last(order) == (Status.NEEDS_ATTENTION, "settle", reason)
    assert order.failure_reason == reason
    at_cap = apply(submitted(p, settle="1.65"), SaleFound(check()), T0 + S, p)
    assert at_cap.status is Status.SETTLING


def test_an_operator_replay_continues_the_attempt_count_of_earlier_payments() -> None:
    p = fresh()
    order = settling(p)
    order = apply(order, CheckMissing(), T0 + 2 * S, p)
    order = order.model_copy(update={"poll_attempts": 7, "wake_at": None})
    replayed = reopen_for_settlement(order, T0 + 3 * S, "replayed by ops")
    assert (replayed.status, replayed.failure_reason, replayed.outstanding) == (
        Status.CONFIRMED,
        None,
        None,
    )
    assert (replayed.wake_at, replayed.poll_attempts, replayed.attempt_base) == (T0 + 3 * S, 0, 1)
    assert replayed.history[:-1] == order.history
    assert replayed.history[-1] == HistoryEntry(
        at=T0 + 3 * S, status=Status.CONFIRMED, event="operator.replay", detail="replayed by ops"
    )
    paid = apply(replayed, SaleFound(check()), T0 + 4 * S, p)
    assert [(x.reference, x.attempt) for x in paid.payments] == [("pay-1", 1), ("pay-2", 2)]


def test_only_a_needs_attention_order_on_the_pos_can_be_replayed() -> None:
    p = fresh()
    message = "only a needs_attention order that is on the POS can be settled again"
    with pytest.raises(ValueError) as caught:
        reopen_for_settlement(settling(p), T0, "x")
    assert str(caught.value) == message
    not_on_pos = needs_attention(p).model_copy(update={"account_identifier": None})
    with pytest.raises(ValueError) as caught:
        reopen_for_settlement(not_on_pos, T0, "x")
    assert str(caught.value) == message


# --- the first check after a submit -------------------------------------------------------


@pytest.mark.parametrize(
    ("confirmation", "after"),
    [(Confirmation.HYBRID, 3), (Confirmation.POLL, 1), (Confirmation.WEBHOOK, 61)],
)
def test_the_first_check_is_the_webhook_wait_the_first_poll_or_the_deadline(
    confirmation: Confirmation, after: int
) -> None:
    p = fresh(confirmation, confirm_grace=timedelta(seconds=1))
    assert first_check(new_order(), T0, p, T0 + 61 * S) == T0 + after * S


def test_the_first_check_never_comes_after_the_deadline() -> None:
    p = fresh(webhook_wait=timedelta(seconds=10))
    assert first_check(new_order(), T0, p, T0 + 4 * S) == T0 + 4 * S


def test_a_scheduled_order_is_first_checked_from_its_scheduled_time() -> None:
    later = T0 + timedelta(hours=2)
    order = new_order(scheduledTimeForOrderAsIso8601=later.isoformat())
    assert first_check(order, T0, fresh(), later + 60 * S) == later + 3 * S
    assert first_check(order, later + S, fresh(), later + 60 * S) == later + 4 * S


# --- event names --------------------------------------------------------------------------


def test_the_history_names_news_by_its_kind_and_status() -> None:
    assert event_name(OrderNews("k", "CLOSED")) == "OrderNews:CLOSED"
    assert event_name(PaymentNews("k", "pay-1", "SUCCESS")) == "PaymentNews:SUCCESS"
    assert event_name(AccountNews("k", "UPDATE")) == "AccountNews:UPDATE"
    assert event_name(Retry("sale", "x")) == "Retry"
    assert event_name(SubmitAccepted()) == "SubmitAccepted"


def test_a_seen_notification_is_recorded_once_and_an_unreadable_check_is_noted() -> None:
    p = fresh()
    order = submitted(p)
    snap = Snapshot(ACCOUNT, None, None, unreadable="line 3 has no amount")
    news = OrderNews("n1", "SUCCESS", snapshot=snap)
    once = apply(order, news, T0 + S, p)
    assert once.seen == ("n1",)
    assert (once.history[len(order.history)].event, once.history[len(order.history)].detail) == (
        "OrderNews:SUCCESS",
        "ignored: unreadable check: line 3 has no amount",
    )
    twice = apply(once, news, T0 + 2 * S, p)
    assert twice.history[:-1] == once.history
    assert last(twice) == (
        once.status,
        "OrderNews:SUCCESS",
        "duplicate notification, already applied",
    )
    assert twice.seen == ("n1",)


def test_only_the_last_two_hundred_notification_keys_are_remembered() -> None:
    p = fresh()
    order = settling(p).model_copy(update={"seen": tuple(f"k{i}" for i in range(200))})
    order = apply(order, OrderNews("k200", "CHECK_WAS_UPDATED"), T0 + 2 * S, p)
    assert order.seen == tuple(f"k{i}" for i in range(1, 201))

"""Property-based: any events, in any order, duplicated, leave an order in a lawful state."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.builders import T0, new_order, policy
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
from worker.lifecycle import apply
from worker.order import PaymentStatus, Status

refs = st.sampled_from(["pay-1", "pay-2", "pay-3", "pay-x"])
amounts = st.sampled_from(["16.50", "18.15", "0.00", "30.00"])
snapshots = st.builds(
    lambda total, paid, seen: Snapshot("A1.1", Decimal(total), Decimal(paid), frozenset(seen)),
    amounts,
    amounts,
    st.frozensets(refs, max_size=2),
)
keys = st.sampled_from(["k1", "k2", "k3", "k4"])
events: st.SearchStrategy[Event] = st.one_of(
    st.builds(SubmitAccepted, st.booleans()),
    st.builds(SubmitRejected, st.just("field: bad")),
    st.just(SubmitDeadline()),
    st.builds(
        Retry,
        st.sampled_from(["submit", "sale", "check", "pay"]),
        st.just("503"),
        st.none() | st.floats(0, 60),
    ),
    st.builds(SaleFound, snapshots),
    st.just(SaleNotFound()),
    st.builds(CheckRead, snapshots),
    st.just(CheckMissing()),
    st.builds(PaymentAccepted, refs, st.booleans()),
    st.builds(PaymentRejected, refs, st.just("bad")),
    st.builds(
        OrderNews,
        keys,
        st.sampled_from(
            [
                "SUCCESS",
                "FAILURE",
                "CLOSED",
                "CHECK_WAS_UPDATED",
                "CANCELLED",
                "IN_DELIVERY",
                "WHAT",
            ]
        ),
        st.none() | st.just("reason"),
        snapshots,
    ),
    st.builds(AccountNews, keys, st.sampled_from(["OPEN", "UPDATE", "CLOSE", "CANCEL"]), snapshots),
    st.builds(
        PaymentNews,
        keys,
        refs,
        st.sampled_from(["SUCCESS", "FAILURE"]),
        st.none() | st.just("the payment amount is greater than the amount due"),
        st.none() | st.sampled_from(["OVERPAID", "ACCOUNT_ALREADY_CLOSED", "UNKNOWN"]),
        st.booleans(),
    ),
)
steps = st.lists(st.tuples(events, st.integers(0, 400)), max_size=40)


@settings(max_examples=400, deadline=None)
@given(steps=steps, settle=st.sampled_from([None, "5.00", "1.00"]))
def test_any_event_sequence_keeps_every_invariant(
    steps: list[tuple[Event, int]], settle: str | None
) -> None:
    p = policy()
    order = new_order(settle=settle)
    now = T0
    for event, seconds in steps:
        now += timedelta(seconds=seconds)
        before = order
        order = apply(order, event, now, p)
        # never backwards; terminal is final; every event leaves a trace
        assert order.status.rank >= before.status.rank
        if before.status.terminal:
            assert order.status is before.status
        assert len(order.history) >= min(len(before.history) + 1, 200)
        # at most one payment in flight, a new one only after the previous is known not applied
        in_flight = [
            q
            for q in order.payments
            if q.status in (PaymentStatus.PENDING, PaymentStatus.SENT, PaymentStatus.UNCERTAIN)
        ]
        assert len(in_flight) <= 1
        for earlier, later in zip(order.payments, order.payments[1:], strict=False):
            assert earlier.status in (PaymentStatus.FAILED, PaymentStatus.APPLIED)
            assert later.attempt == earlier.attempt + 1
        assert len(order.payments) <= p.max_payment_attempts
        assert len({q.reference for q in order.payments}) == len(order.payments)
        assert all(q.reference != order.reference for q in order.payments)
        # payments only in settling (or after it), and never for more than the allowed maximum
        if order.payments:
            assert order.status.rank >= Status.SETTLING.rank
            assert order.settle is not None
            assert all(q.amount <= order.settle.maxAmount for q in order.payments)
        if order.status in (Status.FAILED, Status.NEEDS_ATTENTION):
            assert order.failure_reason
        if order.status.terminal:
            assert order.wake_at is None
        else:
            assert (
                order.wake_at is not None
                or order.status is Status.QUEUED
                or order.status is Status.CONFIRMED
            )


@settings(max_examples=200, deadline=None)
@given(steps=steps)
def test_replaying_the_same_notifications_twice_changes_nothing_the_second_time(
    steps: list[tuple[Event, int]],
) -> None:
    p = policy()
    order = new_order()
    notifications = [e for e, _ in steps if isinstance(e, OrderNews | PaymentNews | AccountNews)]
    for event in notifications:
        order = apply(order, event, T0, p)
    again = order
    for event in notifications:
        again = apply(again, event, T0, p)
    assert again.status is order.status
    assert again.payments == order.payments

"""Deadlines that pass while K-Series cannot be asked: back off from now, stop after a few
looks, and never call an order failed only because orderflow could not look."""

from __future__ import annotations

from datetime import timedelta

from tests.builders import BL, T0, new_order, policy
from tests.scripted_kseries import OK, SALE, Clock, Script, engine, order_of, queued, sweep
from worker.events import OrderNews, Retry, SaleNotFound, Snapshot, SubmitAccepted
from worker.lifecycle import apply
from worker.lifecycle.retries import MAX_LATE_LOOKUPS
from worker.order import Status

P = policy()
UNSEEN = Snapshot(verified=False)
CHECK_WITHOUT_OUR_PAYMENT = {
    "ikaccountId": "A1.1",
    "currentAmount": "18.15",
    "paidAmount": "16.50",
    "paymentEntries": [],
}


def test_a_sale_lookup_failing_after_the_submit_deadline_backs_off_from_now_then_ends_the_order() -> (
    None
):
    # Given K-Series answers 503 to every submit and the finance API 503 to every lookup
    clock = Clock()
    script = Script(clock, order_local=[(503, {})], saleByExternalReference=[(503, {})])
    e = engine(script)
    deadline = queued(e, ttl_ms=60_000).submit_deadline
    # When the sweeper runs until a minute past the submit deadline
    sweep(e, (deadline - clock.now).total_seconds() + 60)
    # Then a few lookups were made after the deadline, not eight per sweep
    assert script.count("saleByExternalReference", since=deadline) == MAX_LATE_LOOKUPS
    # and the order needs a person: it may have reached the POS
    order = order_of(e, "shop-1")
    assert order.status is Status.NEEDS_ATTENTION
    assert order.outcome_unknown
    assert order.failure_reason == (
        "not confirmed: sent without a usable answer before the submit deadline, but its sale"
        f" could not be looked up (sale: /f/finance/{BL}/saleByExternalReference answered 503)"
    )


def test_a_payment_past_its_send_window_reads_the_check_with_backoff_not_in_a_loop() -> None:
    # Given an order on the POS with 1.65 to settle, whose payment POSTs all fail
    clock = Clock()
    script = Script(
        clock,
        order_local=[(200, OK)],
        saleByExternalReference=[(200, SALE)],
        pay=[(503, {})],
        accounts=[(200, CHECK_WITHOUT_OUR_PAYMENT)],
    )
    e = engine(script, payment_ttl=timedelta(seconds=60))
    queued(e)
    sweep(e, 15)
    payment = order_of(e, "shop-1").current_payment
    assert payment is not None
    window_ends = payment.created_at + timedelta(seconds=60)
    # When the sweeper runs for a minute after the payment's send window ended
    sweep(e, (window_ends - clock.now).total_seconds() + 60)
    # Then the check was read a few times, backing off, not eight times per sweep
    reads = script.count("/accounts/", since=window_ends)
    assert 1 <= reads <= 4
    assert order_of(e, "shop-1").status is Status.SETTLING


def test_an_accepted_order_whose_sale_cannot_be_looked_up_needs_attention_then_settles_on_success() -> (
    None
):
    # Given an order K-Series accepted, while its finance API refuses our token
    clock = Clock()
    script = Script(
        clock,
        order_local=[(200, OK)],
        saleByExternalReference=[(401, {"error": "invalid_token"})],
        pay=[(200, OK)],
    )
    e = engine(script)
    queued(e)
    # When the confirm deadline passes and the lookups after it fail too
    sweep(e, 1500)
    # Then orderflow says it needs a person, not that the order failed
    order = order_of(e, "shop-1")
    assert order.status is Status.NEEDS_ATTENTION
    assert order.outcome_unknown
    assert order.failure_reason is not None
    assert order.failure_reason.startswith(
        "not confirmed: accepted by K-Series, but its sale could not be looked up ("
    )
    assert "401" in order.failure_reason
    assert script.count("/pay") == 0
    # When the token works again and K-Series' SUCCESS arrives
    script.answers["saleByExternalReference"] = [(200, SALE)]
    success = {
        "type": "ORDER",
        "status": "SUCCESS",
        "thirdPartyReference": "shop-1",
        "businessLocationId": BL,
    }
    e.apply_notification(e.store.record_notification(success, clock.now))
    # Then the order is settled as if the news had come in time
    order = order_of(e, "shop-1")
    assert order.status is Status.SETTLING
    assert script.count("/pay") == 1
    events = [h.event for h in order.history]
    assert events[events.index("OrderNews:SUCCESS") :] == [
        "OrderNews:SUCCESS",  # needs_attention -> confirmed
        "settle",  # the amounts are K-Series' to tell: look the sale up
        "sale.found",
        "payment.start",
        "payment.accepted",
    ]


def test_a_failed_order_that_turns_out_to_be_on_the_pos_needs_attention() -> None:
    # Given an order failed by a 404 at its confirm deadline
    order = apply(new_order(), SubmitAccepted(), T0, P)
    assert order.confirm_deadline is not None
    order = apply(order, SaleNotFound(), order.confirm_deadline, P)
    assert order.status is Status.FAILED
    # When K-Series says it is on the POS after all
    order = apply(order, OrderNews("k1", "SUCCESS", snapshot=UNSEEN), T0 + timedelta(hours=1), P)
    # Then a person must look: the producer was told it failed
    assert order.status is Status.NEEDS_ATTENTION
    assert order.failure_reason == (
        "on the POS, though reported failed (not on the POS before its delivery deadline)"
    )


def test_k_series_failure_after_orderflow_gave_up_looking_fails_the_order() -> None:
    order = apply(new_order(), SubmitAccepted(), T0, P)
    assert order.confirm_deadline is not None
    now = order.confirm_deadline
    for _ in range(MAX_LATE_LOOKUPS):
        order = apply(order, Retry("sale", "503"), now, P)
        now += timedelta(minutes=1)
    assert (order.status, order.outcome_unknown) == (Status.NEEDS_ATTENTION, True)
    order = apply(order, OrderNews("k1", "FAILURE", reason="No devices available"), now, P)
    assert order.status is Status.FAILED
    assert order.failure_reason == "No devices available"
    assert not order.outcome_unknown


def test_a_success_for_an_order_replayed_after_giving_up_needs_attention() -> None:
    order = apply(new_order(), SubmitAccepted(), T0, P)
    assert order.confirm_deadline is not None
    for n in range(MAX_LATE_LOOKUPS):
        order = apply(order, Retry("sale", "503"), order.confirm_deadline + n * P.poll_max, P)
    order = order.model_copy(update={"replayed_as": f"{BL}:shop-1-r1"})
    order = apply(order, OrderNews("k1", "SUCCESS", snapshot=UNSEEN), T0 + timedelta(hours=1), P)
    assert order.status is Status.NEEDS_ATTENTION
    assert order.failure_reason is not None
    assert order.failure_reason.endswith(
        f"replayed as {BL}:shop-1-r1: two orders may be on the POS"
    )
    assert not order.payments


def test_retries_after_the_confirm_deadline_wake_from_now() -> None:
    order = apply(new_order(), SubmitAccepted(), T0, P)
    assert order.confirm_deadline is not None
    late = order.confirm_deadline + timedelta(seconds=5)
    order = apply(order, Retry("sale", "503"), late, P)
    assert order.status is Status.SUBMITTED
    assert order.wake_at == late + P.poll_initial


def test_an_order_no_worker_sent_before_its_deadline_is_not_called_unreachable() -> None:
    # Given an order that waited behind a backlog and was never tried (no call, no error),
    from tests.builders import T0, new_order, policy
    from worker.events import SubmitDeadline
    from worker.lifecycle import apply
    from worker.order import Status

    order = new_order()
    assert order.submit_attempts == 0 and order.last_error is None

    # when its submit deadline comes,
    failed = apply(order, SubmitDeadline(), order.submit_deadline, policy())

    # then it fails for what happened (nothing was sent), not for an outage nobody saw.
    assert failed.status is Status.FAILED
    assert failed.failure_reason == (
        "not sent: no worker was free to send it before the submit deadline"
    )
    assert failed.history[-1].at >= T0

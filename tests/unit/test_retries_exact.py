"""Failed and held-back calls, exactly: the wake time, the counters, the error kept and the
history line, before a deadline, at it, after it, and at each limit.

With the pinned policy (`rand` = 1.0) a backoff is its full step: 1 s, 2 s, 4 s ... for calls,
60 s, 120 s ... for credentials. A queued order's submit deadline is T0 + 60 s; a submitted
one's confirm deadline T0 + 90 s (60 s delivery TTL + 30 s grace).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.builders import T0
from tests.unit.lifecycle_states import (
    S,
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
    AccessDenied,
    Held,
    LocationReady,
    Retry,
    Throttled,
)
from worker.lifecycle import apply
from worker.lifecycle.retries import MAX_LATE_LOOKUPS, MAX_READ_ATTEMPTS
from worker.order import Status

DENIED = "access denied by K-Series; tries are minutes apart until the credentials change"
SUBMIT_DEADLINE = T0 + 60 * S
CONFIRM_DEADLINE = T0 + 90 * S


# --- Retry --------------------------------------------------------------------------------


def test_a_failed_submit_waits_one_backoff_step_and_counts_the_attempt() -> None:
    order = apply(queued(), Retry("submit", "503"), T0, fresh())
    assert (order.wake_at, order.submit_attempts, order.poll_attempts) == (T0 + S, 1, 0)
    assert order.last_error == "submit: 503"
    assert last(order) == (Status.QUEUED, "retry", "submit: 503")
    again = apply(order, Retry("submit", "504"), T0 + S, fresh())
    assert (again.wake_at, again.submit_attempts) == (T0 + 3 * S, 2)


def test_retry_after_is_a_floor_with_up_to_a_quarter_more_as_jitter() -> None:
    order = apply(queued(), Retry("submit", "429", retry_after_s=8), T0, fresh())
    assert order.wake_at == T0 + 10 * S
    half = fresh(rand=lambda: 0.5)
    order = apply(queued(), Retry("submit", "429", retry_after_s=8), T0, half)
    assert order.wake_at == T0 + 9 * S


def test_a_retry_after_shorter_than_the_backoff_does_not_shorten_it() -> None:
    order = apply(queued(), Retry("submit", "429", retry_after_s=0.5), T0, fresh())
    assert order.wake_at == T0 + S


def test_a_failed_submit_never_wakes_after_the_submit_deadline() -> None:
    order = queued().model_copy(update={"submit_attempts": 9})
    order = apply(order, Retry("submit", "503"), T0 + 59 * S, fresh())
    assert order.wake_at == SUBMIT_DEADLINE


def test_a_failed_lookup_of_a_submitted_order_backs_off_to_at_most_its_confirm_deadline() -> None:
    p = fresh()
    order = apply(submitted(p), Retry("sale", "503"), T0 + 10 * S, p)
    assert (order.wake_at, order.poll_attempts, order.last_error) == (
        T0 + 11 * S,
        1,
        "sale: 503",
    )
    assert last(order) == (Status.SUBMITTED, "retry", "sale: 503")
    late = apply(order, Retry("sale", "503"), T0 + 89 * S, p)
    assert (late.wake_at, late.poll_attempts) == (CONFIRM_DEADLINE, 2)


def test_a_terminal_order_only_notes_a_failed_call() -> None:
    p = fresh()
    order = completed(p)
    after = apply(order, Retry("sale", "503"), T0 + 5 * S, p)
    assert after.model_copy(update={"history": order.history}) == order
    assert last(after) == (Status.COMPLETED, "retry", "ignored: sale: 503")
    denied = apply(order, AccessDenied("sale", "401"), T0 + 5 * S, p)
    assert last(denied) == (Status.COMPLETED, "access.denied", f"ignored: sale: 401: {DENIED}")


# --- AccessDenied -------------------------------------------------------------------------


def test_a_submit_refused_for_our_credentials_waits_minutes_without_spending_an_attempt() -> None:
    p = fresh()
    order = apply(queued(ttl_ms=3_600_000), AccessDenied("submit", "401"), T0, p)
    assert (order.wake_at, order.poll_attempts, order.submit_attempts) == (T0 + 60 * S, 1, 0)
    assert order.last_error == "access denied: submit: 401"
    assert last(order) == (Status.QUEUED, "access.denied", f"submit: 401: {DENIED}")
    again = apply(order, AccessDenied("submit", "401"), T0 + 60 * S, p)
    assert (again.wake_at, again.poll_attempts) == (T0 + 180 * S, 2)


def test_a_denied_submit_never_wakes_after_the_submit_deadline() -> None:
    order = apply(queued(), AccessDenied("submit", "403"), T0 + 30 * S, fresh())
    assert order.wake_at == SUBMIT_DEADLINE


def test_a_denied_lookup_of_a_submitted_order_counts_a_poll_attempt() -> None:
    p = fresh()
    order = apply(submitted(p), AccessDenied("sale", "403"), T0 + 10 * S, p)
    assert (order.wake_at, order.poll_attempts, order.last_error) == (T0 + 70 * S, 1, "sale: 403")
    assert last(order) == (Status.SUBMITTED, "access.denied", f"sale: 403: {DENIED}")


# --- past the deadline --------------------------------------------------------------------


def test_a_submit_failing_at_its_deadline_makes_the_deadline_step_due_at_once() -> None:
    p = fresh()
    order = apply(queued(), Retry("submit", "503"), SUBMIT_DEADLINE, p)
    assert (order.wake_at, order.submit_attempts, order.last_error) == (
        SUBMIT_DEADLINE,
        1,
        "submit: 503",
    )
    assert order.late_lookups == 0
    assert last(order) == (Status.QUEUED, "retry", "submit: 503")


def test_a_submit_denied_at_its_deadline_makes_the_deadline_step_due_without_an_attempt() -> None:
    p = fresh()
    order = apply(queued(), AccessDenied("submit", "401"), SUBMIT_DEADLINE, p)
    assert (order.wake_at, order.submit_attempts, order.poll_attempts) == (SUBMIT_DEADLINE, 0, 0)
    assert order.last_error == "access denied: submit: 401"
    assert last(order) == (Status.QUEUED, "access.denied", f"submit: 401: {DENIED}")


def test_lookups_failing_after_the_submit_deadline_back_off_and_keep_the_submit_error() -> None:
    p = fresh()
    order = queued().model_copy(update={"last_error": "submit: 503"})
    order = apply(order, Retry("sale", "502"), SUBMIT_DEADLINE, p)
    assert (order.wake_at, order.late_lookups, order.last_error) == (
        SUBMIT_DEADLINE + S,
        1,
        "submit: 503",
    )
    assert last(order) == (
        Status.QUEUED,
        "retry",
        f"sale: 502 (lookup 1 of {MAX_LATE_LOOKUPS} after the deadline)",
    )
    order = apply(order, Retry("sale", "502"), SUBMIT_DEADLINE + S, p)
    assert (order.wake_at, order.late_lookups) == (SUBMIT_DEADLINE + 3 * S, 2)


def test_the_fifth_lookup_failing_after_the_submit_deadline_hands_the_order_to_a_person() -> None:
    p = fresh()
    assert MAX_LATE_LOOKUPS == 5
    order = queued().model_copy(update={"late_lookups": 3, "wake_at": T0})
    order = apply(order, AccessDenied("sale", "401"), T0 + 70 * S, p)
    assert (order.status, order.late_lookups, order.wake_at) == (Status.QUEUED, 4, T0 + 550 * S)
    assert order.last_error is None
    assert last(order)[2] == f"sale: 401: {DENIED} (lookup 4 of 5 after the deadline)"
    order = apply(order, AccessDenied("sale", "401"), T0 + 80 * S, p)
    reason = (
        "not confirmed: sent without a usable answer before the submit deadline,"
        " but its sale could not be looked up (sale: 401)"
    )
    assert (order.status, order.failure_reason, order.outcome_unknown) == (
        Status.NEEDS_ATTENTION,
        reason,
        True,
    )
    assert (order.late_lookups, order.wake_at) == (5, None)
    assert last(order) == (Status.NEEDS_ATTENTION, "access.denied", reason)


def test_lookups_failing_after_the_confirm_deadline_keep_their_error_then_need_a_person() -> None:
    p = fresh()
    order = apply(submitted(p), Retry("sale", "503"), CONFIRM_DEADLINE, p)
    assert (order.wake_at, order.late_lookups, order.poll_attempts) == (
        CONFIRM_DEADLINE + S,
        1,
        0,
    )
    assert order.last_error == "sale: 503"
    order = order.model_copy(update={"late_lookups": 4})
    order = apply(order, Retry("sale", "500"), CONFIRM_DEADLINE + 60 * S, p)
    reason = "not confirmed: accepted by K-Series, but its sale could not be looked up (sale: 500)"
    assert (order.status, order.failure_reason, order.outcome_unknown) == (
        Status.NEEDS_ATTENTION,
        reason,
        True,
    )


def test_a_submitted_order_without_a_confirm_deadline_is_never_late() -> None:
    p = fresh()
    order = submitted(p).model_copy(update={"confirm_deadline": None})
    order = apply(order, Retry("sale", "503"), T0 + 3600 * S, p)
    assert (order.wake_at, order.poll_attempts, order.late_lookups) == (T0 + 3601 * S, 1, 0)


# --- confirmed and settling ---------------------------------------------------------------


def test_a_check_that_cannot_be_read_forty_times_hands_the_order_to_a_person() -> None:
    p = fresh()
    assert MAX_READ_ATTEMPTS == 40
    order = confirmed(p).model_copy(update={"poll_attempts": 39})
    order = apply(order, Retry("check", "503"), T0 + 100 * S, p)
    assert (order.status, order.poll_attempts, order.wake_at) == (
        Status.CONFIRMED,
        40,
        T0 + 130 * S,
    )
    order = apply(order, Retry("check", "503"), T0 + 130 * S, p)
    reason = "on the POS, but its check could not be read: check: 503"
    assert (order.status, order.failure_reason) == (Status.NEEDS_ATTENTION, reason)
    assert last(order) == (Status.NEEDS_ATTENTION, "retry", reason)


def test_a_payment_that_cannot_be_verified_a_ttl_past_its_deadline_needs_a_person() -> None:
    p = fresh()
    order = sent(p)
    payment = order.current_payment
    assert payment is not None
    give_up = payment.deadline + p.payment_ttl
    before = apply(order, Retry("check", "503"), give_up - S, p)
    assert before.status is Status.SETTLING
    assert before.payments == order.payments  # a read, not a POST: the payment is unchanged
    assert (before.wake_at, before.poll_attempts) == (give_up, 1)
    after = apply(order, Retry("check", "503"), give_up, p)
    reason = "payment pay-1 could not be verified: check: 503"
    assert (after.status, after.failure_reason) == (Status.NEEDS_ATTENTION, reason)


def test_a_failed_payment_post_may_have_arrived_so_its_deadline_restarts_from_now() -> None:
    p = fresh()
    order = settling(p)  # pay-1 created at T0 + 1 s, sendable until T0 + 301 s
    order = apply(order, Retry("pay", "503"), T0 + 10 * S, p)
    payment = order.current_payment
    assert payment is not None
    assert (payment.last_sent_at, payment.deadline) == (T0 + 10 * S, T0 + 340 * S)
    assert (order.wake_at, order.poll_attempts, order.last_error) == (T0 + 11 * S, 1, "pay: 503")
    # near the end of the send window, the check is read when the window ends
    late = order.model_copy(update={"poll_attempts": 9})
    late = apply(late, Retry("pay", "503"), T0 + 300 * S, p)
    assert late.wake_at == T0 + 301 * S
    # from its end on, the backoff alone decides (no read at once, in a loop)
    at_end = apply(order, Retry("pay", "503"), T0 + 301 * S, p)
    assert at_end.wake_at == T0 + 303 * S
    after = apply(order, Retry("pay", "503"), T0 + 302 * S, p)
    assert after.wake_at == T0 + 304 * S


# --- Throttled ----------------------------------------------------------------------------


def test_a_throttled_submit_waits_for_the_locations_turn_without_spending_an_attempt() -> None:
    order = apply(queued(), Throttled("submit", 2.25), T0, fresh())
    assert (order.wake_at, order.submit_attempts, order.poll_attempts) == (
        T0 + timedelta(seconds=2.25),
        0,
        0,
    )
    assert order.last_error == "rate-limited: submit: location rate-limited by K-Series"
    assert last(order) == (
        Status.QUEUED,
        "throttled",
        "submit: held back: location rate-limited by K-Series; its turn in 2.2 s",
    )
    answered = apply(queued(), Throttled("submit", -1.0, called=True), T0, fresh())
    assert answered.wake_at == T0
    assert last(answered)[2] == (
        "submit: answered 429: location rate-limited by K-Series; its turn in -1.0 s"
    )


def test_a_throttled_lookup_of_a_submitted_order_keeps_its_error() -> None:
    p = fresh()
    order = submitted(p).model_copy(update={"last_error": "sale: 503"})
    order = apply(order, Throttled("sale", 1.0, called=True), T0 + 10 * S, p)
    assert (order.wake_at, order.last_error, order.late_lookups) == (T0 + 11 * S, "sale: 503", 0)


def test_a_429_on_a_lookup_past_the_deadline_counts_as_a_lookup_that_told_nothing() -> None:
    p = fresh()
    order = apply(queued(), Throttled("sale", 1.0, called=True), SUBMIT_DEADLINE, p)
    assert (order.late_lookups, order.wake_at, order.last_error) == (
        1,
        SUBMIT_DEADLINE + S,
        None,
    )
    unsent = apply(queued(), Throttled("sale", 1.0), SUBMIT_DEADLINE, p)
    assert (unsent.late_lookups, unsent.last_error) == (0, None)
    order = order.model_copy(update={"late_lookups": 4})
    order = apply(order, Throttled("sale", 1.0, called=True), SUBMIT_DEADLINE + 9 * S, p)
    assert (order.status, order.late_lookups, order.outcome_unknown) == (
        Status.NEEDS_ATTENTION,
        5,
        True,
    )
    reason = (
        "not confirmed: sent without a usable answer before the submit deadline, but its sale"
        " could not be looked up (sale: answered 429: location rate-limited by K-Series;"
        " its turn in 1.0 s)"
    )
    assert last(order) == (Status.NEEDS_ATTENTION, "throttled", reason)
    assert order.failure_reason == reason


@pytest.mark.parametrize(
    ("event", "name", "detail"),
    [
        (Throttled("sale", 1.0), "throttled", "sale: held back: location rate-limited by"),
        (Held("sale", "tokens refused", 5.0), "held", "sale: not sent: tokens refused"),
    ],
)
def test_a_terminal_order_ignores_held_back_calls(
    event: Throttled | Held, name: str, detail: str
) -> None:
    p = fresh()
    order = completed(p)
    after = apply(order, event, T0 + 9 * S, p)
    assert after.model_copy(update={"history": order.history}) == order
    status, event_name, text = last(after)
    assert (status, event_name) == (Status.COMPLETED, name)
    assert text.startswith(f"ignored: {detail}")


# --- Held and LocationReady ---------------------------------------------------------------


def test_a_held_submit_looks_again_later_but_not_after_its_deadline() -> None:
    p = fresh()
    order = apply(queued(), Held("submit", "location not ready", 5.0), T0, p)
    assert (order.wake_at, order.last_error, order.submit_attempts) == (
        T0 + 5 * S,
        "held: location not ready",
        0,
    )
    assert last(order) == (Status.QUEUED, "held", "submit: not sent: location not ready")
    capped = apply(queued(), Held("submit", "x", 3600.0), T0, p)
    assert capped.wake_at == SUBMIT_DEADLINE
    past = apply(queued(), Held("submit", "x", 5.0), SUBMIT_DEADLINE + S, p)
    assert past.wake_at == SUBMIT_DEADLINE + S
    negative = apply(queued(), Held("submit", "x", -5.0), T0, p)
    assert negative.wake_at == T0


def test_a_held_lookup_of_a_submitted_order_keeps_its_error() -> None:
    p = fresh()
    order = submitted(p).model_copy(update={"last_error": "sale: 503"})
    order = apply(order, Held("sale", "tokens refused", 3600.0), T0 + 10 * S, p)
    assert (order.wake_at, order.last_error) == (T0 + 3610 * S, "sale: 503")
    negative = apply(submitted(p), Held("sale", "x", -1.0), T0 + 10 * S, p)
    assert negative.wake_at == T0 + 10 * S


def test_a_ready_location_sends_a_held_order_at_its_turn_or_its_own_next_look() -> None:
    p = fresh()
    held = queued().model_copy(update={"wake_at": T0 + 30 * S})
    order = apply(held, LocationReady(2.5), T0, p)
    assert order.wake_at == T0 + timedelta(seconds=2.5)
    assert last(order) == (
        Status.QUEUED,
        "readiness.ready",
        "location ready for online orders again (K-Series notified): sending in 2.5 s",
    )
    sooner = apply(held, LocationReady(60.0), T0 + 29 * S, p)
    assert sooner.wake_at == T0 + 30 * S
    assert last(sooner)[2].endswith("sending in 1.0 s")
    unset = apply(queued(), LocationReady(-3.0), T0, p)
    assert unset.wake_at == T0
    assert last(unset)[2].endswith("sending in 0.0 s")
    overdue = apply(held, LocationReady(5.0), T0 + 40 * S, p)
    assert overdue.wake_at == T0 + 30 * S
    assert last(overdue)[2].endswith("sending in 0.0 s")


def test_a_ready_location_leaves_an_order_already_sent_as_it_is() -> None:
    p = fresh()
    order = submitted(p)
    after = apply(order, LocationReady(0.0), T0 + S, p)
    assert after.wake_at == order.wake_at
    assert last(after) == (Status.SUBMITTED, "readiness.ready", "ignored: already submitted")

"""Calls that failed or were held back: when to try again, and when to stop trying.

Three kinds, three rules:

- `Retry` (5xx, network, a body we cannot use): capped, jittered backoff, each try counted;
- `AccessDenied` (401/403): the same, minutes apart, since credentials do not mend themselves;
- `Throttled` (429 for the location): wait for the location's next turn. No attempt is spent
  and no backoff grows: the call was refused before K-Series did anything with it.

A wake time is always counted from now, never set to a deadline that has passed. Past the
submit or confirm deadline only the sale lookup is left to do; after `MAX_LATE_LOOKUPS` of them
told nothing, the order needs attention, marked `outcome_unknown`: not being able to look is
not a 404, and news that the order is on the POS reopens it (`ordering.on_pos`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from worker.events import AccessDenied, Held, LocationReady, Retry, Throttled
from worker.lifecycle.moves import move, note, replace_payment
from worker.lifecycle.policy import Policy, send_until
from worker.order import Order, Status

__all__ = [
    "ACCESS_DENIED",
    "HELD",
    "MAX_LATE_LOOKUPS",
    "MAX_READ_ATTEMPTS",
    "RATE_LIMITED",
    "access_denied",
    "held",
    "location_ready",
    "retry",
    "throttled",
]

MAX_READ_ATTEMPTS = 40
MAX_LATE_LOOKUPS = 5
RATE_LIMITED = "rate-limited: "  # prefix of `last_error` when a 429 was the last obstacle
HELD = "held: "  # prefix of `last_error` when a call was held back unsent (`Held`)
ACCESS_DENIED = "access denied: "  # prefix of `last_error` when K-Series refused our credentials
DENIED = "access denied by K-Series; tries are minutes apart until the credentials change"

Delay = Callable[[int], timedelta]  # the wait before try n + 1, n counted from 0


def retry(order: Order, event: Retry, now: datetime, policy: Policy) -> Order:
    # Retry-After is a floor; jitter above it so a throttled location is not hit by a herd.
    floor = timedelta(seconds=(event.retry_after_s or 0) * (1 + policy.rand() / 4))

    def delay(n: int) -> timedelta:
        return max(policy.poll_delay(n), floor)

    detail = f"{event.call}: {event.error}"
    return _failed(order, now, policy, name="retry", call=event.call, detail=detail, delay=delay)


def access_denied(order: Order, event: AccessDenied, now: datetime, policy: Policy) -> Order:
    return _failed(
        order,
        now,
        policy,
        name="access.denied",
        call=event.call,
        detail=f"{event.call}: {event.error}",
        delay=policy.auth_delay,
        denied=True,
    )


def throttled(order: Order, event: Throttled, now: datetime, policy: Policy) -> Order:
    how = "answered 429" if event.called else "held back"
    detail = (
        f"{event.call}: {how}: location rate-limited by K-Series; its turn in {event.wait_s:.1f} s"
    )
    if order.status.terminal:
        return note(order, now, "throttled", f"ignored: {detail}")
    updates: dict[str, Any] = {"wake_at": now + timedelta(seconds=max(0.0, event.wait_s))}
    deadline = _lookup_deadline(order)
    if deadline is not None and now >= deadline:
        if event.called:  # a lookup that told nothing
            late = order.late_lookups + 1
            if late >= MAX_LATE_LOOKUPS:
                return _give_up(order, now, "throttled", detail, late)
            updates["late_lookups"] = late
    elif order.status is Status.QUEUED:
        updates["last_error"] = f"{RATE_LIMITED}{event.call}: location rate-limited by K-Series"
    return note(order, now, "throttled", detail, **updates)


def held(order: Order, event: Held, now: datetime, policy: Policy) -> Order:
    """Not sent, nothing spent: look again in `wait_s`; a queued order's deadline still ends it."""
    detail = f"{event.call}: not sent: {event.reason}"
    if order.status.terminal:
        return note(order, now, "held", f"ignored: {detail}")
    updates: dict[str, Any] = {"wake_at": now + timedelta(seconds=max(0.0, event.wait_s))}
    if order.status is Status.QUEUED:
        updates["wake_at"] = max(now, min(updates["wake_at"], order.submit_deadline))
        updates["last_error"] = f"{HELD}{event.reason}"
    return note(order, now, "held", detail, **updates)


def location_ready(order: Order, event: LocationReady, now: datetime, policy: Policy) -> Order:
    """The location is ready again: a queued order goes at its turn, never later than its own
    next look would have; the submit itself decides (the readiness may have changed again)."""
    if order.status is not Status.QUEUED:
        return note(order, now, "readiness.ready", f"ignored: already {order.status}")
    turn = now + timedelta(seconds=max(0.0, event.wait_s))
    wake = turn if order.wake_at is None else min(order.wake_at, turn)
    left = max(0.0, (wake - now).total_seconds())
    detail = f"location ready for online orders again (K-Series notified): sending in {left:.1f} s"
    return note(order, now, "readiness.ready", detail, wake_at=wake)


def _failed(
    order: Order,
    now: datetime,
    policy: Policy,
    *,
    name: str,
    call: str,
    detail: str,
    delay: Delay,
    denied: bool = False,
) -> Order:
    """A call that failed: try again after `delay`, or stop at a deadline or a limit.

    `denied`: refused for our credentials (401/403), before K-Series did anything with it."""
    text = f"{detail}: {DENIED}" if denied else detail  # for the history
    if order.status.terminal:
        return note(order, now, name, f"ignored: {text}")
    deadline = _lookup_deadline(order)
    if deadline is not None and now >= deadline:
        return _late(order, now, name=name, call=call, detail=detail, delay=delay, denied=denied)
    if order.status is Status.QUEUED and denied:
        # Not sent, so nothing to look for at the deadline (`submit_attempts` counts the tries
        # that may have got through); a queued order's `poll_attempts` counts these.
        tries = order.poll_attempts + 1
        wake = min(now + delay(tries - 1), order.submit_deadline)
        denial = f"{ACCESS_DENIED}{detail}"
        return note(order, now, name, text, poll_attempts=tries, last_error=denial, wake_at=wake)
    if order.status is Status.QUEUED:
        attempts = order.submit_attempts + 1
        wake = min(now + delay(attempts - 1), order.submit_deadline)
        return note(
            order, now, name, text, submit_attempts=attempts, last_error=detail, wake_at=wake
        )
    attempts = order.poll_attempts + 1
    wake = now + delay(attempts - 1)
    if order.status is Status.SUBMITTED and order.confirm_deadline is not None:
        wake = min(wake, order.confirm_deadline)  # the deadline's own lookup
    if order.status is Status.CONFIRMED and attempts > MAX_READ_ATTEMPTS:
        reason = f"on the POS, but its check could not be read: {detail}"
        return move(order, Status.NEEDS_ATTENTION, now, name, reason, failure_reason=reason)
    payment = order.current_payment
    if order.status is Status.SETTLING and payment and now >= payment.deadline + policy.payment_ttl:
        reason = f"payment {payment.reference} could not be verified: {detail}"
        return move(order, Status.NEEDS_ATTENTION, now, name, reason, failure_reason=reason)
    updates: dict[str, Any] = {"poll_attempts": attempts, "last_error": detail, "wake_at": wake}
    if order.status is Status.SETTLING and payment and call == "pay":
        # The POST may have reached K-Series: the payment is uncertain until this TTL ends.
        sent = payment.model_copy(
            update={
                "last_sent_at": now,
                "deadline": now + policy.payment_ttl + policy.payment_grace,
            }
        )
        updates["payments"] = replace_payment(order, sent)
        window_ends = send_until(payment, policy)
        if window_ends > now:  # read the check when the send window ends, at the latest
            updates["wake_at"] = min(wake, window_ends)
    return note(order, now, name, text, **updates)


def _late(
    order: Order, now: datetime, *, name: str, call: str, detail: str, delay: Delay, denied: bool
) -> Order:
    """A call that failed after the submit or confirm deadline: look again later, a few times."""
    text = f"{detail}: {DENIED}" if denied else detail
    if order.status is Status.QUEUED and call == "submit":
        # A try begun before the deadline: the deadline's step is due now (a lookup, if this
        # try may have got through).
        if denied:
            return note(order, now, name, text, last_error=f"{ACCESS_DENIED}{detail}", wake_at=now)
        attempts = order.submit_attempts + 1
        return note(
            order, now, name, text, submit_attempts=attempts, last_error=detail, wake_at=now
        )
    late = order.late_lookups + 1
    if late >= MAX_LATE_LOOKUPS:
        return _give_up(order, now, name, detail, late)
    updates: dict[str, Any] = {"late_lookups": late, "wake_at": now + delay(late - 1)}
    if order.status is not Status.QUEUED:  # a queued order keeps its last submit error
        updates["last_error"] = detail
    text = f"{text} (lookup {late} of {MAX_LATE_LOOKUPS} after the deadline)"
    return note(order, now, name, text, **updates)


def _give_up(order: Order, now: datetime, name: str, detail: str, late: int) -> Order:
    """Not knowing whether the order is on the POS is not knowing it is not: a person looks."""
    if order.status is Status.QUEUED:
        what = "sent without a usable answer before the submit deadline"
    else:
        what = "accepted by K-Series"
    reason = f"not confirmed: {what}, but its sale could not be looked up ({detail})"
    return move(
        order,
        Status.NEEDS_ATTENTION,
        now,
        name,
        reason,
        failure_reason=reason,
        outcome_unknown=True,
        late_lookups=late,
    )


def _lookup_deadline(order: Order) -> datetime | None:
    """The deadline after which only the sale lookup is left to do, if any."""
    if order.status is Status.QUEUED:
        return order.submit_deadline
    if order.status is Status.SUBMITTED:
        return order.confirm_deadline
    return None

"""Transitions of getting the order onto the POS: submit answers, sale lookups, ORDER news."""

from __future__ import annotations

from datetime import datetime, timedelta

from config.settings import Confirmation
from worker.events import (
    AccountNews,
    OrderNews,
    Retry,
    SaleFound,
    SaleNotFound,
    Snapshot,
    SubmitAccepted,
    SubmitDeadline,
    SubmitRejected,
)
from worker.lifecycle.moves import (
    confirm,
    decide_settlement,
    event_name,
    first_check,
    merge,
    move,
    note,
    revise,
)
from worker.lifecycle.policy import Policy
from worker.lifecycle.retries import ACCESS_DENIED, HELD, RATE_LIMITED, retry
from worker.lifecycle.settlement import settle_from_check
from worker.order import Order, Status

ON_POS_NEWS = frozenset(
    {"SUCCESS", "CLOSED", "CHECK_WAS_UPDATED", "IN_DELIVERY", "READY_FOR_PICKUP"}
)
OFF_POS_NEWS = {"CANCELLED": "cancelled on the POS", "ABANDONED": "abandoned on the POS"}


def submit_accepted(order: Order, event: SubmitAccepted, now: datetime, policy: Policy) -> Order:
    detail = "409: reference already accepted" if event.duplicate else "200: accepted for delivery"
    if order.status is not Status.QUEUED:
        return note(order, now, "submit.accepted", f"late answer ({detail})")
    start = max(now, order.scheduled_at or now)
    deadline = start + timedelta(milliseconds=order.delivery_ttl_ms) + policy.confirm_grace
    return move(
        order,
        Status.SUBMITTED,
        now,
        "submit.accepted",
        detail,
        accepted_at=now,
        confirm_deadline=deadline,
        wake_at=first_check(order, now, policy, deadline, event.time_to_pos),
        last_error=None,
        late_lookups=0,
    )


def submit_rejected(order: Order, event: SubmitRejected, now: datetime, policy: Policy) -> Order:
    if order.status is not Status.QUEUED:
        return note(order, now, "submit.rejected", f"late answer: {event.reason}")
    reason = f"rejected by K-Series: {event.reason}"
    return move(order, Status.FAILED, now, "submit.rejected", reason, failure_reason=reason)


NOT_TRIED = "not sent: no worker was free to send it before the submit deadline"


def submit_deadline(order: Order, event: SubmitDeadline, now: datetime, policy: Policy) -> Order:
    if order.status is not Status.QUEUED:
        return note(order, now, "submit.deadline", "ignored: already submitted")
    return fail_at_submit_deadline(order, now)


def fail_at_submit_deadline(order: Order, now: datetime) -> Order:
    """A queued order's submit deadline passed: failed, saying what kept it off the POS."""
    if order.submit_attempts == 0 and order.last_error is None:
        # Never tried: the order waited behind a backlog of new orders, K-Series was never asked.
        reason = NOT_TRIED
        return move(order, Status.FAILED, now, "submit.deadline", reason, failure_reason=reason)
    last = order.last_error or "no answer before the submit deadline"
    if last.startswith("readiness:"):
        reason = f"not sent: {last.removeprefix('readiness: ')} until the submit deadline"
    elif last.startswith(HELD):
        reason = f"not sent: {last.removeprefix(HELD)} until the submit deadline"
    elif last.startswith(RATE_LIMITED):
        reason = "not sent: location rate-limited by K-Series (429) until the submit deadline"
    elif last.startswith(ACCESS_DENIED):
        denial = last.removeprefix(ACCESS_DENIED)
        reason = f"not sent: access denied by K-Series until the submit deadline ({denial})"
    else:
        reason = f"K-Series unreachable: {last}"
    return move(order, Status.FAILED, now, "submit.deadline", reason, failure_reason=reason)


def sale_found(order: Order, event: SaleFound, now: datetime, policy: Policy) -> Order:
    if event.snapshot.cancelled:  # the sale says the check was cancelled: as CANCELLED news
        return off_pos(order, now, "sale.found", OFF_POS_NEWS["CANCELLED"])
    if order.status in (Status.QUEUED, Status.SUBMITTED):
        return confirm(order, now, policy, "sale.found", event.snapshot)
    if order.status is Status.CONFIRMED:
        order = note(order, now, "sale.found", "account data", **merge(event.snapshot))
        return decide_settlement(order, now, policy)
    return note(order, now, "sale.found", "late news", **merge(event.snapshot))


def sale_not_found(order: Order, event: SaleNotFound, now: datetime, policy: Policy) -> Order:
    if order.status is Status.QUEUED:
        return fail_at_submit_deadline(order, now)
    if order.status is Status.SUBMITTED and order.confirm_deadline is not None:
        if now >= order.confirm_deadline:
            reason = "not on the POS before its delivery deadline"
            return move(order, Status.FAILED, now, "sale.not_found", reason, failure_reason=reason)
        attempts = order.poll_attempts + 1
        if policy.confirmation is Confirmation.WEBHOOK:
            wake = order.confirm_deadline
        else:
            wake = min(now + policy.poll_delay(attempts - 1), order.confirm_deadline)
        return note(
            order, now, "sale.not_found", "not on the POS yet", poll_attempts=attempts, wake_at=wake
        )
    if order.status is Status.CONFIRMED:
        return retry(order, Retry("sale", "sale not found yet for a confirmed order"), now, policy)
    return note(order, now, "sale.not_found", "ignored")


def order_news(order: Order, event: OrderNews, now: datetime, policy: Policy) -> Order:
    name = event_name(event)
    early = order.status in (Status.QUEUED, Status.SUBMITTED)
    if event.status == "FAILURE":
        reason = event.reason or "FAILURE without a reason"
        if early:
            return move(order, Status.FAILED, now, name, reason, failure_reason=reason)
        if order.status is Status.FAILED:
            return note(order, now, name, f"already failed: {reason}")
        if order.status is Status.NEEDS_ATTENTION and order.outcome_unknown:
            # K-Series settles what orderflow could not find out: the order is not on the POS.
            return revise(
                order,
                Status.FAILED,
                now,
                name,
                reason,
                failure_reason=reason,
                outcome_unknown=False,
            )
        return note(
            order, now, name, f"contradiction: FAILURE ({reason}) after SUCCESS; keeping SUCCESS"
        )
    if event.status in OFF_POS_NEWS:
        return off_pos(order, now, name, OFF_POS_NEWS[event.status])
    if event.status not in ON_POS_NEWS:
        return note(order, now, name, "status recorded, no effect")
    return on_pos(order, now, policy, name, event.snapshot)


def account_news(order: Order, event: AccountNews, now: datetime, policy: Policy) -> Order:
    if event.kind == "CANCEL":
        return off_pos(order, now, event_name(event), "cancelled on the POS")
    return on_pos(order, now, policy, event_name(event), event.snapshot)


def off_pos(order: Order, now: datetime, name: str, reason: str) -> Order:
    if order.status.terminal:
        return note(order, now, name, f"{reason} (after {order.status})")
    return move(order, Status.NEEDS_ATTENTION, now, name, reason, failure_reason=reason)


def on_pos_after_giving_up(
    order: Order, now: datetime, policy: Policy, name: str, snap: Snapshot
) -> Order:
    """The order is on the POS after all: never left `failed`, where the shop would refund a
    customer whose food is being cooked.

    Given up without knowing (`outcome_unknown`): settled as if the news had come in time.
    Failed, or replayed under another reference: the producer may have refunded, or a second
    order may be on the POS, so a person decides (`needs_attention`).
    """
    if order.status is Status.NEEDS_ATTENTION and order.replayed_as is None:
        reopened = revise(
            order,
            Status.CONFIRMED,
            now,
            name,
            "on the POS after all (orderflow had not been able to look)",
            failure_reason=None,
            outcome_unknown=False,
            **merge(snap),
        )
        return decide_settlement(reopened, now, policy)
    if order.status is Status.FAILED:
        reason = f"on the POS, though reported failed ({order.failure_reason})"
    else:
        reason = f"on the POS after all ({order.failure_reason})"
    if order.replayed_as:
        reason += f"; replayed as {order.replayed_as}: two orders may be on the POS"
    return revise(
        order,
        Status.NEEDS_ATTENTION,
        now,
        name,
        reason,
        failure_reason=reason,
        outcome_unknown=False,
        **merge(snap),
    )


def on_pos(order: Order, now: datetime, policy: Policy, name: str, snap: Snapshot) -> Order:
    """News that the order is on the POS, possibly out of order, possibly with its check."""
    if order.status in (Status.QUEUED, Status.SUBMITTED):
        return confirm(order, now, policy, name, snap)
    if order.status is Status.FAILED or (
        order.status is Status.NEEDS_ATTENTION and order.outcome_unknown
    ):
        return on_pos_after_giving_up(order, now, policy, name, snap)
    if order.status is Status.CONFIRMED and (snap.total is not None or snap.account_identifier):
        return decide_settlement(note(order, now, name, "account data", **merge(snap)), now, policy)
    if order.status is Status.SETTLING and any(
        p.reference in snap.payment_references for p in order.payments
    ):
        return settle_from_check(order, snap, now, policy)
    return note(order, now, name, "recorded", **merge(snap))

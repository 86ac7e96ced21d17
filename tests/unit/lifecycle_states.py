"""Orders in each state of the lifecycle, built by the lifecycle itself, for exact tests.

Times are fixed (`T0` + whole seconds) and the policy's randomness is pinned (`rand` = 1.0,
references `pay-1`, `pay-2`, ...), so every wake time and history line is known exactly.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from config.settings import Confirmation
from tests.builders import T0, new_order, policy
from worker.events import (
    OrderNews,
    PaymentAccepted,
    SaleFound,
    Snapshot,
    SubmitAccepted,
    SubmitRejected,
)
from worker.lifecycle import Policy, apply
from worker.order import Order, Status

S = timedelta(seconds=1)
ACCOUNT = "A1.1"


def fresh(confirmation: Confirmation = Confirmation.HYBRID, **kwargs: Any) -> Policy:
    """A policy with pinned jitter and references counted from pay-1 (unless given)."""
    return replace(policy(confirmation), **kwargs)


def check(total: str = "18.15", paid: str = "16.50", *refs: str) -> Snapshot:
    """The check as K-Series has it: 1.65 outstanding by default."""
    return Snapshot(ACCOUNT, Decimal(total), Decimal(paid), frozenset(refs))


def queued(**kwargs: Any) -> Order:
    return new_order(**kwargs)


def submitted(p: Policy, **kwargs: Any) -> Order:
    return apply(new_order(**kwargs), SubmitAccepted(), T0, p)


def confirmed(p: Policy, *, account: str | None = ACCOUNT, **kwargs: Any) -> Order:
    """On the POS, its outstanding amount not known yet (the check is read next)."""
    news = OrderNews("confirmed", "SUCCESS", snapshot=Snapshot(account))
    order = apply(submitted(p, **kwargs), news, T0 + S, p)
    assert order.status is Status.CONFIRMED
    return order


def settling(p: Policy, snap: Snapshot | None = None, **kwargs: Any) -> Order:
    """On the POS at T0 + 1 s with 1.65 outstanding: paying it under pay-1, not yet sent."""
    order = apply(submitted(p, **kwargs), SaleFound(snap or check()), T0 + S, p)
    assert order.status is Status.SETTLING
    return order


def sent(p: Policy, **kwargs: Any) -> Order:
    """Settling, pay-1 accepted at T0 + 2 s: its deadline is T0 + 2 s + 5 min + 30 s."""
    return apply(settling(p, **kwargs), PaymentAccepted("pay-1"), T0 + 2 * S, p)


def failed(p: Policy) -> Order:
    return apply(new_order(), SubmitRejected("bad"), T0, p)


def completed(p: Policy) -> Order:
    order = apply(submitted(p, settle=None), SaleFound(check()), T0 + S, p)
    assert order.status is Status.COMPLETED
    return order


def needs_attention(p: Policy) -> Order:
    """On the POS with 1.65 outstanding, above the allowed 1.00."""
    order = apply(submitted(p, settle="1.00"), SaleFound(check()), T0 + S, p)
    assert order.status is Status.NEEDS_ATTENTION
    return order


def last(order: Order) -> tuple[Status, str, str]:
    """The last history entry as (status, event, detail)."""
    entry = order.history[-1]
    return entry.status, entry.event, entry.detail


def unchanged_but_history(before: Order, after: Order) -> bool:
    """Only history (and the notification keys seen) changed."""
    return after.model_copy(update={"history": before.history, "seen": before.seen}) == before

"""What to do next for an order, and the timing it is done with (`Policy`, `backoff`)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from config.settings import Confirmation, Settings
from worker.order import Order, Payment, PaymentStatus, Status

__all__ = ["Action", "Policy", "backoff", "next_action", "send_until"]


class Action(StrEnum):
    """What the engine must do next for an order."""

    NONE = "none"  # terminal
    WAIT = "wait"  # nothing is due before `wake_at`
    SUBMIT = "submit"  # POST the order
    SUBMIT_DEADLINE = "submit_deadline"  # last look for the sale, then fail
    POLL_SALE = "poll_sale"  # GET saleByExternalReference
    READ_CHECK = "read_check"  # GET the account (check)
    POST_PAYMENT = "post_payment"  # POST /o/op/1/pay under the current reference


def backoff(attempt: int, base: timedelta, cap: timedelta, rand: Callable[[], float]) -> timedelta:
    """Capped exponential backoff with equal jitter: in [d/2, d], d = min(cap, base * 2**n)."""
    ceiling = min(cap.total_seconds(), base.total_seconds() * (2 ** min(attempt, 30)))
    return timedelta(seconds=ceiling * (0.5 + rand() / 2))


def new_reference() -> str:
    """A fresh `thirdPartyPaymentReference`: 36 chars, well under K-Series' 50."""
    return f"pay-{uuid.uuid4().hex}"


@dataclass(frozen=True)
class Policy:
    """The timing and limits `apply` needs (and the engine's `lease`), built from Settings."""

    confirmation: Confirmation = Confirmation.HYBRID
    webhook_wait: timedelta = timedelta(seconds=3)
    poll_initial: timedelta = timedelta(seconds=1)
    poll_max: timedelta = timedelta(seconds=30)
    confirm_grace: timedelta = timedelta(seconds=30)
    payment_grace: timedelta = timedelta(seconds=30)
    payment_ttl: timedelta = timedelta(minutes=5)
    max_payment_attempts: int = 3
    auth_backoff: timedelta = timedelta(minutes=1)
    auth_backoff_max: timedelta = timedelta(minutes=10)
    # The engine's: how often a running call renews its timer's lease, and how far apart a
    # rate-limited location's held calls go.
    lease: timedelta = timedelta(seconds=5)
    rate_limit_spacing: timedelta = timedelta(milliseconds=100)
    rand: Callable[[], float] = field(default=random.random)
    new_payment_reference: Callable[[], str] = field(default=new_reference)

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        ms = timedelta(milliseconds=1)
        return cls(
            confirmation=settings.confirmation,
            webhook_wait=settings.webhook_wait_ms * ms,
            poll_initial=settings.poll_initial_ms * ms,
            poll_max=settings.poll_max_ms * ms,
            confirm_grace=settings.confirm_grace_ms * ms,
            payment_grace=settings.payment_grace_ms * ms,
            payment_ttl=settings.payment_ttl_ms * ms,
            max_payment_attempts=settings.max_payment_attempts,
            auth_backoff=settings.auth_backoff_ms * ms,
            auth_backoff_max=settings.auth_backoff_max_ms * ms,
            lease=settings.timer_lease_ms * ms,
            rate_limit_spacing=settings.rate_limit_spacing_ms * ms,
        )

    def poll_delay(self, attempt: int) -> timedelta:
        return backoff(attempt, self.poll_initial, self.poll_max, self.rand)

    def auth_delay(self, attempt: int) -> timedelta:
        """After a 401/403: credentials do not mend themselves, so minutes, not seconds."""
        return backoff(attempt, self.auth_backoff, self.auth_backoff_max, self.rand)


# --- what to do next ---------------------------------------------------------------------------


def next_action(order: Order, now: datetime, policy: Policy) -> Action:
    """The one thing the engine should do for this order now."""
    if order.status.terminal:
        return Action.NONE
    if order.wake_at is not None and now < order.wake_at:
        return Action.WAIT
    if order.status is Status.QUEUED:
        return Action.SUBMIT if now < order.submit_deadline else Action.SUBMIT_DEADLINE
    if order.status is Status.SUBMITTED:
        return Action.POLL_SALE
    if order.status is Status.CONFIRMED:
        return Action.POLL_SALE if order.account_identifier is None else Action.READ_CHECK
    payment = order.current_payment
    if payment and payment.status is PaymentStatus.PENDING and now < send_until(payment, policy):
        return Action.POST_PAYMENT
    return Action.READ_CHECK


def send_until(payment: Payment, policy: Policy) -> datetime:
    return payment.created_at + policy.payment_ttl

"""The order record and the producer's submission: what the store keeps and the API returns."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter

from worker.kseries.models import AccountId, LocalOrder, Price, ToGoOrder
from worker.money import Money

__all__ = [
    "TERMINAL",
    "AccountFacts",
    "HistoryEntry",
    "Order",
    "Payment",
    "PaymentStatus",
    "SettleRemaining",
    "Status",
    "Submission",
    "SubmissionAdapter",
    "fingerprint",
]


class Status(StrEnum):
    """interface.md's statuses; `rank` orders them so an order never moves backwards."""

    QUEUED = "queued"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    SETTLING = "settling"
    COMPLETED = "completed"
    FAILED = "failed"
    NEEDS_ATTENTION = "needs_attention"
    RESOLVED = "resolved"  # needs_attention settled by hand on the POS (an operator said so)

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


_RANK = {
    Status.QUEUED: 0,
    Status.SUBMITTED: 1,
    Status.CONFIRMED: 2,
    Status.SETTLING: 3,
    Status.COMPLETED: 4,
    Status.FAILED: 4,
    Status.NEEDS_ATTENTION: 4,
    Status.RESOLVED: 5,  # only ever after needs_attention
}
TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.NEEDS_ATTENTION, Status.RESOLVED})


class SettleRemaining(BaseModel):
    """Pay what the POS says is still outstanding, with this method, up to `maxAmount`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    paymentMethod: Annotated[str, Field(min_length=1, max_length=64)]
    maxAmount: Price


class _SubmissionBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    settleRemaining: SettleRemaining | None = None


class LocalSubmission(_SubmissionBase):
    type: Literal["local"] = "local"
    order: LocalOrder


class ToGoSubmission(_SubmissionBase):
    type: Literal["toGo"]
    order: ToGoOrder


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("type", "local"))
    return str(getattr(value, "type", "local"))


Submission = Annotated[
    Annotated[LocalSubmission, Tag("local")] | Annotated[ToGoSubmission, Tag("toGo")],
    Discriminator(
        _kind,
        custom_error_type="invalid_type",
        custom_error_message="type must be 'local' or 'toGo'",
    ),
]
SubmissionAdapter: TypeAdapter[LocalSubmission | ToGoSubmission] = TypeAdapter(Submission)


def fingerprint(submission: LocalSubmission | ToGoSubmission) -> str:
    """A digest of the submission as given: the same body resubmitted is the same order."""
    canonical = submission.model_dump_json(exclude_none=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


class PaymentStatus(StrEnum):
    PENDING = "pending"  # reference stored, not yet accepted by K-Series
    SENT = "sent"  # accepted for delivery to the POS
    APPLIED = "applied"  # on the check
    UNCERTAIN = "uncertain"  # a FAILURE that needs the check read to know
    FAILED = "failed"  # known not applied


class Payment(BaseModel):
    """One follow-up payment attempt, under its own `thirdPartyPaymentReference`."""

    model_config = ConfigDict(frozen=True)

    reference: str
    amount: Money
    attempt: int
    status: PaymentStatus = PaymentStatus.PENDING
    created_at: datetime
    last_sent_at: datetime | None = None
    deadline: datetime
    failure_kind: str | None = None  # timeout | overpaid | closed | rejected | expired
    reason: str | None = None


class HistoryEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: datetime
    status: Status
    event: str
    detail: str = ""


class AccountFacts(BaseModel):
    """What a check or sale may write into an order's record, validated as the record is
    (`lifecycle.moves.merge`): a value the record could not read back is never stored."""

    model_config = ConfigDict(frozen=True)

    account_identifier: AccountId | None = None
    total: Money | None = None
    paid: Money | None = None
    outstanding: Money | None = None


class Order(BaseModel):
    """Everything orderflow knows about one (businessLocationId, thirdPartyReference)."""

    model_config = ConfigDict(frozen=True)

    business_location_id: int
    reference: str
    status: Status = Status.QUEUED
    submission: Submission
    fingerprint: str
    version: int = 0
    created_at: datetime
    delivery_ttl_ms: int
    submit_deadline: datetime
    accepted_at: datetime | None = None
    confirm_deadline: datetime | None = None
    wake_at: datetime | None = None
    account_identifier: str | None = None
    total: Money | None = None
    paid: Money | None = None
    outstanding: Annotated[Money, Field()] | None = None
    submit_attempts: int = 0
    poll_attempts: int = 0
    late_lookups: int = 0  # sale lookups that failed after the submit or confirm deadline
    # orderflow stopped looking without learning whether it is on the POS (needs_attention):
    # news that it is there reopens it, news that it failed fails it
    outcome_unknown: bool = False
    last_error: str | None = None
    payments: tuple[Payment, ...] = ()
    attempt_base: int = 0  # payment attempts before the last operator replay
    failure_reason: str | None = None
    seen: tuple[str, ...] = ()  # keys of notifications already applied
    replay_of: str | None = None
    replayed_as: str | None = None
    history: tuple[HistoryEntry, ...] = ()

    @classmethod
    def queued(
        cls,
        submission: LocalSubmission | ToGoSubmission,
        now: datetime,
        ttl_ms: int,
        *,
        event: str,
        detail: str,
        digest: str | None = None,
        replay_of: str | None = None,
    ) -> Order:
        """A new order as it is first stored (by the producer, or an operator's replay):
        queued, its delivery limit counted from `now`. `digest`: the fingerprint when it is not
        the submission's own (the producer's is of the body as sent, before defaults)."""
        body = submission.order
        return cls(
            business_location_id=body.businessLocationId,
            reference=body.thirdPartyReference,
            submission=submission,
            fingerprint=digest or fingerprint(submission),
            created_at=now,
            delivery_ttl_ms=ttl_ms,
            submit_deadline=now + timedelta(milliseconds=ttl_ms),
            replay_of=replay_of,
            history=(HistoryEntry(at=now, status=Status.QUEUED, event=event, detail=detail),),
        )

    @property
    def key(self) -> str:
        return f"{self.business_location_id}:{self.reference}"

    @property
    def current_payment(self) -> Payment | None:
        return self.payments[-1] if self.payments else None

    @property
    def settle(self) -> SettleRemaining | None:
        return self.submission.settleRemaining

    @property
    def scheduled_at(self) -> datetime | None:
        return self.submission.order.scheduledTimeForOrderAsIso8601

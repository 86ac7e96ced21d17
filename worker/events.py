"""What can happen to an order: the inputs of the state machine in `worker.lifecycle`.

Events are facts, already parsed and validated: API answers the engine observed, notifications
K-Series sent, deadlines that passed. They carry no I/O and no Redis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

__all__ = [
    "AccountNews",
    "CheckMissing",
    "CheckRead",
    "Event",
    "OrderNews",
    "PaymentAccepted",
    "PaymentNews",
    "PaymentRejected",
    "Retry",
    "SaleFound",
    "SaleNotFound",
    "SubmitAccepted",
    "SubmitDeadline",
    "SubmitRejected",
]


@dataclass(frozen=True)
class Snapshot:
    """What a check, sale or notification told us about the account on the POS."""

    account_identifier: str | None = None
    total: Decimal | None = None
    paid: Decimal | None = None
    payment_references: frozenset[str] = frozenset()

    @property
    def outstanding(self) -> Decimal | None:
        if self.total is None or self.paid is None:
            return None
        return self.total - self.paid


@dataclass(frozen=True)
class SubmitAccepted:
    duplicate: bool = False  # 409: K-Series had accepted it before


@dataclass(frozen=True)
class SubmitRejected:
    reason: str


@dataclass(frozen=True)
class SubmitDeadline:
    """The submit deadline passed without an answer we could use."""


@dataclass(frozen=True)
class Retry:
    """A call failed in a way a later try can fix (5xx, 429, network, bad body)."""

    call: str
    error: str
    retry_after_s: float | None = None


@dataclass(frozen=True)
class SaleFound:
    snapshot: Snapshot


@dataclass(frozen=True)
class SaleNotFound:
    pass


@dataclass(frozen=True)
class CheckRead:
    snapshot: Snapshot


@dataclass(frozen=True)
class CheckMissing:
    pass


@dataclass(frozen=True)
class PaymentAccepted:
    reference: str
    duplicate: bool = False


@dataclass(frozen=True)
class PaymentRejected:
    reference: str
    reason: str


@dataclass(frozen=True)
class OrderNews:
    """An ORDER notification naming this order (SUCCESS, FAILURE, CLOSED, CANCELLED, ...)."""

    key: str
    status: str
    reason: str | None = None
    snapshot: Snapshot = field(default_factory=Snapshot)


@dataclass(frozen=True)
class AccountNews:
    """An account notification (OPEN/UPDATE/CLOSE/CANCEL) whose externalReferences name us."""

    key: str
    kind: str
    snapshot: Snapshot = field(default_factory=Snapshot)


@dataclass(frozen=True)
class PaymentNews:
    """A PAYMENT notification for one of our payment references."""

    key: str
    reference: str
    status: str
    reason: str | None = None
    error_type: str | None = None
    timed_out: bool = False
    account_identifier: str | None = None


Event = (
    SubmitAccepted
    | SubmitRejected
    | SubmitDeadline
    | Retry
    | SaleFound
    | SaleNotFound
    | CheckRead
    | CheckMissing
    | PaymentAccepted
    | PaymentRejected
    | OrderNews
    | AccountNews
    | PaymentNews
)

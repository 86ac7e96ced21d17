"""What can happen to an order: the inputs of the state machine in `worker.lifecycle`.

Events are facts, already parsed and validated: API answers the engine observed, notifications
K-Series sent, deadlines that passed. They carry no I/O and no Redis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

__all__ = [
    "AccessDenied",
    "AccountNews",
    "CheckMissing",
    "CheckRead",
    "Event",
    "Held",
    "LocationReady",
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
    "Throttled",
]


@dataclass(frozen=True)
class Snapshot:
    """What a check, sale or notification told us about the account on the POS.

    `verified`: K-Series' own answer about our order (a sale found by our reference, a check
    read by its account); False for what a notification claims, which is news, never the
    account or the amounts orderflow pays by. `unreadable`: why the amounts were left out.
    `cancelled`: the sale says the check was cancelled on the POS.
    """

    account_identifier: str | None = None
    total: Decimal | None = None
    paid: Decimal | None = None
    payment_references: frozenset[str] = frozenset()
    verified: bool = True
    unreadable: str | None = None
    cancelled: bool = False

    @property
    def outstanding(self) -> Decimal | None:
        if self.total is None or self.paid is None:
            return None
        return self.total - self.paid


@dataclass(frozen=True)
class SubmitAccepted:
    duplicate: bool = False  # 409: K-Series had accepted it before
    # How long the location's orders have lately taken to reach the POS (None: not known):
    # no first look before then, since the order is most likely not there yet.
    time_to_pos: timedelta | None = None


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
class Held:
    """A call not made because it cannot succeed now (K-Series refused our tokens: nothing
    works until `orderflow auth login`; or it said the location is not ready, `worker.locations`):
    look again in `wait_s`. Like `Throttled`, no attempt is spent, and an order that was never
    sent is not looked for at its deadline."""

    call: str
    reason: str
    wait_s: float


@dataclass(frozen=True)
class LocationReady:
    """K-Series says the order's location takes online orders again (ORDER_API `READY`): an
    order held for its readiness goes in `wait_s` (its turn), not at its next look."""

    wait_s: float


@dataclass(frozen=True)
class Throttled:
    """K-Series rate-limits the location (429): wait `wait_s`, the location's next free turn.

    Not a failed try: no attempt is spent and no backoff grows. `called`: this call was made and
    answered 429 (a look past a deadline that told nothing); else it was held back unsent.
    """

    call: str
    wait_s: float
    called: bool = False


@dataclass(frozen=True)
class AccessDenied:
    """K-Series refused our credentials for this call (401 after a refresh, 403 for the
    location): nothing will change until they do, so tries are minutes apart."""

    call: str
    error: str


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
    time_to_pos: timedelta | None = None  # as SubmitAccepted's: a payment takes the same path


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
    | Throttled
    | Held
    | LocationReady
    | AccessDenied
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

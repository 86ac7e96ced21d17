"""What the sandbox did, for tests to check invariants (`GET /_sandbox/ledger`).

The questions it answers: was any order accepted twice, was any payment applied twice, what
was notified where, and how often each route answered what.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from sandbox.formats import money, zulu_time

__all__ = ["Ledger", "NotificationRecord"]


@dataclass
class NotificationRecord:
    at: datetime
    endpoint_id: str
    url: str | None
    payload: dict[str, Any]
    status: int | None = None
    error: str | None = None
    attempt: int = 1
    fault: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "at": zulu_time(self.at),
            "endpointId": self.endpoint_id,
            "url": self.url,
            "payload": self.payload,
            "status": self.status,
            "error": self.error,
            "attempt": self.attempt,
            "fault": self.fault,
        }


@dataclass
class _OrderEntry:
    accepted: int = 0
    outcome: str = "PENDING"
    reason: str | None = None
    account_identifier: str | None = None
    accepted_at: float | None = None  # epoch seconds K-Series first accepted it
    outcome_at: float | None = None  # epoch seconds the POS took it (or it failed)


@dataclass
class Ledger:
    orders: dict[tuple[int, str], _OrderEntry] = field(default_factory=dict)
    payments_accepted: Counter[str] = field(default_factory=Counter)
    payments: defaultdict[str, list[dict[str, str]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    payment_failures: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[NotificationRecord] = field(default_factory=list)
    requests: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    faults: Counter[str] = field(default_factory=Counter)
    refresh_reuse: int = 0
    tokens_issued: int = 0
    # Epoch seconds per payment reference: when `/pay` accepted it, when the POS applied it
    # (benchmarks time orderflow's reaction to webhooks with these).
    payment_times: dict[str, dict[str, float]] = field(default_factory=dict)

    def clear(self) -> None:
        """Start over in place, so every holder of this ledger sees the empty one."""
        fresh = Ledger()
        for f in fields(self):
            setattr(self, f.name, getattr(fresh, f.name))

    # --- recording -----------------------------------------------------------------------

    def order_accepted(self, business_location_id: int, reference: str, at: datetime) -> None:
        entry = self.orders.setdefault((business_location_id, reference), _OrderEntry())
        entry.accepted += 1
        if entry.accepted_at is None:
            entry.accepted_at = at.timestamp()

    def order_outcome(
        self,
        business_location_id: int,
        reference: str,
        outcome: str,
        *,
        at: datetime,
        reason: str | None = None,
        account_identifier: str | None = None,
    ) -> None:
        entry = self.orders.setdefault((business_location_id, reference), _OrderEntry())
        entry.outcome, entry.reason = outcome, reason
        entry.account_identifier = account_identifier
        entry.outcome_at = at.timestamp()

    def payment_accepted(self, reference: str, at: datetime) -> None:
        self.payments_accepted[reference] += 1
        self.payment_times.setdefault(reference, {}).setdefault("accepted", at.timestamp())

    def payment_applied(
        self,
        account_identifier: str,
        reference: str,
        amount: Decimal,
        tip: Decimal,
        at: datetime,
    ) -> None:
        self.payments[account_identifier].append(
            {"thirdPartyPaymentReference": reference, "amount": money(amount), "tip": money(tip)}
        )
        self.payment_times.setdefault(reference, {})["applied"] = at.timestamp()

    def payment_failed(self, reference: str, reason: str, error_type: str | None) -> None:
        self.payment_failures.append(
            {"thirdPartyPaymentReference": reference, "reason": reason, "type": error_type}
        )

    def request(self, route: str, status: int | str) -> None:
        self.requests[route][str(status)] += 1

    # --- reading -------------------------------------------------------------------------

    def applications(self) -> Counter[str]:
        """How many times each payment reference was applied (must never exceed 1)."""
        return Counter(
            p["thirdPartyPaymentReference"] for entries in self.payments.values() for p in entries
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "orders": {
                f"{bl}:{ref}": {
                    "businessLocationId": bl,
                    "thirdPartyReference": ref,
                    "accepted": e.accepted,
                    "outcome": e.outcome,
                    "reason": e.reason,
                    "accountIdentifier": e.account_identifier,
                    "acceptedAt": e.accepted_at,
                    "outcomeAt": e.outcome_at,
                }
                for (bl, ref), e in self.orders.items()
            },
            "orders_accepted": {f"{bl}:{ref}": e.accepted for (bl, ref), e in self.orders.items()},
            "payments_accepted": dict(self.payments_accepted),
            "payments": {acc: list(entries) for acc, entries in self.payments.items()},
            "payment_applications": dict(self.applications()),
            "payment_failures": list(self.payment_failures),
            "notifications": [n.as_json() for n in self.notifications],
            "requests": {route: dict(counts) for route, counts in self.requests.items()},
            "faults": dict(self.faults),
            "refresh_reuse": self.refresh_reuse,
            "tokens_issued": self.tokens_issued,
            "payment_times": {ref: dict(times) for ref, times in self.payment_times.items()},
        }

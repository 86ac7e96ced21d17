"""What the sandbox did, for tests to check invariants (`GET /_sandbox/ledger`).

The questions it answers: was any order accepted twice, was any payment applied twice, what
was notified where, how often each route answered what, and whether any token was used for a
location its business does not own (`cross_business_calls`, `token_uses`).
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
    refresh_reuse_by_business: Counter[int] = field(default_factory=Counter)
    tokens_issued_by_business: Counter[int] = field(default_factory=Counter)
    # (token's business or None when unbound, location, location's owner or None, route)
    token_uses: Counter[tuple[int | None, int, int | None, str]] = field(default_factory=Counter)
    cross_business_calls: int = 0
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

    def token_issued(self, business_id: int | None) -> None:
        self.tokens_issued += 1
        if business_id is not None:
            self.tokens_issued_by_business[business_id] += 1

    def refresh_reused(self, business_id: int | None) -> None:
        self.refresh_reuse += 1
        if business_id is not None:
            self.refresh_reuse_by_business[business_id] += 1

    def token_use(
        self, token_business: int | None, business_location_id: int, owner: int | None, route: str
    ) -> bool:
        """Record a location-scoped call; True when a bound token's business does not own the
        location (counted whether or not the call was refused)."""
        self.token_uses[(token_business, business_location_id, owner, route)] += 1
        cross = token_business is not None and token_business != owner
        if cross:
            self.cross_business_calls += 1
        return cross

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
            "refresh_reuse_by_business": _by_business(self.refresh_reuse_by_business),
            "tokens_issued_by_business": _by_business(self.tokens_issued_by_business),
            "token_uses": [
                {
                    "tokenBusinessId": token_business,
                    "businessLocationId": bl,
                    "locationBusinessId": owner,
                    "route": route,
                    "count": count,
                    "crossBusiness": token_business is not None and token_business != owner,
                }
                for (token_business, bl, owner, route), count in self.token_uses.items()
            ],
            "cross_business_calls": self.cross_business_calls,
            "payment_times": {ref: dict(times) for ref, times in self.payment_times.items()},
        }


def _by_business(counts: Counter[int]) -> dict[str, int]:
    return {str(business_id): n for business_id, n in sorted(counts.items())}

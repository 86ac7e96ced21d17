"""What a status event says, what its delivery record holds, and how it is signed: no I/O.

One event per status an order enters, `{"type": "order.<status>", "timestamp", "data"}` with
`data` the order as `GET /orders` showed it when the status was written. Its `webhook-id` is
derived from the order, the status and the record version that entered it, so every retry and
redelivery of one status change carries the same id and a receiver can dedupe on it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from standardwebhooks import Webhook

from worker.order import HistoryEntry, Order

__all__ = [
    "Delivery",
    "DeliveryState",
    "View",
    "deliveries_for",
    "event_id",
    "signed_headers",
    "status_changes",
]

View = Callable[[Order], dict[str, Any]]


class DeliveryState(StrEnum):
    PENDING = "pending"  # to be sent (now, or at `next_ms` after a failure)
    DELIVERED = "delivered"  # the receiver answered 2xx
    UNDELIVERED = "undelivered"  # retried for the whole window; kept for `redeliver`


class Delivery(BaseModel):
    """One status event and where its delivery stands (one JSON item in the order's list)."""

    model_config = ConfigDict(frozen=True)

    id: str
    type: str
    timestamp: str
    state: DeliveryState = DeliveryState.PENDING
    attempts: int = 0
    error: str | None = None
    since_ms: int  # the retry window starts here (recorded, or redelivered)
    next_ms: int = 0  # not sent before this
    done_ms: int | None = None
    payload: dict[str, Any] | None = None  # the event; dropped once delivered

    @property
    def body(self) -> str:
        """The exact bytes sent and signed: the same on every attempt."""
        if self.payload is None:
            raise ValueError(f"status event {self.id} has no body left (already delivered)")
        return json.dumps(self.payload, separators=(",", ":"))

    def dump(self) -> str:
        return self.model_dump_json(exclude_none=True)


def event_id(business_location_id: int, reference: str, status: str, version: int) -> str:
    """Stable per status change; opaque, so any reference is a safe header value."""
    seed = f"{business_location_id}\n{reference}\n{status}\n{version}".encode()
    return "evt_" + hashlib.sha256(seed).hexdigest()[:32]


def _appended(before: Order | None, after: Order) -> tuple[HistoryEntry, ...]:
    """The history entries this write added (history only grows at its tail)."""
    if before is None or not before.history:
        return after.history
    last = before.history[-1]
    for index in range(len(after.history) - 1, -1, -1):
        if after.history[index] == last:
            return after.history[index + 1 :]
    return after.history[-1:]


def status_changes(before: Order | None, after: Order) -> list[HistoryEntry]:
    """One entry per status `after` entered since `before`, oldest first (a write may pass
    through a status, e.g. submitted on its way to confirmed)."""
    current = before.status if before is not None else None
    changes = []
    for entry in _appended(before, after):
        if entry.status is not current:
            changes.append(entry)
            current = entry.status
    if current is not after.status:  # moved without saying so in the history
        at = after.history[-1].at if after.history else after.created_at
        changes.append(HistoryEntry(at=at, status=after.status, event="", detail=""))
    return changes


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def deliveries_for(before: Order | None, after: Order, view: View) -> list[Delivery]:
    """The deliveries a write owes the producer: none unless the status changed."""
    if before is not None and before.status is after.status:
        return []
    data = view(after)
    return [
        Delivery(
            id=event_id(after.business_location_id, after.reference, entry.status, after.version),
            type=f"order.{entry.status}",
            timestamp=entry.at.isoformat(),
            since_ms=_ms(entry.at),
            payload={
                "type": f"order.{entry.status}",
                "timestamp": entry.at.isoformat(),
                "data": data,
            },
        )
        for entry in status_changes(before, after)
    ]


def signed_headers(webhook: Webhook, delivery: Delivery, now: datetime) -> dict[str, str]:
    """Standard Webhooks headers; the timestamp is the attempt's (receivers allow 5 minutes)."""
    at = now.astimezone(UTC)
    return {
        "content-type": "application/json",
        "webhook-id": delivery.id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": webhook.sign(delivery.id, at, delivery.body),
    }

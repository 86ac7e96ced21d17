"""What orderflow learns about a location beyond one order, and what it does with it.

K-Series pushes a location's Online Ordering readiness when it changes (`type: ORDER_API`,
`READY` / `NOT_READY`). While the kept one says the location is not ready, its new orders are
held unsent (`Held`: no attempt spent) instead of burning their delivery window at a POS that
cannot take them: one Redis read per submit, no K-Series call. `READY` wakes the held orders
at once, a turn each (`Policy.rate_limit_spacing` apart), never later than their own next look.
A kept readiness older than `READINESS_FRESH_S` is ignored, so a lost `READY` holds nothing for
ever; an order still held at its submit deadline fails "not sent: location not ready ...".

The engine also tells this module every transition, to keep the per-location gauges the alerts
read (deploy/prometheus/alerts.yml): orders held, and orders that ended undelivered in a row;
and how long the location's orders take to reach the POS, so the first look for an outcome
waits that long (`first_look`): at a POS that takes 30 s, polling from 3 s is only cost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import structlog

from worker import constants as k
from worker.errors import OrderNotFound
from worker.events import LocationReady
from worker.kseries.notifications import ReadinessNotification
from worker.lifecycle import Policy, apply
from worker.lifecycle.retries import HELD
from worker.order import Order, Status
from worker.store import OrderStore

__all__ = ["HOLD_S", "NOT_READY", "Locations", "is_held", "not_ready", "why_not_ready"]

log = structlog.get_logger(__name__)
NOT_READY = "location not ready for online orders"
HOLD_S = 30.0  # a held order looks again this often (at once when READY comes)
WAKE_MAX = 500  # held orders one READY wakes; any others go at their own next look
# What a location's orders end with when no device takes them (README's failure reasons).
UNDELIVERED = ("Not processed before validity ended", "No devices available")
READINESS_FIELDS = {"status", "posStatus", "lastUpdatedAt", "onlineOrderingApiConfiguration"}
_ON_POS = frozenset({Status.CONFIRMED, Status.SETTLING, Status.COMPLETED, Status.NEEDS_ATTENTION})


def why_not_ready(status: str, pos: Mapping[str, Any] | None) -> str:
    """What a NOT_READY readiness says is wrong, in words (the status itself when it says
    nothing more)."""
    pos = pos or {}
    reasons = [
        f"sales period {pos['salesPeriod']}"
        if pos.get("salesPeriod") not in (None, "OPENED")
        else "",
        "online orders disabled on the POS" if pos.get("acceptingOnlineOrders") is False else "",
        "no devices available" if pos.get("availableDevices") is False else "",
    ]
    return ", ".join(r for r in reasons if r) or status


def not_ready(readiness: Mapping[str, Any]) -> str | None:
    """Why this readiness holds orders, or None: the location takes online orders."""
    status, pos = str(readiness.get("status")), readiness.get("posStatus") or {}
    if status == "READY" and pos.get("acceptingOnlineOrders") is not False:
        return None
    return f"{NOT_READY} (K-Series notified: {why_not_ready(status, pos)})"


def is_held(order: Order) -> bool:
    """A queued order waiting because its location's kept readiness says not ready."""
    return order.status is Status.QUEUED and (order.last_error or "").startswith(HELD + NOT_READY)


def reached_pos(before: Order, after: Order) -> bool:
    """This write is the news that the order is on the POS (not a step of one already there)."""
    if after.status is before.status or after.status not in _ON_POS or after.outcome_unknown:
        return False
    return before.status in (Status.QUEUED, Status.SUBMITTED, Status.FAILED) or (
        before.outcome_unknown
    )


class Locations:
    """Readiness and per-location gauges, over the store; `clock` and `policy` the engine's."""

    def __init__(self, store: OrderStore, policy: Policy, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.policy = policy
        self.clock = clock

    def before_submit(self, bl: int) -> tuple[dict[str, Any] | None, timedelta | None]:
        """What a submit needs to know of its location, in one round trip: its kept readiness
        if recent enough to act on (else None: unknown), and `time_to_pos`."""
        kept, took_ms = self.store.readiness_and_time_to_pos(bl)
        return self._fresh(kept), None if took_ms is None else timedelta(milliseconds=took_ms)

    def _fresh(self, kept: dict[str, Any] | None) -> dict[str, Any] | None:
        if kept is None:
            return None
        received = int(kept.get("received_ms") or kept.get("updated_ms") or 0)
        now_ms = int(self.clock().timestamp() * 1000)
        return kept if now_ms - received <= k.READINESS_FRESH_S * 1000 else None

    def keep(self, note: ReadinessNotification) -> None:
        """Keep a pushed readiness (unless a newer one is kept); a READY wakes held orders."""
        now = self.clock()
        # never from the future: one stamped 9999 would pin its status for the key's life
        updated = min(note.lastUpdatedAt or now, now)
        kept = note.model_dump(mode="json", include=READINESS_FIELDS)
        kept["received_ms"] = int(now.timestamp() * 1000)
        bl = note.businessLocationId
        if self.store.record_readiness(bl, kept, updated) and not_ready(kept) is None:
            self.wake(bl)

    def wake(self, bl: int) -> int:
        """Bring the location's held orders forward, a turn each; returns how many."""
        now = self.clock()
        spacing = self.policy.rate_limit_spacing.total_seconds()
        woken = 0
        for location, ref in self.store.held_orders(bl, now, WAKE_MAX):
            order = self.store.get(location, ref)
            if order is None or not is_held(order):
                continue  # sent or ended since; its own write released it
            try:
                self.store.transition(location, ref, self._ready(woken * spacing, now))
            except OrderNotFound:
                continue
            woken += 1
        if woken:
            log.info("readiness.woken", business_location_id=bl, orders=woken)
        return woken

    def _ready(self, wait_s: float, now: datetime) -> Callable[[Order], Order]:
        return lambda order: apply(order, LocationReady(wait_s), now, self.policy)

    def recorded(self, before: Order, after: Order) -> None:
        """Keep the location's held list and its undelivered-in-a-row count after a write."""
        bl = after.business_location_id
        if is_held(after) and not is_held(before):
            self.store.hold_order(bl, after.key, after.submit_deadline)
        elif is_held(before) and not is_held(after):
            self.store.release_order(bl, after.key)
        if after.status is before.status:
            return
        if after.status is Status.FAILED and (after.failure_reason or "").startswith(UNDELIVERED):
            self.store.count_undelivered(bl)
        elif reached_pos(before, after):
            self.store.reached_pos(bl, self._took_ms(before, after))

    def _took_ms(self, before: Order, after: Order) -> int | None:
        """How long this order took from K-Series' 200 (or its scheduled time) to the POS, as
        far as orderflow saw; None when that says nothing about the location's usual time (it
        was not simply waiting: never sent, failed, or its outcome unknown)."""
        if before.status is not Status.SUBMITTED or before.outcome_unknown:
            return None
        if after.accepted_at is None:
            return None
        start = max(after.accepted_at, after.scheduled_at or after.accepted_at)
        took = int((self.clock() - start).total_seconds() * 1000)
        return took if took >= 0 else None

    def time_to_pos(self, bl: int) -> timedelta | None:
        """How long this location's orders have lately taken to reach the POS (None: unknown)."""
        took_ms = self.store.time_to_pos(bl)
        return None if took_ms is None else timedelta(milliseconds=took_ms)

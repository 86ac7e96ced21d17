"""Prometheus metrics for `GET /metrics`: a registry refreshed from Redis on every scrape.

Counters are kept in Redis by every process (worker, sweeper, API), so the API mirrors the shared
totals instead of counting only what it saw itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import redis
from prometheus_client import CollectorRegistry, Counter, Gauge

from worker.engine import utcnow
from worker.errors import StoreUnavailable
from worker.kseries.logins import LoginState
from worker.locations import not_ready
from worker.store import OrderStore

__all__ = ["build_registry"]


def _set_counter(child: Any, value: int) -> None:
    """Counters are kept in Redis by every process; mirror the shared total here."""
    child._value.set(value)


def build_registry(
    store: OrderStore, logins: Callable[[], Sequence[LoginState]] | None = None
) -> tuple[CollectorRegistry, Counter]:
    """The registry (`registry.refresh()` reads Redis) and the webhook counter the API keeps;
    `logins()`: every K-Series login's state (per-business token gauges)."""
    registry = CollectorRegistry()
    webhooks = Counter(
        "orderflow_webhooks_received", "Webhook receipts by outcome", ["outcome"], registry=registry
    )
    orders = Gauge("orderflow_orders", "Orders by status", ["status"], registry=registry)
    lag = Gauge(
        "orderflow_timer_lag_seconds", "How overdue the oldest due timer is", registry=registry
    )
    pending = Gauge("orderflow_timers_pending", "Durable timers waiting", registry=registry)
    refused = Gauge(
        "orderflow_kseries_tokens_refused",
        "1 while K-Series refuses the business's refresh token (run `orderflow auth login`)",
        ["business_id"],
        registry=registry,
    )
    refresh_left = Gauge(
        "orderflow_kseries_refresh_token_expires_in_seconds",
        "Seconds until the business's refresh token expires (kept alive 2 days ahead)",
        ["business_id"],
        registry=registry,
    )
    locations = _LocationGauges(registry)

    calls = Counter(
        "orderflow_kseries_calls",
        "K-Series answers by route and status",
        ["method", "route", "status"],
        registry=registry,
    )
    transitions = Counter(
        "orderflow_transitions",
        "Order transitions",
        ["from_status", "to_status"],
        registry=registry,
    )
    retries = Counter(
        "orderflow_retries", "Retried K-Series calls by step", ["call"], registry=registry
    )
    status_events = Counter(
        "orderflow_status_events",
        "Status event attempts to the producer: delivered, retried, undelivered",
        ["outcome"],
        registry=registry,
    )

    def refresh() -> None:
        try:
            for status, count in store.count_by_status().items():
                orders.labels(status=str(status)).set(count)
            lag.set(store.timer_lateness_ms(utcnow()) / 1000)
            pending.set(store.pending_timers())
            locations.refresh(store)
            if logins is not None:
                _token_gauges(logins(), refused, refresh_left)
            for label, value in store.counters("kseries_calls").items():
                method, route, code = label.split(" ", 2)
                _set_counter(calls.labels(method=method, route=route, status=code), value)
            for label, value in store.counters("transitions").items():
                before, _, after = label.partition("->")
                _set_counter(transitions.labels(from_status=before, to_status=after), value)
            for label, value in store.counters("retries").items():
                _set_counter(retries.labels(call=label), value)
            for label, value in store.counters("status_events").items():
                _set_counter(status_events.labels(outcome=label), value)
        except (StoreUnavailable, redis.RedisError):
            pass  # /readyz says why; the gauges keep their last values

    registry.refresh = refresh  # type: ignore[attr-defined]
    return registry, webhooks


class _LocationGauges:
    """Per-location gauges for the alerts: each refresh drops locations that left the store."""

    def __init__(self, registry: CollectorRegistry) -> None:
        label = ["business_location_id"]
        self.undelivered = Gauge(
            "orderflow_location_delivery_failures_in_a_row",
            "Orders of the location that ended undelivered in a row (no device took them)",
            label,
            registry=registry,
        )
        self.ready = Gauge(
            "orderflow_location_ready",
            "1 when the latest readiness K-Series pushed says the location takes online orders",
            label,
            registry=registry,
        )
        self.held = Gauge(
            "orderflow_location_orders_held",
            "Queued orders held unsent while K-Series says the location is not ready",
            label,
            registry=registry,
        )

    def refresh(self, store: OrderStore) -> None:
        undelivered = store.undelivered_in_a_row()
        readiness = store.readiness_by_location()
        held = store.held_by_location(utcnow())
        for gauge in (self.undelivered, self.ready, self.held):
            gauge.clear()
        for bl, count in undelivered.items():
            self.undelivered.labels(business_location_id=str(bl)).set(count)
        for bl, kept in readiness.items():
            self.ready.labels(business_location_id=str(bl)).set(0 if not_ready(kept) else 1)
        for bl, count in held.items():
            self.held.labels(business_location_id=str(bl)).set(count)


def _token_gauges(states: Sequence[LoginState], refused: Gauge, refresh_left: Gauge) -> None:
    """One series per business logged in (and `default`); a business logged out disappears."""
    refused.clear()
    refresh_left.clear()
    now = utcnow()
    for state in states:
        refused.labels(business_id=state.business_id).set(1 if state.refused else 0)
        expiry = state.pair.refresh_expires_at if state.pair else None
        if expiry is not None:  # unknown for a configured token until its first refresh
            left = (expiry - now).total_seconds()
            refresh_left.labels(business_id=state.business_id).set(left)

"""The per-location gauges the alerts read, on the API's /metrics, kept by the engine that
records transitions and readiness (API and engine on one fakeredis store, K-Series faked)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api_harness_notes import NotificationHarness
from tests.builders import BL

OTHER = BL + 1
NO_DEVICE = "No devices available to handle the task, the task has been rejected."
TIMED_OUT = "Not processed before validity ended"


def gauge(hook: NotificationHarness, name: str) -> dict[int, float]:
    """`name`'s value per business location, as Prometheus would scrape it."""
    text = hook.api.http.get("/metrics").text
    return {
        int(sample.labels["business_location_id"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def order(hook: NotificationHarness, ref: str, bl: int = BL) -> None:
    """A new order at `bl`, as of the harness' clock (sent, or held)."""
    hook.order(ref, bl=bl, now=hook.clock.now)


def news(hook: NotificationHarness, ref: str, status: str, bl: int = BL, **fields: Any) -> None:
    body = {"type": "ORDER", "status": status, "thirdPartyReference": ref, "businessLocationId": bl}
    hook.apply(hook.post(body | fields).json()["id"])


def readiness(hook: NotificationHarness, status: str, at: str) -> None:
    ready = status == "READY"
    body = {
        "type": "ORDER_API",
        "businessLocationId": BL,
        "status": status,
        "lastUpdatedAt": at,
        "posStatus": {
            "salesPeriod": "OPENED" if ready else "CLOSED",
            "acceptingOnlineOrders": ready,
        },
    }
    hook.apply(hook.post(body).json()["id"])


@pytest.fixture
def hook() -> NotificationHarness:
    harness = NotificationHarness()
    harness.clock.now = datetime.now(UTC)  # /metrics trims held orders by the wall clock
    return harness


def test_orders_a_location_fails_to_deliver_are_counted_in_a_row_until_one_gets_on_the_pos(
    hook: NotificationHarness,
) -> None:
    name = "orderflow_location_delivery_failures_in_a_row"
    for ref, reason in (("a", TIMED_OUT), ("b", NO_DEVICE), ("c", TIMED_OUT)):
        order(hook, ref)
        news(hook, ref, "FAILURE", reason=reason)
    order(hook, "x", OTHER)  # another location's failure for another cause counts nothing
    news(hook, "x", "FAILURE", bl=OTHER, reason="Could not add item COLA (not found)")
    assert gauge(hook, name) == {BL: 3}
    # A failure for another cause neither counts nor ends the run
    order(hook, "d")
    news(hook, "d", "FAILURE", reason="Could not add item COLA (not found)")
    assert gauge(hook, name) == {BL: 3}
    # An order of the location gets onto the POS: the run is over and its entry goes
    order(hook, "e")
    news(hook, "e", "SUCCESS")
    assert hook.api.store.get(BL, "e").status.value != "submitted"  # type: ignore[union-attr]
    assert gauge(hook, name) == {}
    assert hook.api.redis.exists("orderflow:undelivered-in-a-row") == 0


def test_a_duplicate_failure_notification_is_not_counted_twice(hook: NotificationHarness) -> None:
    order(hook, "a")
    news(hook, "a", "FAILURE", reason=TIMED_OUT)
    news(hook, "a", "FAILURE", reason=TIMED_OUT)
    assert gauge(hook, "orderflow_location_delivery_failures_in_a_row") == {BL: 1}


def test_readiness_and_the_orders_held_for_it_are_exported_per_location(
    hook: NotificationHarness,
) -> None:
    # Unknown readiness, nothing held: no series for the location
    assert gauge(hook, "orderflow_location_ready") == {}
    assert gauge(hook, "orderflow_location_orders_held") == {}
    # NOT_READY, then two orders come and are held
    readiness(hook, "NOT_READY", "2026-01-01T10:00:00Z")
    order(hook, "a")
    order(hook, "b")
    assert gauge(hook, "orderflow_location_ready") == {BL: 0}
    assert gauge(hook, "orderflow_location_orders_held") == {BL: 2}
    # READY: the gauge says so, and once the woken orders are sent nothing is held
    readiness(hook, "READY", "2026-01-01T11:00:00Z")
    assert gauge(hook, "orderflow_location_ready") == {BL: 1}
    hook.clock.tick(1)  # both turns have come
    for ref in ("a", "b"):
        sent = hook.engine.advance(BL, ref)
        assert sent is not None and sent.status.value == "submitted"
    assert gauge(hook, "orderflow_location_orders_held") == {BL: 0}

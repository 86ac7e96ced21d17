"""K-Series' readiness notifications through the real stack: NOT_READY holds a location's new
orders without asking K-Series, READY sends them at once, /metrics shows what the alerts read.
The readiness pre-flight is on, to show a kept readiness spares its call per order.

The sandbox sends no ORDER_API notifications, so the test POSTs them to our webhook as K-Series
would (Basic auth, JSON)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench.demo import DEMO_LOCATION, OFFLINE_LOCATION, SCENARIOS, scenario_body
from tests.integration.conftest import fast_stack_config
from tests.integration.helpers import wait_terminal
from worker.locations import HOLD_S
from worker.stack import Stack

pytestmark = pytest.mark.integration

BL = DEMO_LOCATION


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = fast_stack_config()
    config.env |= {"ORDERFLOW_READINESS_CHECK": "true"}
    with Stack(config, Path(tmp_path_factory.mktemp("notified"))) as running:
        yield running


@pytest.fixture(scope="module")
def api(stack: Stack) -> Iterator[httpx.Client]:
    headers = {"Authorization": "Bearer integration-token"}
    with httpx.Client(base_url=stack.api_url, headers=headers, timeout=10.0) as client:
        yield client


def notify_readiness(stack: Stack, status: str, bl: int = BL) -> None:
    """What K-Series POSTs when the location's readiness changes."""
    ready = status == "READY"
    body = {
        "type": "ORDER_API",
        "businessLocationId": bl,
        "status": status,
        "lastUpdatedAt": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "onlineOrderingApiConfiguration": {"enabled": True, "orderProfileId": 1, "staffId": 3},
        "posStatus": {
            "salesPeriod": "OPENED" if ready else "CLOSED",
            "acceptingOnlineOrders": ready,
            "availableDevices": ready,
        },
    }
    response = httpx.post(
        f"{stack.api_url}/webhooks/kseries", json=body, auth=("kseries", stack.webhook_password)
    )
    assert response.status_code == 200, response.text


def gauge(api: httpx.Client, name: str) -> dict[int, float]:
    return {
        int(sample.labels["business_location_id"]): sample.value
        for family in text_string_to_metric_families(api.get("/metrics").text)
        for sample in family.samples
        if sample.name == name
    }


def until(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Poll until `check()` is truthy (a positive signal, never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.1)
    raise AssertionError(f"never: {what}")


def history(api: httpx.Client, ref: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = api.get(f"/orders/{BL}/{ref}").json()["history"]
    return entries


def was_held(api: httpx.Client, ref: str) -> bool:
    return any(h["event"] == "held" for h in history(api, ref))


def test_a_not_ready_location_holds_its_orders_and_ready_sends_them_at_once(
    stack: Stack, api: httpx.Client
) -> None:
    ledger = f"{stack.sandbox_url}/_sandbox/ledger"
    # Given K-Series said the location is not ready (its sales period closed)
    notify_readiness(stack, "NOT_READY")
    until(lambda: gauge(api, "orderflow_location_ready") == {BL: 0}, "readiness kept")
    # When two orders come for it
    scenario = next(s for s in SCENARIOS if s.name == "remainder settled")
    refs = [f"notready-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    for ref in refs:
        body = scenario_body(scenario, reference=ref, ttl_ms=120_000)
        assert api.post("/orders", json=body).status_code == 202
    # Then each waits queued, its history saying why, and none reached K-Series
    for ref in refs:
        until(partial(was_held, api, ref), f"{ref} held")
        view = api.get(f"/orders/{BL}/{ref}").json()
        assert view["status"] == "queued"
        held = next(h for h in view["history"] if h["event"] == "held")
        assert held["detail"].startswith(
            "submit: not sent: location not ready for online orders (K-Series notified: "
            "sales period CLOSED"
        )
    until(lambda: gauge(api, "orderflow_location_orders_held") == {BL: 2}, "2 held")
    accepted = httpx.get(ledger).json()["orders_accepted"]
    assert not any(f"{BL}:{ref}" in accepted for ref in refs)
    # When K-Series says the location is ready again
    notify_readiness(stack, "READY")
    # Then both go through at once, woken, not at their next look HOLD_S later
    for ref in refs:
        view = wait_terminal(api, BL, ref, timeout=HOLD_S / 2)
        assert view["status"] == "completed", view["history"]
        events = [h["event"] for h in view["history"]]
        assert events.index("readiness.ready") < events.index("submit.accepted")
    assert gauge(api, "orderflow_location_ready") == {BL: 1}
    until(lambda: gauge(api, "orderflow_location_orders_held") in ({}, {BL: 0}), "none held")
    # And K-Series was never asked: the kept readiness decided, pre-flight on or not
    routes = httpx.get(ledger).json()["requests"]
    assert not [route for route in routes if "onlineOrderReadiness" in route], routes


def test_orders_an_offline_location_fails_to_deliver_are_counted_in_a_row(
    stack: Stack, api: httpx.Client
) -> None:
    scenario = next(s for s in SCENARIOS if s.name == "offline location")
    name = "orderflow_location_delivery_failures_in_a_row"
    before = gauge(api, name).get(OFFLINE_LOCATION, 0)
    # K-Series says READY (so the pre-flight is spared), yet no device of the POS takes orders
    notify_readiness(stack, "READY", OFFLINE_LOCATION)
    until(lambda: gauge(api, "orderflow_location_ready").get(OFFLINE_LOCATION) == 1, "kept")
    ref = f"offline-{uuid.uuid4().hex[:8]}"
    assert api.post("/orders", json=scenario_body(scenario, reference=ref)).status_code == 202
    view = wait_terminal(api, OFFLINE_LOCATION, ref, timeout=30)
    assert view["status"] == "failed"
    assert view["failureReason"] in (
        "Not processed before validity ended",
        "No devices available to handle the task, the task has been rejected.",
    )
    assert gauge(api, name).get(OFFLINE_LOCATION) == before + 1

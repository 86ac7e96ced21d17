"""The readiness pre-flight against the sandbox: a closed location holds orders, not burns them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.demo import SCENARIOS, scenario_body
from tests.integration.conftest import fast_stack_config
from tests.integration.helpers import wait_terminal
from worker.stack import Stack

pytestmark = pytest.mark.integration

CLOSED = 45454565681111


@pytest.fixture(scope="module")
def ready_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = fast_stack_config(sandbox_args=["--offline", str(CLOSED)])
    config.env |= {"ORDERFLOW_READINESS_CHECK": "true", "ORDERFLOW_ORDER_TTL_MS": "6000"}
    with Stack(config, Path(tmp_path_factory.mktemp("ready"))) as stack:
        yield stack


def client(stack: Stack) -> httpx.Client:
    return httpx.Client(
        base_url=stack.api_url, headers={"Authorization": "Bearer integration-token"}
    )


def held(api: httpx.Client, bl: int, ref: str, timeout: float = 30.0) -> None:
    """Until the order's history shows a readiness hold (a positive signal, not a sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = api.get(f"/orders/{bl}/{ref}").json()
        if any("readiness: location not ready" in h["detail"] for h in view["history"]):
            assert view["status"] == "queued", view["history"]
            return
        time.sleep(0.1)
    raise AssertionError(f"{bl}/{ref} was never held for readiness")


def order_at_closed_location(ref: str) -> dict:  # type: ignore[type-arg]
    scenario = next(s for s in SCENARIOS if s.name == "remainder settled")
    body = scenario_body(scenario, reference=ref, ttl_ms=6_000)
    body["order"]["businessLocationId"] = CLOSED
    return body


def test_a_closed_location_holds_the_order_and_it_is_never_sent(ready_stack: Stack) -> None:
    ref = f"closed-{uuid.uuid4().hex[:8]}"
    with client(ready_stack) as api:
        assert api.post("/orders", json=order_at_closed_location(ref)).status_code == 202
        view = wait_terminal(api, CLOSED, ref, timeout=30)
    assert view["status"] == "failed"
    assert view["failureReason"].startswith("not sent: location not ready for online orders")
    assert any("readiness: location not ready" in h["detail"] for h in view["history"])
    ledger = httpx.get(f"{ready_stack.sandbox_url}/_sandbox/ledger").json()
    assert f"{CLOSED}:{ref}" not in ledger["orders_accepted"]


def test_an_order_held_for_a_closed_location_goes_through_when_it_opens(ready_stack: Stack) -> None:
    ref = f"opens-{uuid.uuid4().hex[:8]}"
    with client(ready_stack) as api:
        api.post("/orders", json=order_at_closed_location(ref)).raise_for_status()
        held(api, CLOSED, ref)  # the order was held at least once before the location opens
        httpx.post(
            f"{ready_stack.sandbox_url}/_sandbox/locations/{CLOSED}/online"
        ).raise_for_status()
        try:
            view = wait_terminal(api, CLOSED, ref, timeout=30)
        finally:
            httpx.post(f"{ready_stack.sandbox_url}/_sandbox/locations/{CLOSED}/offline")
    assert view["status"] == "completed", view["history"]
    assert any("readiness" in h["detail"] for h in view["history"])

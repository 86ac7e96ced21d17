"""`orderflow demo`: sample orders through a running stack, and a table of how each ended."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["SCENARIOS", "Scenario", "run_scenarios", "scenario_body"]

DEMO_LOCATION = 45454565682155
OFFLINE_LOCATION = 45454565689999


@dataclass(frozen=True)
class Scenario:
    name: str
    expected: str
    items: tuple[tuple[str, int], ...]
    paid: str | None = None
    max_amount: str | None = "5.00"
    location: int = DEMO_LOCATION
    endpoint_id: str | None = None  # an endpoint with no webhook registered: found by polling
    kind: str = "local"


# The sandbox prices BURGER 12.50, FRIES 4.00, COLA 3.00 and adds a 10 % service charge.
SCENARIOS = (
    Scenario("fully paid", "completed", (("BURGER", 1),), paid="13.75"),
    Scenario("remainder settled", "completed", (("BURGER", 1), ("FRIES", 1)), paid="16.50"),
    Scenario(
        "remainder above maxAmount",
        "needs_attention",
        (("BURGER", 2),),
        paid="5.00",
        max_amount="2.00",
    ),
    Scenario("unknown SKU", "failed", (("NOPE-404", 1),), paid="1.00"),
    Scenario("offline location", "failed", (("COLA", 1),), location=OFFLINE_LOCATION),
    Scenario(
        "webhook missing",
        "completed",
        (("COLA", 2),),
        paid="6.00",
        endpoint_id="no-webhook-endpoint",
    ),
    Scenario("toGo order", "completed", (("FRIES", 2),), paid="8.00", kind="toGo"),
)


def scenario_body(
    scenario: Scenario, reference: str | None = None, ttl_ms: int | None = None
) -> dict[str, Any]:
    """The `POST /orders` body for a scenario."""
    order: dict[str, Any] = {
        "businessLocationId": scenario.location,
        "thirdPartyReference": reference or f"demo-{uuid.uuid4().hex[:12]}",
        "customerInfo": {"firstName": "Jane", "lastName": "Doe", "email": "jane@example.com"},
        "items": [{"sku": sku, "quantity": qty} for sku, qty in scenario.items],
    }
    if scenario.kind == "toGo":
        order["collectionCode"] = "AB12"
    if ttl_ms:
        order["maxTimeToAttemptOrderDeliverToPos"] = ttl_ms
    if scenario.endpoint_id:
        order["endpointId"] = scenario.endpoint_id
    if scenario.paid:
        order["payment"] = {
            "paymentMethod": "OOPAYMENT",
            "paymentAmount": scenario.paid,
            "tipAmount": "0.00",
        }
    body: dict[str, Any] = {"type": scenario.kind, "order": order}
    if scenario.max_amount:
        body["settleRemaining"] = {"paymentMethod": "OOPAYMENT", "maxAmount": scenario.max_amount}
    return body


TERMINAL = {"completed", "failed", "needs_attention"}


def run_scenarios(
    api_url: str, *, token: str | None = None, timeout_s: float = 120.0, ttl_ms: int | None = None
) -> list[dict[str, Any]]:
    """Submit every scenario at once, wait for each to end; one row per scenario."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    rows = []
    with httpx.Client(base_url=api_url, headers=headers, timeout=10.0) as http:
        started = {}
        for scenario in SCENARIOS:
            body = scenario_body(scenario, ttl_ms=ttl_ms)
            response = http.post("/orders", json=body)
            response.raise_for_status()
            started[scenario.name] = (scenario, response.json()["statusUrl"], time.monotonic())
        deadline = time.monotonic() + timeout_s
        pending = dict(started)
        results: dict[str, dict[str, Any]] = {}
        while pending and time.monotonic() < deadline:
            for name, (_scenario, url, t0) in list(pending.items()):
                view = http.get(url).json()
                if view["status"] in TERMINAL:
                    results[name] = {**view, "wall_s": time.monotonic() - t0}
                    del pending[name]
            time.sleep(0.2)
        for name, (scenario, url, t0) in started.items():
            view = results.get(name) or {**http.get(url).json(), "wall_s": time.monotonic() - t0}
            rows.append({"scenario": name, "expected": scenario.expected, **view})
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table: scenario, expected, status, seconds, why."""
    lines = [f"{'scenario':<28} {'expected':<16} {'status':<16} {'secs':>6}  why", "-" * 110]
    for row in rows:
        ended = [h for h in row.get("history", []) if h["status"] == row["status"]]
        why = row.get("failureReason") or (ended[0]["detail"] if ended else "")
        mark = "" if row["status"] == row["expected"] else "  <-- unexpected"
        cells = f"{row['scenario']:<28} {row['expected']:<16} {row['status']:<16}"
        lines.append(f"{cells} {row['wall_s']:>6.1f}  {why}{mark}")
    return "\n".join(lines)

"""`orderflow demo`: sample orders through a running stack, and a table of how each ended."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = [
    "SCENARIOS",
    "DemoError",
    "Plan",
    "Scenario",
    "location_offline",
    "run_scenarios",
    "scenario_body",
    "table",
    "unexpected",
]

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


TERMINAL = {"completed", "failed", "needs_attention", "resolved"}
SKIPPED = "skipped"


class DemoError(RuntimeError):
    """The demo cannot go on; the message says why in one line a person can act on."""


@contextmanager
def location_offline(sandbox_url: str, location: int = OFFLINE_LOCATION) -> Iterator[None]:
    """The sandbox's location offline (its admin API) for the block; online again after,
    unless it was offline before."""
    base = f"{sandbox_url.rstrip('/')}/_sandbox"
    admin = f"{base}/locations/{location}"
    try:
        config = httpx.get(f"{base}/config", timeout=10.0).raise_for_status().json()
        httpx.post(f"{admin}/offline", timeout=10.0).raise_for_status()
    except (httpx.HTTPError, ValueError) as exc:
        why = _why(exc) if isinstance(exc, httpx.HTTPError) else "not a sandbox's answer"
        raise DemoError(
            f"cannot mark location {location} offline at the sandbox {sandbox_url} ({why}): "
            "is --sandbox-url the sandbox the API talks to?"
        ) from None
    try:
        yield
    finally:
        if location not in config.get("offline_locations", []):
            httpx.post(f"{admin}/online", timeout=10.0)


# What to submit, in order: (the business a row is labelled with, or None, scenario).
Plan = Sequence[tuple[str | None, Scenario]]


def run_scenarios(
    api_url: str,
    *,
    token: str | None = None,
    timeout_s: float = 120.0,
    ttl_ms: int | None = None,
    skip: dict[str, str] | None = None,
    plan: Plan | None = None,
) -> list[dict[str, Any]]:
    """Submit every order of `plan` at once, in its order (default: each scenario once, for
    the one business configured), but scenarios named in `skip` (name -> why); wait for each
    to end; one row per order, with its `business` when the plan names one.

    Raises:
        DemoError: the API cannot be reached or refuses the orders.
    """
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    plan = plan if plan is not None else [(None, scenario) for scenario in SCENARIOS]
    try:
        with httpx.Client(base_url=api_url, headers=headers, timeout=10.0) as http:
            rows = _run(http, plan, timeout_s, ttl_ms, skip or {})
    except httpx.HTTPError as exc:
        raise DemoError(f"the API at {api_url}: {_why(exc)}") from None
    return rows


def _run(
    http: httpx.Client, plan: Plan, timeout_s: float, ttl_ms: int | None, skip: dict[str, str]
) -> list[dict[str, Any]]:
    started: dict[int, tuple[str, float]] = {}
    for i, (_, scenario) in enumerate(plan):
        if scenario.name not in skip:
            response = http.post("/orders", json=scenario_body(scenario, ttl_ms=ttl_ms))
            response.raise_for_status()
            started[i] = (response.json()["statusUrl"], time.monotonic())
    deadline = time.monotonic() + timeout_s
    pending = dict(started)
    results: dict[int, dict[str, Any]] = {}
    while pending and time.monotonic() < deadline:
        for i, (url, t0) in list(pending.items()):
            response = http.get(url)
            response.raise_for_status()
            if response.json()["status"] in TERMINAL:
                results[i] = {**response.json(), "wall_s": time.monotonic() - t0}
                del pending[i]
        time.sleep(0.2)
    rows = []
    for i, (business, scenario) in enumerate(plan):
        row: dict[str, Any] = {"scenario": scenario.name, "expected": scenario.expected}
        if business is not None:
            row["business"] = business
        if scenario.name in skip:
            rows.append(
                row | {"status": SKIPPED, "wall_s": 0.0, "failureReason": skip[scenario.name]}
            )
            continue
        url, t0 = started[i]
        view = results.get(i) or {**http.get(url).json(), "wall_s": time.monotonic() - t0}
        rows.append(row | view)
    return rows


def unexpected(row: dict[str, Any]) -> bool:
    """Ended otherwise than expected (a skipped scenario did not end at all)."""
    return row["status"] not in (row["expected"], SKIPPED)


def _why(exc: httpx.HTTPError) -> str:
    """One line a person can act on."""
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        hint = {
            401: ": set ORDERFLOW_API_TOKEN (or --token) to the API's producer token",
            403: ": the token is not allowed here",
        }.get(status, f": {exc.response.text[:160]}")
        return f"{exc.request.method} {exc.request.url.path} answered {status}{hint}"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect to {exc.request.url.host}:{exc.request.url.port}: is it running?"
    return f"{type(exc).__name__}: {exc}"


def table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table: scenario, expected, status, seconds, why; led by the business when
    the rows name one (every column ends at least two spaces before the next)."""
    width = max((len(row.get("business", "")) for row in rows), default=0)
    lead = f"{'business':<{width + 2}}" if width else ""
    lines = [f"{lead}{'scenario':<28} {'expected':<16} {'status':<16} {'secs':>6}  why"]
    lines.append("-" * (110 + len(lead)))
    for row in rows:
        ended = [h for h in row.get("history", []) if h["status"] == row["status"]]
        why = row.get("failureReason") or (ended[0]["detail"] if ended else "")
        mark = "  <-- unexpected" if unexpected(row) else ""
        lead = f"{row.get('business', ''):<{width + 2}}" if width else ""
        cells = f"{lead}{row['scenario']:<28} {row['expected']:<16} {row['status']:<16}"
        secs = "" if row["status"] == SKIPPED else f"{row['wall_s']:.1f}"
        lines.append(f"{cells} {secs:>6}  {why}{mark}")
    return "\n".join(lines)

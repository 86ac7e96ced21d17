"""Every demo scenario through POST /orders on the real stack, to its terminal status."""

from __future__ import annotations

import uuid
from decimal import Decimal

import httpx
import pytest

from bench.demo import SCENARIOS, Scenario, scenario_body
from tests.integration.helpers import wait_terminal

pytestmark = pytest.mark.integration


def ledger(sandbox: httpx.Client) -> dict:  # type: ignore[type-arg]
    return sandbox.get("/_sandbox/ledger").json()  # type: ignore[no-any-return]


def account(sandbox: httpx.Client, location: int, identifier: str) -> dict:  # type: ignore[type-arg]
    """The check as K-Series (the sandbox) has it."""
    response = sandbox.get(
        f"/o/op/1/order/accounts/{identifier}",
        params={"businessLocationId": location},
        headers={"Authorization": "Bearer x"},
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name.replace(" ", "-"))
def test_each_demo_scenario_ends_in_its_expected_status(
    scenario: Scenario, api: httpx.Client, sandbox: httpx.Client
) -> None:
    # Given a producer's order for this scenario
    ref = f"it-{uuid.uuid4().hex[:10]}"
    body = scenario_body(scenario, reference=ref, ttl_ms=3_000)
    # When it is submitted over HTTP
    response = api.post("/orders", json=body)
    assert response.status_code == 202, response.text
    # Then it ends in the scenario's status, and K-Series accepted it at most once
    view = wait_terminal(api, scenario.location, ref)
    assert view["status"] == scenario.expected, view["history"]
    book = ledger(sandbox)
    assert book["orders_accepted"].get(f"{scenario.location}:{ref}", 0) == 1
    # every payment orderflow made is on the POS exactly once if applied, else not at all
    applications = book["payment_applications"]
    for payment in view["payments"]:
        expected = 1 if payment["status"] == "applied" else 0
        assert applications.get(payment["thirdPartyPaymentReference"], 0) == expected, payment


@pytest.mark.parametrize(
    "scenario",
    [s for s in SCENARIOS if s.expected == "completed"],
    ids=lambda s: s.name.replace(" ", "-"),
)
def test_a_completed_order_leaves_its_check_fully_paid_by_exactly_the_remainder(
    scenario: Scenario, api: httpx.Client, sandbox: httpx.Client
) -> None:
    ref = f"it-{uuid.uuid4().hex[:10]}"
    api.post("/orders", json=scenario_body(scenario, reference=ref, ttl_ms=3_000))
    view = wait_terminal(api, scenario.location, ref)
    assert view["status"] == "completed", view["history"]
    check = account(sandbox, scenario.location, view["accountIdentifier"])
    current, paid = Decimal(str(check["currentAmount"])), Decimal(str(check["paidAmount"]))
    assert paid == current  # nothing left to pay on the POS
    applied = [Decimal(p["amount"]) for p in view["payments"] if p["status"] == "applied"]
    # what orderflow paid is exactly what the producer's upfront payment left open
    assert sum(applied, Decimal("0")) == current - Decimal(scenario.paid or "0")
    assert len(applied) == (1 if current > Decimal(scenario.paid or "0") else 0)


def test_a_remainder_is_paid_once_with_a_fresh_reference_and_the_check_ends_fully_paid(
    api: httpx.Client, sandbox: httpx.Client
) -> None:
    scenario = next(s for s in SCENARIOS if s.name == "remainder settled")
    ref = f"it-{uuid.uuid4().hex[:10]}"
    api.post("/orders", json=scenario_body(scenario, reference=ref, ttl_ms=3_000))
    view = wait_terminal(api, scenario.location, ref)
    assert view["status"] == "completed"
    (payment,) = view["payments"]
    assert payment["status"] == "applied"
    assert payment["amount"] == "1.65"
    assert payment["thirdPartyPaymentReference"] != ref
    assert len(payment["thirdPartyPaymentReference"]) <= 50
    check = account(sandbox, scenario.location, view["accountIdentifier"])
    assert Decimal(str(check["currentAmount"])) == Decimal(str(check["paidAmount"]))


def test_failure_reasons_are_the_ones_k_series_sends(api: httpx.Client) -> None:
    unknown = next(s for s in SCENARIOS if s.name == "unknown SKU")
    offline = next(s for s in SCENARIOS if s.name == "offline location")
    refs = {}
    for scenario in (unknown, offline):
        ref = f"it-{uuid.uuid4().hex[:10]}"
        api.post("/orders", json=scenario_body(scenario, reference=ref, ttl_ms=3_000))
        refs[scenario.name] = (scenario.location, ref)
    assert (
        wait_terminal(api, *refs["unknown SKU"])["failureReason"]
        == "Could not add item NOPE-404 (not found)"
    )
    assert wait_terminal(api, *refs["offline location"])["failureReason"] in (
        "Not processed before validity ended",
        "not on the POS before its delivery deadline",
    )


def test_resubmitting_the_same_order_is_idempotent_end_to_end(
    api: httpx.Client, sandbox: httpx.Client
) -> None:
    scenario = SCENARIOS[0]
    ref = f"it-{uuid.uuid4().hex[:10]}"
    body = scenario_body(scenario, reference=ref, ttl_ms=3_000)
    answers = {api.post("/orders", json=body).status_code for _ in range(3)}
    assert answers == {202}
    wait_terminal(api, scenario.location, ref)
    assert ledger(sandbox)["orders_accepted"][f"{scenario.location}:{ref}"] == 1

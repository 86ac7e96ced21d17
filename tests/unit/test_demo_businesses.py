"""The demo's two businesses: their orders interleaved, and an account per business that fails
the demo when any call went on the other business's tokens."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from click.testing import CliRunner

import bench.demo_businesses
from bench.demo import OFFLINE_LOCATION, SCENARIOS, table
from bench.demo_businesses import RESTAURANTS, accounts, accounts_table, interleaved
from worker.cli import main

PIZZA, SUSHI = RESTAURANTS


def ledger(token_uses: list[dict[str, Any]], accepted: int = 1) -> dict[str, Any]:
    """`GET /_sandbox/ledger`, as the sandbox answers it, cut to what the accounts read."""
    return {
        "orders": {
            f"{PIZZA.location}:p1": {
                "businessLocationId": PIZZA.location,
                "accepted": accepted,
                "accountIdentifier": "A-1",
            },
            f"{SUSHI.location}:s1": {
                "businessLocationId": SUSHI.location,
                "accepted": 1,
                "accountIdentifier": "A-2",
            },
            f"{SUSHI.offline_location}:s2": {
                "businessLocationId": SUSHI.offline_location,
                "accepted": 1,
                "accountIdentifier": None,
            },
        },
        "payments": {
            "A-1": [{"thirdPartyPaymentReference": "pay-1", "amount": "2.75", "tip": "0.00"}],
            "A-2": [
                {"thirdPartyPaymentReference": "pay-2", "amount": "11.50", "tip": "0.00"},
                {"thirdPartyPaymentReference": "pay-3", "amount": "0.25", "tip": "0.00"},
            ],
        },
        "payment_applications": {"pay-1": 1, "pay-2": 1, "pay-3": 1},
        "token_uses": token_uses,
        "tokens_issued_by_business": {str(PIZZA.id): 3, str(SUSHI.id): 4},
    }


def use(token: int | None, location: int, owner: int, count: int = 5) -> dict[str, Any]:
    return {
        "tokenBusinessId": token,
        "businessLocationId": location,
        "locationBusinessId": owner,
        "route": "POST /o/op/1/order/local",
        "count": count,
    }


CLEAN = [use(PIZZA.id, PIZZA.location, PIZZA.id), use(SUSHI.id, SUSHI.location, SUSHI.id, 7)]


def rows(status: str = "completed") -> list[dict[str, Any]]:
    return [
        {"business": r.name, "scenario": "fully paid", "expected": "completed", "status": status}
        for r in RESTAURANTS
    ]


def test_each_business_runs_every_scenario_at_its_own_locations_the_two_alternating() -> None:
    plan = interleaved(RESTAURANTS)
    assert [business for business, _ in plan[:4]] == [PIZZA.name, SUSHI.name] * 2
    assert len(plan) == 2 * len(SCENARIOS)
    for restaurant in RESTAURANTS:
        mine = [s for business, s in plan if business == restaurant.name]
        assert [s.name for s in mine] == [s.name for s in SCENARIOS]
        offline = [s.location for s in mine if s.name == "offline location"]
        assert offline == [restaurant.offline_location]
        assert {s.location for s in mine} == set(restaurant.locations)
    assert PIZZA.offline_location == OFFLINE_LOCATION
    assert not set(PIZZA.locations) & set(SUSHI.locations)


def test_each_account_counts_its_own_payments_calls_and_token_pairs() -> None:
    pizza, sushi = accounts(RESTAURANTS, rows(), ledger(CLEAN))
    assert (pizza.business, pizza.orders, pizza.as_expected) == ("101 Pizza One", 1, 1)
    assert (pizza.payments, pizza.paid, pizza.calls, pizza.token_pairs) == (
        1,
        Decimal("2.75"),
        5,
        3,
    )
    assert (sushi.payments, sushi.paid, sushi.calls, sushi.token_pairs) == (
        2,
        Decimal("11.75"),
        7,
        4,
    )
    assert (pizza.crossed, sushi.crossed, pizza.twice, sushi.twice) == (0, 0, 0, 0)
    assert pizza.ok and sushi.ok


def test_a_token_used_for_the_other_business_location_fails_both_accounts() -> None:
    # Given one call on Sushi Two's token for Pizza One's location
    crossed = [*CLEAN, use(SUSHI.id, PIZZA.location, PIZZA.id, 1)]
    pizza, sushi = accounts(RESTAURANTS, rows(), ledger(crossed))
    # Then both businesses' accounts show it, and neither is right
    assert (pizza.crossed, sushi.crossed) == (1, 1)
    assert not pizza.ok and not sushi.ok
    assert accounts_table([pizza, sushi]).count("<-- unexpected") == 2


def test_a_call_on_no_business_token_for_a_business_location_counts_as_wrong() -> None:
    pizza, sushi = accounts(RESTAURANTS, rows(), ledger([*CLEAN, use(None, SUSHI.location, 202)]))
    assert (pizza.crossed, sushi.crossed) == (0, 5)
    assert pizza.ok and not sushi.ok


def test_an_order_accepted_twice_or_one_ending_unexpectedly_fails_its_business() -> None:
    pizza, sushi = accounts(RESTAURANTS, rows(), ledger(CLEAN, accepted=2))
    assert (pizza.twice, pizza.ok, sushi.ok) == (1, False, True)
    failed = accounts(RESTAURANTS, rows("failed"), ledger(CLEAN))
    assert [(a.as_expected, a.ok) for a in failed] == [(0, False), (0, False)]


def test_a_business_whose_tokens_made_no_call_is_not_shown_as_right() -> None:
    pizza, sushi = accounts(RESTAURANTS, rows(), ledger(CLEAN[1:]))
    assert (pizza.calls, pizza.ok, sushi.ok) == (0, False, True)


def test_the_rows_table_leads_with_the_business_and_splits_on_two_spaces() -> None:
    view: dict[str, Any] = {"history": [], "failureReason": None, "wall_s": 1.25}
    lines = table([row | view for row in rows()]).splitlines()
    assert re.split(r"\s{2,}", lines[0].strip()) == [
        "business",
        "scenario",
        "expected",
        "status",
        "secs",
        "why",
    ]
    cells = [re.split(r"\s{2,}", line.strip()) for line in lines[2:]]
    assert cells == [
        [PIZZA.name, "fully paid", "completed", "completed", "1.2"],
        [SUSHI.name, "fully paid", "completed", "completed", "1.2"],
    ]


def test_rows_without_a_business_keep_the_one_business_table() -> None:
    row = {"scenario": "fully paid", "expected": "completed", "status": "completed"}
    lines = table([row | {"history": [], "wall_s": 0.5}]).splitlines()
    assert lines[0].startswith("scenario ")
    assert lines[2].startswith("fully paid ")


def test_the_demo_exits_1_when_a_call_went_on_the_other_business_tokens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given every order ending as expected, but one call on the wrong business's token
    done = [row | {"history": [], "wall_s": 1.0} for row in rows()]
    crossed = accounts(RESTAURANTS, done, ledger([*CLEAN, use(SUSHI.id, PIZZA.location, 101)]))
    monkeypatch.setattr(bench.demo_businesses, "run_side_by_side", lambda log: (done, crossed))
    # When the demo runs on its own stack
    result = CliRunner().invoke(main, ["demo"])
    # Then it says so per business and fails
    assert result.exit_code == 1, result.output
    assert result.output.count("<-- unexpected") == 2
    clean = accounts(RESTAURANTS, done, ledger(CLEAN))
    monkeypatch.setattr(bench.demo_businesses, "run_side_by_side", lambda log: (done, clean))
    assert CliRunner().invoke(main, ["demo"]).exit_code == 0

"""Exactly once under faults: the chaos run, at a CI size (full size: `orderflow chaos`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.chaos import run_chaos

pytestmark = [pytest.mark.integration, pytest.mark.chaos]


@pytest.mark.timeout(900)
def test_nothing_is_lost_accepted_twice_or_paid_twice_while_the_stack_is_broken(
    tmp_path: Path,
) -> None:
    # Given 20 % 5xx/429, 10 % lost answers, dropped, duplicated and reordered webhooks,
    # When orders flow while the worker is SIGKILLed twice and Redis restarts once,
    orders = int(os.environ.get("ORDERFLOW_CHAOS_ORDERS", "150"))
    report = run_chaos(orders, workdir=tmp_path)
    print("\n".join(report.lines()))
    # Then the sandbox's ledger agrees with orderflow, order by order.
    assert report.accepted_by_api == orders
    assert report.lost == 0
    assert report.accepted_twice == 0
    assert report.payments_applied_twice == 0
    assert report.checks_overpaid == 0
    assert report.settled_not_fully_paid == 0
    assert report.wrong_status == []
    # the faults really happened, every kind of them
    assert {"error", "rate_limit", "lost"} <= {
        k for k, n in report.faults_injected.items() if n > 0
    }
    assert sum(report.faults_injected.values()) >= orders // 2
    assert all(seconds <= 10.0 for seconds in report.kill_recovery_s), report.kill_recovery_s
    assert len(report.kill_recovery_s) == 2

"""Exactly once under faults: the chaos run, at a CI size (full size: `orderflow chaos`)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from bench.chaos import run_chaos
from worker.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.chaos]


@pytest.mark.timeout(900)
def test_nothing_is_lost_accepted_twice_or_paid_twice_while_the_stack_is_broken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kills: list[tuple[str, int]] = []
    terminate = Stack.terminate

    def recorded(stack: Stack, name: str, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        if name in stack.processes and stack.processes[name].poll() is None:
            kills.append((name, sig))
        terminate(stack, name, sig, timeout)

    monkeypatch.setattr(Stack, "terminate", recorded)
    # Given 5xx, 429, lost answers, a 429 storm on two locations, dropped, duplicated and
    # reordered webhooks, at the product's lease (5 s) and K-Series' minimum delivery limit,
    # When orders flow while a worker is SIGKILLed twice, a sweeper once (and left dead while
    # the other carries on alone) and Redis once,
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
    assert report.died == []  # no process exited but those the run killed
    assert sum(report.storm_statuses.values()) > 0  # the storm locations had orders
    # the run used the product's lease, and the faults really happened, every kind of them
    assert report.lease_ms == 5_000
    assert {"error", "rate_limit", "lost", "storm_rate_limit", "storm_error"} <= {
        k for k, n in report.faults_injected.items() if n > 0
    }
    assert sum(report.faults_injected.values()) >= orders // 2
    kill = signal.SIGKILL
    assert [k for k in kills if k[1] == kill] == [
        ("worker", kill),
        ("sweeper-1", kill),
        ("redis", kill),
        ("worker", kill),
    ]
    assert len(report.kill_recovery_s) == 2
    assert sum(report.kill_watched) > 0  # the recovery figures measured real orders
    assert report.sweeper_kill.watched > 0
    assert report.recovered_in_time, report.lines()

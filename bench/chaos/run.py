"""The chaos run itself: a private stack, the producer, the faults on their timeline, the check."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from bench.chaos.plan import (
    DELIVERY_LIMIT_MS,
    FAULTS,
    LOCATIONS,
    RATE,
    STORM,
    STORM_LOCATIONS,
    TIMELINE,
    scenario_for,
)
from bench.chaos.probe import Probe
from bench.chaos.producer import Producer
from bench.chaos.report import ChaosReport
from bench.chaos.verdict import TERMINAL, Truth, judge, truths
from bench.demo import Scenario
from worker.stack import Stack, StackConfig

__all__ = ["ChaosAborted", "run_chaos"]

Log = Callable[[str], None]


class ChaosAborted(RuntimeError):
    """The run could not go on; the message says why in one line, and where the logs are."""


def run_chaos(
    orders: int = 1000,
    *,
    workdir: Path | None = None,
    rate: float = RATE,
    log: Log = lambda _: None,
) -> ChaosReport:
    """Submit `orders` at `rate` per second over 20 locations while breaking things."""
    config = StackConfig.private(concurrency=8, sweepers=2, min_ttl_ms=DELIVERY_LIMIT_MS)
    report = ChaosReport(orders=orders)
    started = time.monotonic()
    with Stack(config, workdir) as stack, httpx.Client(timeout=10.0) as http:
        report.lease_ms = stack.settings().timer_lease_ms
        log(f"stack up (logs in {stack.workdir}); {orders} orders at {rate:g}/s")
        stack.start_worker("worker-2")  # production runs several workers; one of them is killed
        _configure(http, stack, FAULTS)
        refs = [(scenario_for(i), f"chaos-{i}-{uuid.uuid4().hex[:8]}") for i in range(orders)]
        producer = Producer(http, stack.api_url, refs, rate)
        producer.start()
        try:
            _break_things(stack, http, producer, report, log)
        except BaseException:
            producer.stop.set()
            raise
        finally:
            producer.join()
        report.accepted_by_api, report.api_503s = len(producer.accepted), producer.api_503s
        log(f"all {report.accepted_by_api} orders accepted; waiting for each to end")
        views = _wait_all_terminal(http, stack.api_url, producer.accepted, timeout_s=300.0)
        _note_deaths(stack, report, "by the end")
        _configure(http, stack, {k: 0 for k in (*FAULTS, *STORM) if k.endswith("rate")})
        ledger = http.get(f"{stack.sandbox_url}/_sandbox/ledger").json()
        _check(report, producer.accepted, views, ledger, http, stack.sandbox_url)
    report.wall_s = time.monotonic() - started
    return report


def _break_things(
    stack: Stack, http: httpx.Client, producer: Producer, report: ChaosReport, log: Log
) -> None:
    """The faults, each when its share of the orders has been accepted (`TIMELINE`)."""
    probe = Probe(stack.redis_url)

    def reach(step: str) -> None:
        _wait_for_share(stack, producer, TIMELINE[step])
        _note_deaths(stack, report, f"before the {step}")

    def restart_worker() -> None:
        stack.kill("worker")
        stack.start_worker()

    def worker_kill() -> None:
        seconds, watched = probe.worker_kill(restart_worker)
        report.kill_recovery_s.append(seconds)
        report.kill_watched.append(watched)
        log(f"worker SIGKILLed: the {watched} orders due then moved again within {seconds:.1f} s")

    reach("storm starts")
    _configure(http, stack, {**STORM, "storm_locations": list(STORM_LOCATIONS)})
    log(f"429 storm on {len(STORM_LOCATIONS)} of {LOCATIONS} locations")
    reach("worker SIGKILL 1")
    worker_kill()
    reach("sweeper SIGKILL")
    report.sweeper_kill = probe.sweeper_kill(lambda: stack.kill("sweeper-1"))
    log(f"sweeper-1 SIGKILLed (left dead): {report.sweeper_kill}")
    reach("Redis SIGKILL")
    t0 = time.monotonic()
    stack.restart_redis(down_s=2.0)
    report.redis_down_s = time.monotonic() - t0
    log(f"Redis SIGKILLed and started again after {report.redis_down_s:.1f} s")
    reach("worker SIGKILL 2")
    worker_kill()
    _configure(http, stack, {"storm_locations": []})
    stack.start_sweeper("sweeper-1")
    log("storm over; sweeper-1 started again")


def _note_deaths(stack: Stack, report: ChaosReport, when: str) -> None:
    """Processes that exited although nobody killed them (each noted once, by its pid)."""
    for name, process in stack.processes.items():
        code = process.poll()
        line = (
            f"{name} (pid {process.pid}) exited with {code} {when}: see {stack.workdir}/{name}.log"
        )
        if code is not None and not any(f"(pid {process.pid})" in d for d in report.died):
            report.died.append(line)


def _configure(http: httpx.Client, stack: Stack, changes: dict[str, Any]) -> None:
    response = http.patch(f"{stack.sandbox_url}/_sandbox/config", json=changes)
    if response.status_code != 200:
        raise ChaosAborted(f"the sandbox refused {changes}: {response.text[:200]}")


def _wait_for_share(stack: Stack, producer: Producer, share: float, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while len(producer.accepted) < share * len(producer.orders):
        if producer.refused:
            producer.stop.set()
            answer, count = producer.refused.most_common(1)[0]
            raise ChaosAborted(
                f"the API at {stack.api_url} refused {count} orders with {answer!r}; "
                f"logs in {stack.workdir}"
            )
        if time.monotonic() > deadline:
            producer.stop.set()
            raise ChaosAborted(
                f"stalled: {len(producer.accepted)} of {len(producer.orders)} orders accepted "
                f"after {timeout_s:g} s; logs in {stack.workdir}"
            )
        time.sleep(0.05)


def _wait_all_terminal(
    http: httpx.Client, api_url: str, accepted: list[tuple[Scenario, str]], timeout_s: float
) -> dict[str, dict[str, Any]]:
    """Each order's last view (terminal unless the time ran out); an unknown order has none."""
    views: dict[str, dict[str, Any]] = {}
    pending = list(accepted)
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        still = []
        for scenario, ref in pending:
            response = http.get(f"{api_url}/orders/{scenario.location}/{ref}")
            if response.status_code == 200:
                views[ref] = response.json()
            if views.get(ref, {}).get("status") not in TERMINAL:
                still.append((scenario, ref))
        pending = still
        if pending:
            time.sleep(1.0)
    return views


def _check(  # noqa: PLR0917 -- one call site, all inputs of one check
    report: ChaosReport,
    accepted: list[tuple[Scenario, str]],
    views: dict[str, dict[str, Any]],
    ledger: dict[str, Any],
    http: httpx.Client,
    sandbox_url: str,
) -> None:
    facts = truths(ledger)
    statuses: Counter[str] = Counter()
    storm: Counter[str] = Counter()
    for scenario, ref in accepted:
        key = f"{scenario.location}:{ref}"
        truth, view = facts.get(key, Truth()), views.get(ref)
        if view is None:
            report.lost += 1
            continue
        statuses[view["status"]] += 1
        if scenario.location in STORM_LOCATIONS:
            storm[view["status"]] += 1
        verdict = judge(scenario, view, truth)
        line = f"{key} [{scenario.name}] {view['status']} ({view.get('failureReason')})"
        if verdict.kind == "wrong":
            report.wrong_status.append(f"{line}: {verdict.why}")
        elif verdict.kind == "could_not_look":
            report.could_not_look.append(line)
        if truth.accepted > 1:
            report.accepted_twice += 1
    report.statuses, report.storm_statuses = dict(statuses), dict(storm)
    report.payments_applied_twice = sum(1 for n in ledger["payment_applications"].values() if n > 1)
    for payments in ledger["payments"].values():
        if len({p["thirdPartyPaymentReference"] for p in payments}) > 1:
            report.payments_applied_twice += 1  # two follow-up payments landed on one check
    settled = {
        (v["businessLocationId"], v["accountIdentifier"])
        for v in views.values()
        if v["payments"] and v["status"] == "completed"
    }
    for location, account in settled:
        check = http.get(
            f"{sandbox_url}/o/op/1/order/accounts/{account}",
            params={"businessLocationId": location},
            headers={"Authorization": "Bearer chaos"},
        ).json()
        total, paid = Decimal(str(check["currentAmount"])), Decimal(str(check["paidAmount"]))
        if paid > total:
            report.checks_overpaid += 1
        elif paid < total:
            report.settled_not_fully_paid += 1
    report.faults_injected = dict(ledger.get("faults", {}))
    report.notifications_sent = len(ledger.get("notifications", []))

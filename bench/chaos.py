"""`orderflow chaos`: many orders through the real stack while it is being broken.

K-Series answers 5xx/429 and loses answers, webhooks are dropped, duplicated and reordered,
one of the two workers is SIGKILLed twice and Redis is restarted once. Then the sandbox's ledger is held
against orderflow's statuses: nothing lost, nothing accepted or paid twice, every order where
its scenario says, every settled check paid exactly.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import redis

from bench.demo import SCENARIOS, Scenario, scenario_body
from worker.stack import Stack, StackConfig

__all__ = ["ChaosReport", "run_chaos"]

FIRST_LOCATION = 880_000_000_000_000
MIX = {"remainder settled": 6, "fully paid": 2, "unknown SKU": 1, "remainder above maxAmount": 1}
FAULTS = {
    "error_rate": 0.10,
    "rate_limit_rate": 0.10,
    "retry_after_s": 1,
    "lost_answer_rate": 0.10,
    "lost_answer_mode": "mixed",
    "webhook_drop_rate": 0.10,
    "webhook_duplicate_rate": 0.20,
    "webhook_reorder_rate": 0.20,
    "webhook_delay_s": 0.5,
}
TERMINAL = {"completed", "failed", "needs_attention"}
ACTIVE = ("queued", "submitted", "confirmed", "settling")


@dataclass
class ChaosReport:
    orders: int = 0
    accepted_by_api: int = 0
    lost: int = 0
    accepted_twice: int = 0
    payments_applied_twice: int = 0
    checks_overpaid: int = 0
    settled_not_fully_paid: int = 0
    wrong_status: list[str] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    kill_recovery_s: list[float] = field(default_factory=list)
    redis_down_s: float = 0.0
    api_503s: int = 0
    wall_s: float = 0.0
    faults_injected: dict[str, int] = field(default_factory=dict)
    notifications_sent: int = 0

    @property
    def ok(self) -> bool:
        return not (
            self.lost
            or self.accepted_twice
            or self.payments_applied_twice
            or self.checks_overpaid
            or self.settled_not_fully_paid
            or self.wrong_status
        ) and all(s <= 10.0 for s in self.kill_recovery_s)

    def lines(self) -> list[str]:
        return [
            f"orders submitted (202)        {self.accepted_by_api} of {self.orders}",
            f"orders lost                   {self.lost}",
            f"orders accepted twice         {self.accepted_twice}",
            f"payments applied twice        {self.payments_applied_twice}",
            f"checks over-paid              {self.checks_overpaid}",
            f"settled checks not fully paid {self.settled_not_fully_paid}",
            f"orders in a wrong status      {len(self.wrong_status)}",
            f"terminal statuses             {dict(sorted(self.statuses.items()))}",
            "SIGKILL -> last affected order moved again: "
            + ", ".join(f"{s:.1f} s" for s in self.kill_recovery_s),
            f"Redis down                    {self.redis_down_s:.1f} s (API answered 503 {self.api_503s} times)",
            f"faults injected by K-Series   {self.faults_injected}",
            f"notifications sent            {self.notifications_sent}",
            f"wall time                     {self.wall_s:.1f} s",
        ]


def _scenario(index: int) -> Scenario:
    wheel = [name for name, weight in MIX.items() for _ in range(weight)]
    name = wheel[index % len(wheel)]
    return next(s for s in SCENARIOS if s.name == name)


class _Probe:
    """Reads order records straight from Redis to time recovery after a kill."""

    def __init__(self, url: str) -> None:
        self.r = redis.Redis.from_url(url, decode_responses=True, socket_timeout=2)

    def due_versions(self, now: float) -> dict[str, int]:
        """Versions of active orders whose work was due when the worker died."""
        keys: list[str] = []
        for status in ACTIVE:
            keys += [
                f"orderflow:order:{m!s}" for m in self.r.smembers(f"orderflow:status:{status}")
            ]
        due = {}
        for key, raw in zip(keys, self.r.mget(keys) if keys else [], strict=True):
            if not raw:
                continue
            record = json.loads(raw)
            wake = record.get("wake_at")
            if wake is None or _epoch(wake) <= now:
                due[key] = int(record["version"])
        return due

    def moved(self, versions: dict[str, int]) -> set[str]:
        keys = list(versions)
        raws = self.r.mget(keys) if keys else []
        return {
            k
            for k, raw in zip(keys, raws, strict=True)
            if raw and json.loads(raw)["version"] > versions[k]
        }


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def _recovery(stack: Stack, probe: _Probe, budget_s: float = 30.0) -> float:
    """SIGKILL the worker, start a new one, return seconds until every due order moved."""
    killed_at = time.time()
    due = probe.due_versions(killed_at)
    stack.kill("worker")
    stack.start_worker()
    waiting = dict(due)
    last = 0.0
    while waiting and time.time() - killed_at < budget_s:
        try:
            moved = probe.moved(waiting)
        except redis.RedisError:
            moved = set()
        if moved:
            last = time.time() - killed_at
            for key in moved:
                waiting.pop(key)
        time.sleep(0.05)
    return budget_s if waiting else last


def run_chaos(
    orders: int = 1000, *, workdir: Path | None = None, rate: float = 20.0, locations: int = 20
) -> ChaosReport:
    """Submit `orders` at `rate` per second over `locations` restaurants while breaking things."""
    config = StackConfig.private(
        concurrency=8,
        env={
            "ORDERFLOW_WEBHOOK_WAIT_MS": "1500",
            "ORDERFLOW_POLL_INITIAL_MS": "500",
            "ORDERFLOW_POLL_MAX_MS": "3000",
            "ORDERFLOW_ORDER_TTL_MS": "90000",
            "ORDERFLOW_PAYMENT_TTL_MS": "60000",
            "ORDERFLOW_CONFIRM_GRACE_MS": "5000",
            "ORDERFLOW_PAYMENT_GRACE_MS": "5000",
            "ORDERFLOW_TIMER_LEASE_MS": "3000",
            "ORDERFLOW_SWEEP_INTERVAL_S": "0.25",
        },
    )
    report = ChaosReport(orders=orders)
    started = time.monotonic()
    with Stack(config, workdir) as stack, httpx.Client(timeout=10.0) as http:
        stack.start_worker("worker-2")  # production runs several workers; one of them is killed
        http.patch(f"{stack.sandbox_url}/_sandbox/config", json=FAULTS).raise_for_status()
        probe = _Probe(stack.redis_url)
        refs = [
            (
                replace(_scenario(i), location=FIRST_LOCATION + i % locations),
                f"chaos-{i}-{uuid.uuid4().hex[:8]}",
            )
            for i in range(orders)
        ]
        accepted: list[tuple[Scenario, str]] = []
        lock = threading.Lock()

        def produce(item: tuple[Scenario, str]) -> None:
            scenario, ref = item
            body = scenario_body(scenario, reference=ref)
            for _ in range(600):  # a producer retries until orderflow says 202
                try:
                    response = http.post(f"{stack.api_url}/orders", json=body)
                except httpx.HTTPError:
                    time.sleep(0.1)
                    continue
                if response.status_code == 202:
                    with lock:
                        accepted.append(item)
                    return
                if response.status_code == 503:
                    with lock:
                        report.api_503s += 1
                time.sleep(0.1)

        def produce_all() -> None:
            begin = time.monotonic()
            with ThreadPoolExecutor(16) as pool:
                for i, item in enumerate(refs):
                    pause = begin + i / rate - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                    pool.submit(produce, item)

        producer = threading.Thread(target=produce_all)
        producer.start()
        _wait_for(lambda: len(accepted) >= orders * 0.25, 300)
        report.kill_recovery_s.append(_recovery(stack, probe))
        _wait_for(lambda: len(accepted) >= orders * 0.45, 300)
        t0 = time.monotonic()
        stack.restart_redis(down_s=2.0)
        report.redis_down_s = time.monotonic() - t0
        _wait_for(lambda: len(accepted) >= orders * 0.65, 300)
        report.kill_recovery_s.append(_recovery(stack, probe))
        producer.join()
        report.accepted_by_api = len(accepted)
        views = _wait_all_terminal(
            http, stack.api_url, accepted, timeout_s=max(300.0, orders * 0.5)
        )
        http.patch(
            f"{stack.sandbox_url}/_sandbox/config",
            json={k: 0 for k in FAULTS if k.endswith("rate")},
        )
        ledger = http.get(f"{stack.sandbox_url}/_sandbox/ledger").json()
        _check(report, accepted, views, ledger, http, stack.sandbox_url)
    report.wall_s = time.monotonic() - started
    return report


def _wait_for(condition: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("chaos run stalled")
        time.sleep(0.05)


def _wait_all_terminal(
    http: httpx.Client, api_url: str, accepted: list[tuple[Scenario, str]], timeout_s: float
) -> dict[str, dict[str, Any]]:
    views: dict[str, dict[str, Any]] = {}
    pending = list(accepted)
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        still = []
        for scenario, ref in pending:
            response = http.get(f"{api_url}/orders/{scenario.location}/{ref}")
            if response.status_code == 200 and response.json()["status"] in TERMINAL:
                views[ref] = response.json()
            else:
                if response.status_code == 200:
                    views[ref] = response.json()
                still.append((scenario, ref))
        pending = still
        if pending:
            time.sleep(0.5)
    return views


def _check(  # noqa: PLR0917 -- one call site, all inputs of one check
    report: ChaosReport,
    accepted: list[tuple[Scenario, str]],
    views: dict[str, dict[str, Any]],
    ledger: dict[str, Any],
    http: httpx.Client,
    sandbox_url: str,
) -> None:
    statuses: Counter[str] = Counter()
    for scenario, ref in accepted:
        view = views.get(ref)
        if view is None:
            report.lost += 1
            continue
        statuses[view["status"]] += 1
        if view["status"] != scenario.expected:
            report.wrong_status.append(
                f"{ref}: {view['status']} ({view.get('failureReason')}), expected {scenario.expected}"
            )
        if ledger["orders_accepted"].get(f"{scenario.location}:{ref}", 0) > 1:
            report.accepted_twice += 1
    report.statuses = dict(statuses)
    report.payments_applied_twice = sum(1 for n in ledger["payment_applications"].values() if n > 1)
    settled = {
        (v["businessLocationId"], v["accountIdentifier"])
        for v in views.values()
        if v["payments"] and v["status"] == "completed"
    }
    for payments in ledger["payments"].values():
        if len({p["thirdPartyPaymentReference"] for p in payments}) > 1:
            report.payments_applied_twice += 1  # two follow-up payments landed on one check
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

"""Losing the Redis primary mid-run: orders through a Sentinel-managed primary + replica while
the primary is SIGKILLed, then the sandbox's ledger held against orderflow's statuses.

A primary, one replica and three sentinels (`bench.sentinels`) hold orderflow's state and its
Celery broker; the stack (`worker.stack`) reaches them through ORDERFLOW_REDIS_SENTINELS. At
`kill_at` of the accepted orders the primary is SIGKILLed; once the sentinels have promoted the
replica, the lost node is started again as a replica of the new primary (what a supervisor
does). With one replica left alive orderflow refuses new orders (`503`: an order accepted now
would be on one machine), so that restart is also when new orders are taken again.

`python -m bench.failover [ORDERS]` prints the report; tests/integration/test_sentinel_failover.py
asserts it.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import httpx
import redis

from bench.demo import OFFLINE_LOCATION, SCENARIOS, Scenario, scenario_body
from bench.sentinels import Topology
from worker import constants as k
from worker.record_codec import decode
from worker.redis_client import redis_for
from worker.stack import Stack, StackConfig

__all__ = ["FailoverReport", "run_failover"]

TOKEN = "failover-token"  # noqa: S105 -- a private stack's producer token
ACTIVE = ("queued", "submitted", "confirmed", "settling")
TERMINAL = {"completed", "failed", "needs_attention"}
ENV = {
    "ORDERFLOW_API_TOKEN": TOKEN,
    "ORDERFLOW_WEBHOOK_WAIT_MS": "1000",
    "ORDERFLOW_CONFIRM_GRACE_MS": "1500",
    "ORDERFLOW_PAYMENT_GRACE_MS": "1500",
    "ORDERFLOW_POLL_INITIAL_MS": "300",
    "ORDERFLOW_POLL_MAX_MS": "1000",
    "ORDERFLOW_ORDER_TTL_MS": "20000",
    "ORDERFLOW_PAYMENT_TTL_MS": "20000",
    "ORDERFLOW_TIMER_LEASE_MS": "3000",
    "ORDERFLOW_SWEEP_INTERVAL_S": "0.25",
}


@dataclass
class FailoverReport:
    orders: int = 0
    accepted: int = 0
    lost: list[str] = field(default_factory=list)
    wrong_status: list[str] = field(default_factory=list)
    accepted_twice: int = 0
    payments_applied_twice: int = 0
    checks_overpaid: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    api_503s: int = 0
    not_replicated_503s: int = 0  # of which: stored, but no replica confirmed it (WAIT)
    failover_s: float = 0.0  # SIGKILL -> every sentinel names the promoted replica
    first_move_s: float | None = None  # SIGKILL -> an order under way moved again
    all_due_moved_s: float | None = None  # SIGKILL -> every order due at the kill moved
    all_moved_s: float | None = None  # SIGKILL -> every order under way at the kill moved
    due_at_kill: int = 0
    under_way_at_kill: int = 0
    replica_back_s: float = 0.0  # SIGKILL -> the lost node in sync as a replica again
    accepting_again_s: float | None = None  # SIGKILL -> the first 202 answered after it
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not (
            self.lost
            or self.wrong_status
            or self.accepted_twice
            or self.payments_applied_twice
            or self.checks_overpaid
        ) and (self.accepted == self.orders)

    def lines(self) -> list[str]:
        def s(value: float | None) -> str:
            return "never" if value is None else f"{value:.1f} s"

        return [
            f"orders accepted (202)                 {self.accepted} of {self.orders}",
            f"orders lost after their 202           {len(self.lost)}",
            f"orders in a wrong terminal status     {len(self.wrong_status)}",
            f"orders accepted twice by K-Series     {self.accepted_twice}",
            f"payments applied twice                {self.payments_applied_twice}",
            f"checks over-paid                      {self.checks_overpaid}",
            f"terminal statuses                     {dict(sorted(self.statuses.items()))}",
            f"SIGKILL -> replica promoted           {s(self.failover_s)}",
            f"SIGKILL -> first order moved again    {s(self.first_move_s)}",
            f"SIGKILL -> all {self.due_at_kill:>3} due orders moved    {s(self.all_due_moved_s)}",
            f"SIGKILL -> all {self.under_way_at_kill:>3} orders under way moved "
            f"{s(self.all_moved_s)}",
            f"SIGKILL -> lost node back as replica  {s(self.replica_back_s)}",
            f"SIGKILL -> first 202 again            {s(self.accepting_again_s)}",
            f"API 503 answers (producers resent)    {self.api_503s} "
            f"({self.not_replicated_503s} of them: not yet on a replica)",
            f"wall time                             {s(self.wall_s)}",
        ]


def _scenario(index: int) -> Scenario:
    """Every demo scenario in turn, over ten locations (the offline one keeps its own)."""
    scenario = SCENARIOS[index % len(SCENARIOS)]
    if scenario.location == OFFLINE_LOCATION:
        return scenario
    return replace(scenario, location=770_000_000_000_000 + index % 10)


class _Producer:
    """Posts every order until it gets 202, as a producer that resends would."""

    def __init__(self, api_url: str, rate: float) -> None:
        self.http = httpx.Client(
            base_url=api_url, timeout=10.0, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        self.rate = rate
        self.accepted: dict[str, tuple[Scenario, float]] = {}  # ref -> (scenario, 202 time)
        self.answers: Counter[int] = Counter()
        self.not_replicated = 0
        self.lock = threading.Lock()

    def post(self, scenario: Scenario, ref: str) -> None:
        body = scenario_body(scenario, reference=ref)
        for _ in range(1200):
            try:
                response = self.http.post("/orders", json=body)
            except httpx.HTTPError:
                time.sleep(0.1)
                continue
            with self.lock:
                self.answers[response.status_code] += 1
                self.not_replicated += "replica" in response.text
                if response.status_code == 202:
                    self.accepted[ref] = (scenario, time.time())
                    return
            time.sleep(0.1)

    def run(self, orders: list[tuple[Scenario, str]]) -> None:
        begin = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            for i, (scenario, ref) in enumerate(orders):
                pause = begin + i / self.rate - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                pool.submit(self.post, scenario, ref)


def _versions(client: redis.Redis, now: float) -> tuple[dict[str, int], set[str]]:
    """Versions of the orders under way at `now` (epoch s), and which of them were due."""
    members: list[str] = []
    for status in ACTIVE:
        index = k.STATUS_INDEX.format(status=status)
        members += cast(list[str], client.zrangebyscore(index, now * 1000, "+inf"))
    keys = [k.PREFIX + ":order:" + m for m in members]
    versions, due = {}, set()
    for key, raw in zip(keys, client.mget(keys) if keys else [], strict=True):
        if not raw:
            continue
        record = decode(raw)
        versions[key] = record.version
        wake = record.wake_at
        if wake is None or wake.timestamp() <= now:
            due.add(key)
    return versions, due


def _watch(
    client: redis.Redis,
    versions: dict[str, int],
    due: set[str],
    killed_at: float,
    report: FailoverReport,
) -> None:
    """When the first order under way at the kill moved again, the last due one, the last one."""
    waiting = dict(versions)
    while waiting and time.time() - killed_at < 90:
        try:
            raws = client.mget(list(waiting))
        except redis.RedisError:
            time.sleep(0.05)
            continue
        for key, raw in zip(list(waiting), raws, strict=True):
            if raw is None or decode(raw).version > waiting[key]:
                del waiting[key]
                report.first_move_s = report.first_move_s or time.time() - killed_at
        if report.all_due_moved_s is None and not due & set(waiting):
            report.all_due_moved_s = time.time() - killed_at
        time.sleep(0.05)
    if not waiting:
        report.all_moved_s = time.time() - killed_at


def run_failover(
    orders: int = 300, *, workdir: Path | None = None, rate: float = 25.0, kill_at: float = 0.4
) -> FailoverReport:
    """Submit `orders` at `rate` per second; SIGKILL the Redis primary at `kill_at` of them."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="orderflow-failover-"))
    report = FailoverReport(orders=orders)
    started = time.monotonic()
    with Topology(workdir / "redis") as topology:
        env = ENV | {"ORDERFLOW_REDIS_SENTINELS": topology.sentinel_list}
        config = StackConfig.private(
            redis_url=topology.redis_url,
            env=env,
            sandbox_args=["--offline", str(OFFLINE_LOCATION)],
            sweepers=2,
        )
        (workdir / "stack").mkdir()
        with Stack(config, workdir / "stack") as stack:
            client = redis_for(stack.settings())
            producer = _Producer(stack.api_url, rate)
            plan = [(_scenario(i), f"failover-{i}-{uuid.uuid4().hex[:8]}") for i in range(orders)]
            feeder = threading.Thread(target=producer.run, args=(plan,))
            feeder.start()
            _wait_for(lambda: len(producer.accepted) >= orders * kill_at, 120)
            old = topology.primary_port()
            killed_at = time.time()
            versions, due = _versions(client, killed_at)
            report.due_at_kill, report.under_way_at_kill = len(due), len(versions)
            topology.kill(old)
            watcher = threading.Thread(
                target=_watch, args=(client, versions, due, killed_at, report)
            )
            watcher.start()
            report.failover_s = topology.wait_failover(old)
            new = topology.primary_port()
            topology.start_data(old, replica_of=new)  # the supervisor brings the machine back
            _wait_for(lambda: topology.replicating(old), 60)
            report.replica_back_s = time.time() - killed_at
            feeder.join()
            watcher.join()
            after = [t for _, t in producer.accepted.values() if t > killed_at]
            report.accepting_again_s = min(after) - killed_at if after else None
            report.accepted = len(producer.accepted)
            report.api_503s = producer.answers[503]
            report.not_replicated_503s = producer.not_replicated
            try:
                _judge(report, producer, stack.sandbox_url)
            finally:
                producer.http.close()
                client.close()
    report.wall_s = time.monotonic() - started
    return report


def _judge(report: FailoverReport, producer: _Producer, sandbox_url: str) -> None:
    """Every accepted order ended where its scenario says; K-Series saw each effect once."""
    views = _terminal_views(producer)
    statuses: Counter[str] = Counter()
    for ref, (scenario, _) in producer.accepted.items():
        view = views.get(ref)
        if view is None:
            report.lost.append(ref)
            continue
        statuses[view["status"]] += 1
        if view["status"] != scenario.expected:
            reason = view.get("failureReason")
            report.wrong_status.append(f"{ref}: {view['status']} ({reason}), {scenario.expected}")
    report.statuses = dict(statuses)
    with httpx.Client(base_url=sandbox_url, timeout=10.0) as http:
        ledger = http.get("/_sandbox/ledger").json()
        report.accepted_twice = sum(1 for n in ledger["orders_accepted"].values() if n > 1)
        applied = ledger["payment_applications"].values()
        twice = sum(1 for n in applied if n > 1)
        # two follow-up payments on one check would be a double payment too
        twice += sum(
            1
            for entries in ledger["payments"].values()
            if len({p["thirdPartyPaymentReference"] for p in entries}) > 1
        )
        report.payments_applied_twice = twice
        for view in views.values():
            if view["status"] != "completed" or not view.get("payments"):
                continue
            check = http.get(
                f"/o/op/1/order/accounts/{view['accountIdentifier']}",
                params={"businessLocationId": view["businessLocationId"]},
                headers={"Authorization": "Bearer failover"},
            ).json()
            if Decimal(str(check["paidAmount"])) > Decimal(str(check["currentAmount"])):
                report.checks_overpaid += 1


def _terminal_views(producer: _Producer, timeout_s: float = 120.0) -> dict[str, dict[str, Any]]:
    """Each accepted order's view once terminal (a 404 is an order lost)."""
    views: dict[str, dict[str, Any]] = {}
    pending = dict(producer.accepted)
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        for ref, (scenario, _) in list(pending.items()):
            response = producer.http.get(f"/orders/{scenario.location}/{ref}")
            if response.status_code == 200 and response.json()["status"] in TERMINAL:
                views[ref] = response.json()
                del pending[ref]
        if pending:
            time.sleep(0.5)
    return views


def _wait_for(condition: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if condition():
                return
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("the failover run stalled")
        time.sleep(0.05)


if __name__ == "__main__":
    result = run_failover(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
    print("\n".join(result.lines()))
    sys.exit(0 if result.ok else 1)

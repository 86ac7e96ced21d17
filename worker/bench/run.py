"""The bench runner: orderflow, the naive peer and the bare-Celery ceiling, one after another
on this machine, each on a freshly started stack; then the in-flight capacity run.

Phases (each prints a line as it goes):
  1. orderflow, saturated: `orders` orders POSTed by a producer on this machine (8 threads),
     as fast as the stack takes them (the number in flight adapts so the worker's queue is
     never empty for long and never long; see `_Gate`), or at `rate`; throughput over the
     steady window, CPU seconds per order, Celery tasks per order.
  2. orderflow, same stack, at `latency_rate` (50/s, or 90 % of phase 1's throughput when that
     is lower), then at `light_rate`: webhook -> payment POST, and submit -> on the POS minus
     the POS delay.
  3. the naive peer (`worker.bench.naive`), same concurrency, sandbox settings and orders.
  4. bare Celery no-op tasks (`worker.bench.noop`), same broker, pool and concurrency.
  5. in-flight capacity (`worker.bench.capacity`).
Timestamps are epoch seconds from one clock (this machine's); windows are chosen from them
after the fact, so warm-up and drain never count.
"""

from __future__ import annotations

import json
import math
import os
import platform
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from worker.bench import naive, noop
from worker.bench.capacity import run_capacity
from worker.bench.harness import (
    ORDERFLOW_PROCESSES,
    CpuSampler,
    SideWorker,
    celery_totals,
    db_url,
    orderflow_celery,
    percentile,
    redis_client,
    start_stack,
    stop_stack,
)
from worker.bench.orders import (
    Producer,
    bench_bodies,
    key_of,
    ledger,
    order_success_received,
    read_orders,
    terminal_count,
)
from worker.constants import QUEUE
from worker.stack import StackConfig

__all__ = ["TARGETS", "BenchOptions", "run_bench", "table"]

Log = Callable[[str], None]


@dataclass
class BenchOptions:
    orders: int = 6000
    concurrency: int = 8
    pos_delay_s: float = 2.0
    rate: float | None = None  # phase 1: None = as fast as the stack takes them
    latency_rate: float = 50.0
    latency_seconds: float = 40.0
    light_rate: float = 10.0  # latency again at a light load: orderflow's own overhead
    naive_seconds: float = 45.0
    naive_poll_s: float = 0.25
    noop_tasks: int = 30_000
    capacity_orders: int = 100_000
    capacity_due: int = 3_000  # come due at capacity_due_rate
    capacity_due_rate: float = 50.0
    capacity_burst: int = 2_000  # come due at one instant
    capacity_lead_s: float = 8.0  # from writing them to the first coming due
    locations: int = 20
    producer_threads: int = 8
    in_flight: int = 0  # orders in flight the producer allows; 0: adapt to the worker's queue
    out: Path = Path("bench-results")
    quick: bool = False

    @classmethod
    def quick_size(cls, **overrides: Any) -> BenchOptions:
        """A CI-size run: every figure, a few seconds per phase."""
        small: dict[str, Any] = {
            "orders": 200,
            "latency_rate": 20.0,
            "latency_seconds": 3.0,
            "light_rate": 10.0,
            "naive_seconds": 6.0,
            "noop_tasks": 2_000,
            "capacity_orders": 2_000,
            "capacity_due": 100,
            "capacity_burst": 100,
            "capacity_lead_s": 3.0,
            "quick": True,
        }
        return cls(**(small | overrides))


# figure -> (target, comparison); a figure with no target is reported only.
TARGETS: dict[str, tuple[float, str]] = {
    "ratio_vs_naive": (100.0, ">="),
    "pipeline_efficiency": (0.5, ">="),
    "worker_slots_held": (0.0, "<="),
    "redis_bytes_per_waiting_order": (2048.0, "<="),
    "timer_lateness_p99_ms": (1000.0, "<="),
    "webhook_to_payment_p99_ms": (50.0, "<="),
}


@dataclass
class Series:
    """Per-second figures for the plot (seconds since the phase began)."""

    throughput: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    latency_points: list[tuple[float, float]] = field(default_factory=list)
    overhead_points: list[tuple[float, float]] = field(default_factory=list)
    windows: dict[str, tuple[float, float]] = field(default_factory=dict)


def _per_second(times: list[float], origin: float) -> list[tuple[float, float]]:
    counts = Counter(int(t - origin) for t in times if t >= origin)
    if not counts:
        return []
    return [(float(s), float(counts.get(s, 0))) for s in range(max(counts) + 1)]


def _ms(values: list[float], p: float) -> float | None:
    v = percentile(values, p)
    return None if v is None else round(v * 1000, 1)


def steady_window(
    times: list[float], start: float, stop: float, warm: float
) -> tuple[float, float]:
    """[start + warm, stop] when that leaves 3 s or more; else the middle 60 % of `times`."""
    if stop - (start + warm) >= 3.0 or not times:
        return start + warm, stop
    ordered = sorted(times)
    lo = ordered[int(len(ordered) * 0.2)]
    hi = ordered[max(0, int(len(ordered) * 0.8) - 1)]
    return lo, max(hi, lo + 1e-3)


def rate_in(times: list[float], window: tuple[float, float]) -> float:
    lo, hi = window
    return sum(1 for t in times if lo <= t < hi) / (hi - lo) if hi > lo else 0.0


# --- phases 1 and 2: orderflow -------------------------------------------------------------


def _drain(r: redis.Redis, base: int, expected: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if terminal_count(r) - base >= expected:
            return True
        time.sleep(0.25)
    return False


class _Gate:
    """Admits orders while fewer than `cap` are in flight (submitted, not ended).

    `cap` adapts so the worker is saturated but not flooded. Every half second: when the
    worker's queue was empty in more than 5 % of the samples (the worker waited for work) and
    the cap is in use, it grows 10 %; when the queue held more than `high` messages on average,
    it shrinks 5 %. Orders enter one by one as others end, so there are no synchronised waves.
    With `fixed`, the cap never changes."""

    def __init__(self, r: redis.Redis, base: int, start: int, high: int, fixed: int = 0) -> None:
        self.r, self.base, self.high, self.fixed = r, base, high, fixed
        self.cap = float(fixed or start)
        self.floor = float(start)
        self.sent = 0
        self.open = True
        self.trace: list[tuple[float, float, int, float]] = []  # (t, mean queue, in flight, cap)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        last_adjust = time.monotonic()
        queued: list[int] = []
        in_flight = 0
        while not self._stop.is_set():
            try:
                queued.append(int(self.r.llen(QUEUE)))
                in_flight = self.sent - (terminal_count(self.r) - self.base)
            except redis.RedisError:
                self.open = False
                self._stop.wait(0.05)
                continue
            now = time.monotonic()
            if now - last_adjust >= 0.5 and queued:
                last_adjust = now
                mean = sum(queued) / len(queued)
                idle = sum(1 for q in queued if q == 0) / len(queued)
                if not self.fixed:
                    if idle > 0.05 and in_flight >= 0.9 * self.cap:
                        self.cap *= 1.1
                    elif mean > self.high:
                        self.cap = max(self.floor, self.cap * 0.95)
                self.trace.append((time.time(), mean, in_flight, self.cap))
                queued = []
            self.open = in_flight < self.cap
            self._stop.wait(0.01)

    def __enter__(self) -> _Gate:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _orderflow_phase(  # noqa: PLR0917 -- one caller
    stack: Any,
    r: redis.Redis,
    celery: Any,
    cpu: CpuSampler,
    opts: BenchOptions,
    bodies: list[dict[str, Any]],
    rate: float | None,
) -> dict[str, Any]:
    base = terminal_count(r)
    totals_before = celery_totals(celery)
    start, high = 2 * opts.concurrency, 4 * opts.concurrency
    with _Gate(r, base, start, high, fixed=opts.in_flight) as gate:
        producer = Producer(
            stack.api_url,
            bodies,
            threads=opts.producer_threads,
            rate=rate,
            gate=(lambda: gate.open) if rate is None else None,
        )
        thread = threading.Thread(target=producer.run)
        thread.start()
        while thread.is_alive():  # the gate counts what has been accepted so far
            gate.sent = len(producer.sent)
            time.sleep(0.005)
    accepted = len(producer.sent)
    drained = _drain(r, base, accepted, timeout_s=120.0 + accepted / 20)
    totals_after = celery_totals(celery)
    keys = [key_of(bodies[i]) for _, i in producer.sent]
    orders = read_orders(r, keys)
    done = [o.completed for o in orders if o.completed is not None]
    statuses = Counter(o.status for o in orders)
    D = opts.pos_delay_s
    warm = max(2 * D + 3.0, 0.25 * (producer.finished_at - producer.started_at))
    window = steady_window(done, producer.started_at, producer.finished_at, warm)
    throughput = rate_in(done, window)
    completed_in_window = sum(1 for t in done if window[0] <= t < window[1])
    cpu_s = cpu.between(*window)
    tasks = {n: totals_after.get(n, 0) - totals_before.get(n, 0) for n in totals_after}
    tasks = {n: c for n, c in tasks.items() if c}
    completed = statuses.get("completed", 0)
    return {
        "orders_submitted": accepted,
        "submit_failures": producer.failures,
        "drained": drained,
        "statuses": dict(statuses),
        "submit_s": round(producer.finished_at - producer.started_at, 2),
        "window": [
            round(window[0] - producer.started_at, 2),
            round(window[1] - producer.started_at, 2),
        ],
        "throughput": round(throughput, 2),
        "completed_in_window": completed_in_window,
        "cpu_s": {n: round(v, 2) for n, v in cpu_s.items()},
        "cpu_s_per_order": round(
            sum(cpu_s[n] for n in ORDERFLOW_PROCESSES) / completed_in_window, 5
        )
        if completed_in_window
        else None,
        "celery_tasks": tasks,
        "celery_tasks_per_order": round(sum(tasks.values()) / completed, 3) if completed else None,
        "in_flight_cap_final": round(gate.cap),
        "_gate": gate.trace,
        "_orders": orders,
        "_done": done,
        "_start": producer.started_at,
        "_window": window,
    }


def _latencies(
    result: dict[str, Any],
    received: dict[tuple[int, str], float],
    book: dict[str, Any],
    delay: float,
) -> dict[str, Any]:
    """webhook -> payment POST, and submit -> on the POS minus the POS delay, per order."""
    orders = result["_orders"]
    start = result["_start"]
    pay_times = book.get("payment_times", {})
    on_pos = book.get("orders", {})
    # The middle 80 % of orders by submission: no ramp-up or ramp-down at the edges.
    ordered = sorted(orders, key=lambda o: o.created)
    cut = len(ordered) // 10
    middle = ordered[cut : len(ordered) - cut] or ordered
    to_pay, to_apply, apply_to_pay, overhead, to_kseries, points, opoints = (
        [],
        [],
        [],
        [],
        [],
        [],
        [],
    )
    for o in middle:
        got = received.get((o.bl, o.ref))
        if got is not None and o.payment_refs:
            sent = pay_times.get(o.payment_refs[0], {}).get("accepted")
            applied = o.first(event="OrderNews:SUCCESS")
            if sent is not None:
                to_pay.append(sent - got)
                points.append((got - start, (sent - got) * 1000))
                if applied is not None:
                    to_apply.append(applied - got)
                    apply_to_pay.append(sent - applied)
        entry = on_pos.get(f"{o.bl}:{o.ref}", {})
        if entry.get("outcomeAt") is not None:
            overhead.append(entry["outcomeAt"] - o.created - delay)
            opoints.append((o.created - start, (entry["outcomeAt"] - o.created - delay) * 1000))
        if entry.get("acceptedAt") is not None:
            to_kseries.append(entry["acceptedAt"] - o.created)
    return {
        "orders_measured": len(middle),
        "webhook_to_payment_n": len(to_pay),
        "webhook_to_payment_p50_ms": _ms(to_pay, 50),
        "webhook_to_payment_p99_ms": _ms(to_pay, 99),
        "webhook_to_payment_max_ms": _ms(to_pay, 100),
        "webhook_to_applied_p50_ms": _ms(to_apply, 50),
        "webhook_to_applied_p99_ms": _ms(to_apply, 99),
        "applied_to_payment_p50_ms": _ms(apply_to_pay, 50),
        "applied_to_payment_p99_ms": _ms(apply_to_pay, 99),
        "submit_to_pos_overhead_p50_ms": _ms(overhead, 50),
        "submit_to_pos_overhead_p99_ms": _ms(overhead, 99),
        "submit_to_kseries_p50_ms": _ms(to_kseries, 50),
        "submit_to_kseries_p99_ms": _ms(to_kseries, 99),
        "_points": points,
        "_overhead_points": opoints,
    }


def run_orderflow(opts: BenchOptions, workdir: Path, series: Series, log: Log) -> dict[str, Any]:
    config = StackConfig.private(concurrency=opts.concurrency, pos_delay_s=opts.pos_delay_s)
    stack = start_stack(config, workdir)
    try:
        r = redis_client(stack.redis_url)
        celery = orderflow_celery(stack)
        # orderflow's processes count; the sandbox, Redis and this producer are shown apart.
        pids = {name: proc.pid for name, proc in stack.processes.items()}
        pids["producer"] = os.getpid()
        with CpuSampler(pids) as cpu:
            log(
                f"orderflow: {opts.orders} orders, "
                + (f"{opts.rate}/s" if opts.rate else "as fast as the stack takes them")
            )
            bodies = bench_bodies(opts.orders, "t", opts.locations)
            sat = _orderflow_phase(stack, r, celery, cpu, opts, bodies, opts.rate)
            log(
                f"  {sat['throughput']} orders/s over {sat['window']} s; statuses {sat['statuses']}; "
                f"{sat['celery_tasks_per_order']} tasks/order; {sat['cpu_s_per_order']} CPU s/order"
            )
            series.throughput["orderflow"] = _per_second(sat["_done"], sat["_start"])
            series.windows["orderflow"] = (
                sat["_window"][0] - sat["_start"],
                sat["_window"][1] - sat["_start"],
            )
            rate = opts.latency_rate
            why = f"{rate:g}/s as asked"
            if sat["throughput"] and sat["throughput"] < rate:
                rate = max(1.0, math.floor(sat["throughput"] * 0.9))
                why = (
                    f"{rate:g}/s: 90 % of the saturated throughput (below {opts.latency_rate:g}/s)"
                )
            paced, lat = _paced(stack, r, celery, cpu, opts, rate, "l", log)
            series.throughput["orderflow paced"] = _per_second(paced["_done"], paced["_start"])
            series.latency_points = lat.pop("_points")
            series.overhead_points = lat.pop("_overhead_points")
            light, light_lat = _paced(stack, r, celery, cpu, opts, opts.light_rate, "q", log)
            light_lat.pop("_points")
            light_lat.pop("_overhead_points")
    finally:
        stop_stack(stack)

    def public(result: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in result.items() if not k.startswith("_")}

    return {
        "saturated": public(sat),
        "paced": {**public(paced), "rate": rate, "rate_reason": why, **lat},
        "light": {**public(light), "rate": opts.light_rate, **light_lat},
        "logs": str(workdir),
    }


def _paced(  # noqa: PLR0917 -- one caller
    stack: Any,
    r: redis.Redis,
    celery: Any,
    cpu: CpuSampler,
    opts: BenchOptions,
    rate: float,
    tag: str,
    log: Log,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Orders at a steady `rate` on a sandbox with a fresh ledger, and their latencies."""
    httpx.post(f"{stack.sandbox_url}/_sandbox/reset", timeout=60).raise_for_status()
    n = max(20, int(rate * opts.latency_seconds))
    log(f"orderflow at {rate:g} orders/s: {n} orders")
    result = _orderflow_phase(
        stack, r, celery, cpu, opts, bench_bodies(n, tag, opts.locations), rate
    )
    book = ledger(stack.sandbox_url)
    lat = _latencies(result, order_success_received(r), book, opts.pos_delay_s)
    log(
        f"  webhook->payment p50 {lat['webhook_to_payment_p50_ms']} ms p99 "
        f"{lat['webhook_to_payment_p99_ms']} ms; submit->POS overhead p50 "
        f"{lat['submit_to_pos_overhead_p50_ms']} ms p99 {lat['submit_to_pos_overhead_p99_ms']} ms"
    )
    return result, lat


# --- phase 3: the naive peer ---------------------------------------------------------------


def run_naive(opts: BenchOptions, workdir: Path, series: Series, log: Log) -> dict[str, Any]:
    config = StackConfig.private(concurrency=opts.concurrency, pos_delay_s=opts.pos_delay_s)
    stack = start_stack(config, workdir, keep=("redis", "sandbox"))
    worker = None
    try:
        broker = db_url(stack.redis_url, 1)
        naive.app.conf.broker_url = broker
        per_order = opts.pos_delay_s + opts.naive_poll_s
        n = (
            math.ceil(opts.concurrency * opts.naive_seconds / per_order * 1.3)
            + 8 * opts.concurrency
        )
        log(
            f"naive peer: {n} orders queued, concurrency {opts.concurrency}, {opts.naive_seconds:g} s"
        )
        bodies = bench_bodies(n, "n", opts.locations)
        with naive.app.producer_or_acquire() as producer:
            for body in bodies:
                naive.place_order.apply_async((body,), producer=producer)
        worker = SideWorker(
            "worker.bench.naive",
            naive.QUEUE,
            opts.concurrency,
            {
                "NAIVE_BROKER_URL": broker,
                "NAIVE_SANDBOX_URL": stack.sandbox_url,
                "NAIVE_POLL_S": str(opts.naive_poll_s),
            },
            workdir / "naive-worker.log",
        )
        started = time.time()
        worker.start()
        assert worker.process is not None
        with CpuSampler({"naive-worker": worker.process.pid}) as cpu:
            time.sleep(opts.naive_seconds)
            book = ledger(stack.sandbox_url)
        ended = time.time()
    finally:
        if worker is not None:
            worker.stop()
        stop_stack(stack)
    paid = sorted(
        times["accepted"]
        for ref, times in book.get("payment_times", {}).items()
        if ref.startswith("naive-") and "accepted" in times
    )
    # Slots start together, so orders end in waves of `concurrency`: measure from the end of
    # the first wave to the last payment, a whole number of waves.
    c = opts.concurrency
    if len(paid) > c:
        window = (paid[c - 1], paid[-1])
        throughput = (len(paid) - c) / (window[1] - window[0]) if window[1] > window[0] else 0.0
    else:
        window = (started, ended)
        throughput = len(paid) / (ended - started)
    cpu_s = cpu.between(*window)
    in_window = sum(1 for t in paid if window[0] < t <= window[1])
    series.throughput["naive"] = _per_second(paid, started)
    series.windows["naive"] = (window[0] - started, window[1] - started)
    log(f"  naive: {throughput:.2f} orders/s ({len(paid)} paid)")
    return {
        "throughput": round(throughput, 3),
        "paid": len(paid),
        "window": [round(window[0] - started, 2), round(window[1] - started, 2)],
        "poll_s": opts.naive_poll_s,
        "cpu_s_per_order": round(sum(cpu_s.values()) / in_window, 5) if in_window else None,
    }


# --- phase 4: the ceiling ------------------------------------------------------------------


def run_noop(opts: BenchOptions, workdir: Path, log: Log) -> dict[str, Any]:
    config = StackConfig.private(concurrency=opts.concurrency, pos_delay_s=opts.pos_delay_s)
    stack = start_stack(config, workdir, keep=("redis",))
    worker = None
    try:
        broker = db_url(stack.redis_url, 2)
        noop.app.conf.broker_url = broker
        r = redis_client(broker)
        m = opts.noop_tasks
        with noop.app.producer_or_acquire() as producer:
            for _ in range(m):
                noop.noop.apply_async(producer=producer)
        log(f"no-op ceiling: {m} tasks queued, concurrency {opts.concurrency}")
        worker = SideWorker(
            "worker.bench.noop",
            noop.QUEUE,
            opts.concurrency,
            {"NOOP_BROKER_URL": broker},
            workdir / "noop-worker.log",
        )
        worker.start()
        samples: list[tuple[float, int]] = []
        deadline = time.monotonic() + 60 + m / 200
        while time.monotonic() < deadline:
            left = int(r.llen(noop.QUEUE))
            samples.append((time.time(), left))
            if left == 0:
                break
            time.sleep(0.02)
        executed = sum(celery_totals(noop.app).values())
    finally:
        if worker is not None:
            worker.stop()
        stop_stack(stack)
    # Steady drain: from the first sample at or below 90 % left to the first at or below 10 %.
    t_hi = next((t for t, left in samples if left <= 0.9 * m), None)
    t_lo = next((t for t, left in samples if left <= 0.1 * m), None)
    left_hi = next((left for t, left in samples if t == t_hi), m)
    left_lo = next((left for t, left in samples if t == t_lo), 0)
    rate = (left_hi - left_lo) / (t_lo - t_hi) if t_hi and t_lo and t_lo > t_hi else 0.0
    log(f"  no-op: {rate:.0f} tasks/s ({executed} executed)")
    return {"throughput": round(rate, 1), "tasks": m, "executed": executed}


# --- the whole run -------------------------------------------------------------------------


def run_bench(opts: BenchOptions, log: Log = print) -> dict[str, Any]:
    out = opts.out
    out.mkdir(parents=True, exist_ok=True)
    workdir = out / "logs"
    series = Series()
    began = time.time()
    of = run_orderflow(opts, workdir / "orderflow", series, log)
    nv = run_naive(opts, workdir / "naive", series, log)
    nop = run_noop(opts, workdir / "noop", log)
    log(
        f"capacity: {opts.capacity_orders} waiting orders; {opts.capacity_due} due at "
        f"{opts.capacity_due_rate:g}/s, then {opts.capacity_burst} at once"
    )
    cap = run_capacity(
        opts.concurrency,
        opts.pos_delay_s,
        opts.capacity_orders,
        opts.capacity_due,
        opts.capacity_due_rate,
        opts.capacity_burst,
        workdir / "capacity",
        log,
        opts.capacity_lead_s,
    ).summary()
    sat, paced, light = of["saturated"], of["paced"], of["light"]
    tasks_per_order = sat["celery_tasks_per_order"] or 0.0
    figures = {
        "orderflow_orders_per_s": sat["throughput"],
        "naive_orders_per_s": nv["throughput"],
        "ratio_vs_naive": round(sat["throughput"] / nv["throughput"], 1)
        if nv["throughput"]
        else None,
        "noop_tasks_per_s": nop["throughput"],
        "celery_tasks_per_order": tasks_per_order,
        "pipeline_efficiency": round(sat["throughput"] * tasks_per_order / nop["throughput"], 3)
        if nop["throughput"]
        else None,
        "latency_rate_per_s": paced["rate"],
        "webhook_to_payment_p50_ms": paced["webhook_to_payment_p50_ms"],
        "webhook_to_payment_p99_ms": paced["webhook_to_payment_p99_ms"],
        "submit_to_pos_overhead_p50_ms": paced["submit_to_pos_overhead_p50_ms"],
        "submit_to_pos_overhead_p99_ms": paced["submit_to_pos_overhead_p99_ms"],
        "light_rate_per_s": light["rate"],
        "light_webhook_to_payment_p50_ms": light["webhook_to_payment_p50_ms"],
        "light_webhook_to_payment_p99_ms": light["webhook_to_payment_p99_ms"],
        "light_submit_to_pos_overhead_p99_ms": light["submit_to_pos_overhead_p99_ms"],
        "waiting_orders": cap["waiting_orders"],
        "worker_slots_held": cap["worker_slots_held_max"],
        "redis_bytes_per_waiting_order": cap["redis_bytes_per_waiting_order"],
        "timer_lateness_p50_ms": cap["steady"]["lateness_p50_ms"],
        "timer_lateness_p99_ms": cap["steady"]["lateness_p99_ms"],
        "timer_due_rate_per_s": cap["steady"]["due_rate_per_s"],
        "burst_lateness_p99_ms": cap["burst"]["lateness_p99_ms"],
        "burst_timers_fired_per_s": cap["burst"]["fired_per_s"],
        "cpu_s_per_order": sat["cpu_s_per_order"],
        "cpu_s_per_order_paced": paced["cpu_s_per_order"],
    }
    report = {
        "figures": figures,
        "targets": {
            name: {"target": t, "op": op, "met": _met(figures.get(name), t, op)}
            for name, (t, op) in TARGETS.items()
        },
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "orderflow": of,
        "naive": nv,
        "noop": nop,
        "capacity": cap,
        "wall_s": round(time.time() - began, 1),
    }
    (out / "bench.json").write_text(json.dumps(report, indent=2, default=str))
    from worker.bench.plot import plot

    plot(series, report, out / "bench.png")
    return report


def _met(value: Any, target: float, op: str) -> bool | None:
    if value is None:
        return None
    return bool(value >= target) if op == ">=" else bool(value <= target)


ROWS = [
    ("orderflow_orders_per_s", "orderflow throughput (orders/s, saturated)"),
    ("naive_orders_per_s", "naive peer throughput (orders/s)"),
    ("ratio_vs_naive", "orderflow / naive"),
    ("noop_tasks_per_s", "bare Celery no-op (tasks/s)"),
    ("celery_tasks_per_order", "Celery tasks per order"),
    ("pipeline_efficiency", "pipeline efficiency"),
    ("latency_rate_per_s", "latency measured at (orders/s)"),
    ("webhook_to_payment_p50_ms", "webhook -> payment POST p50 (ms)"),
    ("webhook_to_payment_p99_ms", "webhook -> payment POST p99 (ms)"),
    ("submit_to_pos_overhead_p50_ms", "submit -> on POS, minus POS delay p50 (ms)"),
    ("submit_to_pos_overhead_p99_ms", "submit -> on POS, minus POS delay p99 (ms)"),
    ("light_rate_per_s", "light load (orders/s)"),
    ("light_webhook_to_payment_p50_ms", "  webhook -> payment POST p50 (ms)"),
    ("light_webhook_to_payment_p99_ms", "  webhook -> payment POST p99 (ms)"),
    ("light_submit_to_pos_overhead_p99_ms", "  submit -> on POS, minus POS delay p99 (ms)"),
    ("waiting_orders", "orders waiting on the POS"),
    ("worker_slots_held", "worker slots held while they wait"),
    ("redis_bytes_per_waiting_order", "Redis bytes per waiting order"),
    ("timer_due_rate_per_s", "timers coming due (per s)"),
    ("timer_lateness_p50_ms", "timer lateness p50 (ms)"),
    ("timer_lateness_p99_ms", "timer lateness p99 (ms)"),
    ("burst_lateness_p99_ms", "burst (all due at once) lateness p99 (ms)"),
    ("burst_timers_fired_per_s", "burst: timers fired per s"),
    ("cpu_s_per_order", "CPU s per order (worker+beat+api, saturated)"),
    ("cpu_s_per_order_paced", "CPU s per order (at the latency rate)"),
]


def table(report: dict[str, Any]) -> str:
    figures = report["figures"]
    lines = [f"{'figure':<46} {'value':>12}  {'target':<10} result", "-" * 80]
    for name, label in ROWS:
        value = figures.get(name)
        shown = "n/a" if value is None else f"{value:,.3f}".rstrip("0").rstrip(".")
        target = TARGETS.get(name)
        goal = f"{target[1]} {target[0]:g}" if target else ""
        met = report["targets"].get(name, {}).get("met")
        verdict = "" if target is None else ("met" if met else "MISSED" if met is False else "n/a")
        lines.append(f"{label:<46} {shown:>12}  {goal:<10} {verdict}")
    cap = report["capacity"]
    paced = report["orderflow"]["paced"]
    lines += [
        "",
        f"latency rate: {paced['rate_reason']}; webhook = our API's received_at of ORDER SUCCESS, "
        "payment = the sandbox's receipt of POST /pay",
        f"timer lateness: {cap['steady']['due']} of {cap['waiting_orders']} waiting orders came due "
        f"at {cap['steady']['due_rate_per_s']:g}/s (burst: {cap['burst']['due_at_once']} at one instant, "
        f"p50 {cap['burst']['lateness_p50_ms']} ms)",
    ]
    return "\n".join(lines)

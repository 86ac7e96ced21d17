"""Phases 1-2: orderflow saturated, then paced for latency, on one fresh stack."""

from __future__ import annotations

import math
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import redis

from bench.harness import (
    CpuSampler,
    celery_totals,
    orderflow_celery,
    orderflow_cpu,
    redis_client,
    start_stack,
    stop_stack,
)
from bench.options import BenchOptions, Log
from bench.orders import (
    Producer,
    bench_bodies,
    key_of,
    ledger,
    order_success_received,
    read_orders,
    terminal_count,
)
from bench.series import Series, drain, ms, per_second, rate_in, steady_window
from config.queues import NEW_QUEUE, QUEUE
from worker.stack import StackConfig

__all__ = ["run_orderflow"]


class _Gate:
    """Admits orders while fewer than `cap` are in flight (admitted, not ended).

    `cap` adapts so the worker is saturated but not flooded. Every half second: when the
    worker's queue was empty in more than 5 % of the samples (the worker waited for work) and
    the cap is in use, it grows 10 %; when the queue held more than `high` messages on average,
    it shrinks 5 %. Orders enter one by one as others end, so there are no synchronised waves.
    With `fixed`, the cap never changes.

    It is the load generator's part, on the machine under test, so it must cost little: the
    producer threads block on a condition (no spinning), and Redis is asked 20 times a second
    (queue lengths and ended orders: 6 commands in two round trips), not 100 times in 18
    commands: that was ~60 Redis commands per measured order, and the spinning threads more
    than a core of this 2-core machine's CPU, taken from the stack under test."""

    REFRESH_S = 0.05

    def __init__(self, r: redis.Redis, base: int, start: int, high: int, fixed: int = 0) -> None:
        self.r, self.base, self.high, self.fixed = r, base, high, fixed
        self.cap = float(fixed or start)
        self.floor = float(start)
        self.admitted = 0
        self.ended = 0
        self.trace: list[tuple[float, float, int, float]] = []  # (t, mean queue, in flight, cap)
        self._room = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def admit(self) -> bool:
        """Wait a moment for room; True: one more order may go (it counts as in flight)."""
        with self._room:
            if self.admitted - self.ended >= self.cap:
                self._room.wait(self.REFRESH_S)
                if self.admitted - self.ended >= self.cap:
                    return False
            self.admitted += 1
            return True

    def _look(self) -> tuple[int, int]:
        """Messages waiting for the worker, and orders ended since the start."""
        pipe = self.r.pipeline(transaction=False)
        pipe.llen(QUEUE)
        pipe.llen(NEW_QUEUE)
        waiting = sum(int(n) for n in pipe.execute())
        return waiting, terminal_count(self.r) - self.base

    def _run(self) -> None:
        last_adjust = time.monotonic()
        queued: list[int] = []
        while not self._stop.is_set():
            try:
                waiting, ended = self._look()
            except redis.RedisError:
                self._stop.wait(self.REFRESH_S)
                continue
            queued.append(waiting)
            with self._room:
                self.ended = ended
                in_flight = self.admitted - ended
                now = time.monotonic()
                if now - last_adjust >= 0.5:
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
                self._room.notify_all()
            self._stop.wait(self.REFRESH_S)

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
    commands_before = int(r.info("stats")["total_commands_processed"])
    start, high = 2 * opts.concurrency, 4 * opts.concurrency
    with _Gate(r, base, start, high, fixed=opts.in_flight) as gate:
        producer = Producer(
            stack.api_url,
            bodies,
            threads=opts.producer_threads,
            rate=rate,
            gate=gate.admit if rate is None else None,
        )
        producer.run()
    accepted = len(producer.sent)
    drained = drain(r, base, accepted, timeout_s=120.0 + accepted / 20)
    totals_after = celery_totals(celery)
    commands = int(r.info("stats")["total_commands_processed"]) - commands_before
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

    def per_order(seconds: float) -> float | None:
        return round(seconds / completed_in_window, 5) if completed_in_window else None

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
        "cpu_s_per_order": per_order(orderflow_cpu(cpu_s)),
        "sandbox_cpu_s_per_order": per_order(cpu_s.get("sandbox", 0.0)),
        "redis_cpu_s_per_order": per_order(cpu_s.get("redis", 0.0)),
        # Every command Redis ran for the phase (state, timers and the broker), per order.
        "redis_commands_per_order": round(commands / completed, 1) if completed else None,
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
        "webhook_to_payment_p50_ms": ms(to_pay, 50),
        "webhook_to_payment_p99_ms": ms(to_pay, 99),
        "webhook_to_payment_max_ms": ms(to_pay, 100),
        "webhook_to_applied_p50_ms": ms(to_apply, 50),
        "webhook_to_applied_p99_ms": ms(to_apply, 99),
        "applied_to_payment_p50_ms": ms(apply_to_pay, 50),
        "applied_to_payment_p99_ms": ms(apply_to_pay, 99),
        "submit_to_pos_overhead_p50_ms": ms(overhead, 50),
        "submit_to_pos_overhead_p99_ms": ms(overhead, 99),
        "submit_to_kseries_p50_ms": ms(to_kseries, 50),
        "submit_to_kseries_p99_ms": ms(to_kseries, 99),
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
        with CpuSampler(pids, alone=("producer",)) as cpu:
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
            series.throughput["orderflow"] = per_second(sat["_done"], sat["_start"])
            series.windows["orderflow"] = (
                sat["_window"][0] - sat["_start"],
                sat["_window"][1] - sat["_start"],
            )
            rate = opts.latency_rate
            why = f"{rate:g}/s as asked"
            if not rate:
                rate = max(1.0, math.floor(sat["throughput"] * 0.5))
                why = f"{rate:g}/s: half the saturated throughput"
            paced, lat = _paced(stack, r, celery, cpu, opts, rate, "l", log)
            series.throughput["orderflow paced"] = per_second(paced["_done"], paced["_start"])
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

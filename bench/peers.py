"""Phases 3-4: the naive peer and the bare-Celery no-op ceiling, same sandbox and orders."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from bench import naive, noop
from bench.harness import (
    CpuSampler,
    SideWorker,
    celery_totals,
    db_url,
    redis_client,
    start_stack,
    stop_stack,
)
from bench.options import BenchOptions, Log
from bench.orders import (
    bench_bodies,
    ledger,
)
from bench.series import Series, per_second
from worker.stack import StackConfig

__all__ = ["run_naive", "run_naive_sweep", "run_noop"]


# Past the last thread count asked for, the sweep doubles while the peer still gains this much:
# the peer's best is a peak found, not the edge of the list.
STILL_GROWING = 1.05
MAX_EXTRA_DOUBLINGS = 3


def run_naive_sweep(opts: BenchOptions, workdir: Path, series: Series, log: Log) -> dict[str, Any]:
    """The naive peer at every thread count in `opts.naive_threads`, then at twice the last
    while that still gains more than 5 % (at most three more); `best` is the fastest."""
    runs = [
        run_naive(opts, workdir / f"threads-{threads}", series, log, threads)
        for threads in opts.naive_threads
    ]
    for _ in range(MAX_EXTRA_DOUBLINGS if not opts.quick else 0):
        if len(runs) < 2 or runs[-1]["throughput"] <= STILL_GROWING * runs[-2]["throughput"]:
            break
        threads = 2 * runs[-1]["threads"]
        log(f"naive peer still faster at {runs[-1]['threads']} threads: trying {threads}")
        runs.append(run_naive(opts, workdir / f"threads-{threads}", series, log, threads))
    best = max(runs, key=lambda run: run["throughput"])
    return {"runs": runs, "best": best}


def run_naive(
    opts: BenchOptions, workdir: Path, series: Series, log: Log, threads: int
) -> dict[str, Any]:
    """The naive peer with `threads` worker threads, each holding its slot for a whole order."""
    config = StackConfig.private(concurrency=opts.concurrency, pos_delay_s=opts.pos_delay_s)
    stack = start_stack(config, workdir, keep=("redis", "sandbox"))
    worker = None
    try:
        broker = db_url(stack.redis_url, 1)
        naive.app.conf.broker_url = broker
        per_order = opts.pos_delay_s + opts.naive_poll_s
        # At least three waves of `threads` orders, so the steady window holds two.
        seconds = max(opts.naive_seconds, 3.5 * per_order)
        n = math.ceil(threads * seconds / per_order * 1.3) + 2 * threads
        log(f"naive peer: {n} orders queued, {threads} threads, {seconds:g} s")
        bodies = bench_bodies(n, "n", opts.locations)
        # A connection of its own: the app's pool may still point at the last run's Redis.
        with naive.app.connection_for_write(broker) as conn, conn.Producer() as producer:
            for body in bodies:
                naive.place_order.apply_async((body,), producer=producer)
        worker = SideWorker(
            "bench.naive",
            naive.QUEUE,
            threads,
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
            time.sleep(seconds)
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
    c = threads
    if len(paid) > c:
        window = (paid[c - 1], paid[-1])
        throughput = (len(paid) - c) / (window[1] - window[0]) if window[1] > window[0] else 0.0
    else:
        window = (started, ended)
        throughput = len(paid) / (ended - started)
    cpu_s = cpu.between(*window)
    in_window = sum(1 for t in paid if window[0] < t <= window[1])
    series.throughput[f"naive x{threads}"] = per_second(paid, started)
    series.windows[f"naive x{threads}"] = (window[0] - started, window[1] - started)
    cpu_per_order = round(sum(cpu_s.values()) / in_window, 5) if in_window else None
    log(
        f"  naive x{threads}: {throughput:.2f} orders/s ({len(paid)} paid), {cpu_per_order} CPU s/order"
    )
    return {
        "threads": threads,
        "throughput": round(throughput, 3),
        "paid": len(paid),
        "window": [round(window[0] - started, 2), round(window[1] - started, 2)],
        "poll_s": opts.naive_poll_s,
        "cpu_s_per_order": cpu_per_order,
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
        with noop.app.connection_for_write(broker) as conn, conn.Producer() as producer:
            for _ in range(m):
                noop.noop.apply_async(producer=producer)
        log(f"no-op ceiling: {m} tasks queued, concurrency {opts.concurrency}")
        worker = SideWorker(
            "bench.noop",
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

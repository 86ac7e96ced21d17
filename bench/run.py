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
  3. the naive peer (`bench.naive`), same concurrency, sandbox settings and orders.
  4. bare Celery no-op tasks (`bench.noop`), same broker, pool and concurrency.
  5. in-flight capacity (`bench.capacity`).
Timestamps are epoch seconds from one clock (this machine's); windows are chosen from them
after the fact, so warm-up and drain never count.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.capacity import run_capacity
from bench.options import TARGETS, BenchOptions, Log
from bench.orderflow_run import run_orderflow
from bench.peers import run_naive_sweep, run_noop
from bench.report import ROWS, met, table
from bench.series import Series

__all__ = ["ROWS", "TARGETS", "BenchOptions", "run_bench", "table"]


def run_bench(opts: BenchOptions, log: Log = print) -> dict[str, Any]:
    out = opts.out
    out.mkdir(parents=True, exist_ok=True)
    workdir = out / "logs"
    series = Series()
    began = time.time()
    of = run_orderflow(opts, workdir / "orderflow", series, log)
    sweep = run_naive_sweep(opts, workdir / "naive", series, log)
    nv = sweep["best"]
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
    naive_cpu = nv["cpu_s_per_order"]
    figures = {
        "orderflow_orders_per_s": sat["throughput"],
        "naive_best_threads": nv["threads"],
        "naive_orders_per_s": nv["throughput"],
        "ratio_vs_naive": round(sat["throughput"] / nv["throughput"], 2)
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
        "naive_cpu_s_per_order": naive_cpu,
        "cpu_ratio_vs_naive": round(sat["cpu_s_per_order"] / naive_cpu, 2)
        if sat["cpu_s_per_order"] and naive_cpu
        else None,
        "sandbox_cpu_s_per_order": sat["sandbox_cpu_s_per_order"],
        "redis_cpu_s_per_order": sat["redis_cpu_s_per_order"],
        "redis_commands_per_order": sat["redis_commands_per_order"],
        "cpu_s_per_order_paced": paced["cpu_s_per_order"],
        "burst_rate_vs_saturated": round(cap["burst"]["fired_per_s"] / sat["throughput"], 2)
        if sat["throughput"] and cap["burst"]["fired_per_s"]
        else None,
    }
    for run in sweep["runs"]:
        figures[f"naive_x{run['threads']}_orders_per_s"] = run["throughput"]
    report = {
        "figures": figures,
        "targets": {
            name: {"target": t, "op": op, "met": met(figures.get(name), t, op)}
            for name, (t, op) in TARGETS.items()
        },
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "orderflow": of,
        "naive": sweep,
        "noop": nop,
        "capacity": cap,
        "wall_s": round(time.time() - began, 1),
    }
    (out / "bench.json").write_text(json.dumps(report, indent=2, default=str))
    from bench.plot import plot

    plot(series, report, out / "bench.png")
    return report

"""The printed table: every figure beside its target."""

from __future__ import annotations

from typing import Any

from bench.options import TARGETS

__all__ = ["ROWS", "met", "table"]


def met(value: Any, target: float, op: str) -> bool | None:
    if value is None:
        return None
    return bool(value >= target) if op == ">=" else bool(value <= target)


ROWS = [
    ("orderflow_orders_per_s", "orderflow throughput (orders/s, saturated)"),
    ("naive_best_threads", "naive peer: best thread count"),
    ("naive_orders_per_s", "naive peer throughput at its best (orders/s)"),
    ("ratio_vs_naive", "orderflow / naive at its best"),
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
    ("burst_rate_vs_saturated", "burst rate / saturated order rate"),
    ("cpu_s_per_order", "CPU s per order (every orderflow process, saturated)"),
    ("naive_cpu_s_per_order", "naive peer CPU s per order (at its best)"),
    ("cpu_ratio_vs_naive", "orderflow CPU / naive CPU per order"),
    ("sandbox_cpu_s_per_order", "  sandbox (K-Series stand-in) CPU s per order"),
    ("redis_cpu_s_per_order", "  Redis CPU s per order"),
    ("redis_commands_per_order", "  Redis commands per order"),
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
    sweep = ", ".join(
        f"{run['threads']} threads {run['throughput']:g}/s" for run in report["naive"]["runs"]
    )
    lines += [
        "",
        f"naive peer sweep: {sweep}",
        "",
        f"latency rate: {paced['rate_reason']}; webhook = our API's received_at of ORDER SUCCESS, "
        "payment = the sandbox's receipt of POST /pay",
        f"timer lateness: {cap['steady']['due']} of {cap['waiting_orders']} waiting orders came due "
        f"at {cap['steady']['due_rate_per_s']:g}/s (burst: {cap['burst']['due_at_once']} at one instant, "
        f"p50 {cap['burst']['lateness_p50_ms']} ms)",
    ]
    return "\n".join(lines)

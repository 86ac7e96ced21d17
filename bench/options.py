"""What a bench run measures and the targets it is held to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["TARGETS", "BenchOptions", "Log"]


Log = Callable[[str], None]


@dataclass
class BenchOptions:
    orders: int = 6000
    concurrency: int = 8
    pos_delay_s: float = 2.0
    rate: float | None = None  # phase 1: None = as fast as the stack takes them
    latency_rate: float = 0.0  # 0: half the saturated throughput (the target's rate)
    latency_seconds: float = 40.0
    light_rate: float = 10.0  # latency again at a light load: orderflow's own overhead
    naive_seconds: float = 45.0
    # The naive peer at each of these thread counts; the headline compares with its best.
    naive_threads: tuple[int, ...] = (8, 64, 256, 512)
    naive_poll_s: float = 0.25
    noop_tasks: int = 30_000
    capacity_orders: int = 1_000_000
    capacity_due: int = 10_000  # come due at capacity_due_rate
    capacity_due_rate: float = 500.0
    capacity_burst: int = 20_000  # come due at one instant
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
            "latency_seconds": 3.0,
            "light_rate": 10.0,
            "naive_seconds": 6.0,
            "naive_threads": (8, 32),
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
    "ratio_vs_naive": (2.0, ">="),  # against the naive peer at its best thread count
    "cpu_ratio_vs_naive": (0.5, "<="),  # orderflow's CPU per order / the naive peer's
    "worker_slots_held": (0.0, "<="),
    "redis_bytes_per_waiting_order": (1536.0, "<="),
    "timer_lateness_p99_ms": (1000.0, "<="),
    "burst_rate_vs_saturated": (1.0, ">="),  # timers fired/s in a burst / saturated orders/s
    "webhook_to_payment_p99_ms": (50.0, "<="),  # at half the saturated rate
}

"""Time series and rates from timestamps taken during a run."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import redis

from bench.harness import (
    percentile,
)
from bench.orders import (
    terminal_count,
)

__all__ = ["Series", "drain", "ms", "per_second", "rate_in", "steady_window"]


@dataclass
class Series:
    """Per-second figures for the plot (seconds since the phase began)."""

    throughput: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    latency_points: list[tuple[float, float]] = field(default_factory=list)
    overhead_points: list[tuple[float, float]] = field(default_factory=list)
    windows: dict[str, tuple[float, float]] = field(default_factory=dict)


def per_second(times: list[float], origin: float) -> list[tuple[float, float]]:
    counts = Counter(int(t - origin) for t in times if t >= origin)
    if not counts:
        return []
    return [(float(s), float(counts.get(s, 0))) for s in range(max(counts) + 1)]


def ms(values: list[float], p: float) -> float | None:
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


def drain(r: redis.Redis, base: int, expected: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if terminal_count(r) - base >= expected:
            return True
        time.sleep(0.25)
    return False

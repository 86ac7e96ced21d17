"""bench.png: throughput over time (orderflow saturated and paced, the naive peer) and
webhook -> payment latency over time at the paced rate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.harness import percentile

__all__ = ["plot"]


def _bins(points: list[tuple[float, float]], p: float) -> list[tuple[float, float]]:
    by_second: dict[int, list[float]] = {}
    for t, v in points:
        by_second.setdefault(int(t), []).append(v)
    out = []
    for s in sorted(by_second):
        value = percentile(by_second[s], p)
        if value is not None:
            out.append((float(s), value))
    return out


def _smooth(points: list[tuple[float, float]], width: int = 5) -> list[tuple[float, float]]:
    """Per-second counts averaged over `width`-second bins (plotted at the bin's middle)."""
    bins: dict[int, float] = {}
    for t, v in points:
        bins[int(t) // width] = bins.get(int(t) // width, 0.0) + v
    return [(b * width + width / 2, total / width) for b, total in sorted(bins.items())]


def plot(series: Any, report: dict[str, Any], path: Path) -> None:
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 8))
    for name, points in series.throughput.items():
        if points:
            xs, ys = zip(*_smooth(points), strict=True)
            top.plot(xs, ys, label=name, linewidth=1.2, marker=".")
    for name, (lo, hi) in series.windows.items():
        top.axvspan(lo, hi, alpha=0.06, color="grey")
        top.text(lo, 0, f" {name} window", fontsize=7, va="bottom")
    figures = report["figures"]
    top.set_title(
        f"completed orders/s, 5 s bins (orderflow {figures['orderflow_orders_per_s']}/s, "
        f"naive at its best {figures['naive_orders_per_s']}/s x{figures['naive_best_threads']} threads, "
        f"POS delay {report['options']['pos_delay_s']} s)"
    )
    top.set_xlabel("seconds since the phase began")
    top.set_ylabel("orders/s")
    top.legend(loc="upper right")
    top.grid(alpha=0.3)

    if series.latency_points:
        xs, ys = zip(*series.latency_points, strict=True)
        bottom.scatter(xs, ys, s=3, alpha=0.3, label="webhook -> payment POST (each order)")
        for p in (50, 99):
            binned = _bins(series.latency_points, p)
            if binned:
                bx, by = zip(*binned, strict=True)
                bottom.plot(bx, by, label=f"p{p} per second", linewidth=1.2)
    if series.overhead_points:
        xs, ys = zip(*series.overhead_points, strict=True)
        bottom.scatter(xs, ys, s=3, alpha=0.3, label="submit -> on POS minus POS delay")
    bottom.axhline(50, color="red", linestyle="--", linewidth=0.8, label="target p99 50 ms")
    bottom.set_title(f"latency at {figures['latency_rate_per_s']} orders/s")
    bottom.set_xlabel("seconds since the paced phase began")
    bottom.set_ylabel("ms")
    bottom.set_yscale("log")
    bottom.legend(loc="upper right", fontsize=8)
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

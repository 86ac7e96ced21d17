"""`orderflow bench`: register with `main.add_command(bench)` (from worker.bench.cli import bench)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

__all__ = ["bench"]


@click.command()
@click.option(
    "--orders", type=int, default=None, help="orders for the saturated run [6000; quick 200]"
)
@click.option(
    "--concurrency",
    type=int,
    default=8,
    show_default=True,
    help="worker threads, for orderflow and both peers",
)
@click.option(
    "--pos-delay", type=float, default=2.0, show_default=True, help="sandbox POS delay (s)"
)
@click.option(
    "--rate",
    type=float,
    default=None,
    help="pace the saturated run (orders/s) instead of as fast as the stack takes them",
)
@click.option(
    "--latency-rate", type=float, default=None, help="orders/s for the latency run [50; quick 20]"
)
@click.option(
    "--capacity-orders",
    type=int,
    default=None,
    help="orders waiting on a silent POS [100000; quick 2000]",
)
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("bench-results"),
    show_default=True,
)
@click.option("--quick", is_flag=True, help="a tiny CI-size run (every figure, about a minute)")
@click.option("--strict", is_flag=True, help="exit 1 when a target is missed")
def bench(  # noqa: PLR0917 -- click passes options by name
    orders: int | None,
    concurrency: int,
    pos_delay: float,
    rate: float | None,
    latency_rate: float | None,
    capacity_orders: int | None,
    out: Path,
    quick: bool,
    strict: bool,
) -> None:
    """Throughput, latency, in-flight capacity and cost on this machine, against the naive
    peer and the bare-Celery ceiling; a table here, bench.json and bench.png in --out."""
    from worker.bench.run import BenchOptions, run_bench, table

    given: dict[str, Any] = {
        "orders": orders,
        "latency_rate": latency_rate,
        "capacity_orders": capacity_orders,
    }
    overrides: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    overrides |= {"concurrency": concurrency, "pos_delay_s": pos_delay, "rate": rate, "out": out}
    opts = BenchOptions.quick_size(**overrides) if quick else BenchOptions(**overrides)
    report = run_bench(opts, log=lambda line: click.echo(line, err=True))
    click.echo(table(report))
    click.echo(f"\n{out / 'bench.json'}, {out / 'bench.png'}")
    if strict and any(t["met"] is False for t in report["targets"].values()):
        sys.exit(1)

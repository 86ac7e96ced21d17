"""`orderflow bench`, `orderflow chaos` and `orderflow demo` (found by name by worker.cli)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from bench.demo_businesses import BusinessAccount

__all__ = ["bench", "chaos", "demo"]

UP_SANDBOX = "http://127.0.0.1:8100"  # `orderflow up`'s sandbox


@contextmanager
def plainly() -> Iterator[None]:
    """A failure a person can act on is one line (`Error: ...`, exit 1), never a traceback."""
    import httpx
    import redis

    from bench.chaos import ChaosAborted
    from bench.demo import DemoError
    from worker.stack import StackError

    try:
        yield
    except (StackError, DemoError, ChaosAborted) as exc:
        raise click.ClickException(str(exc)) from None
    except (httpx.HTTPError, redis.RedisError, OSError) as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from None


@click.command()
@click.option(
    "--orders", type=int, default=None, help="orders for the saturated run [6000; quick 200]"
)
@click.option(
    "--concurrency",
    type=int,
    default=8,
    show_default=True,
    help="orderflow's worker threads, and the no-op ceiling's",
)
@click.option(
    "--naive-threads",
    default=None,
    help="comma-separated thread counts for the naive peer [8,64,256,512; quick 8,32]",
)
@click.option(
    "--naive-poll",
    type=click.FloatRange(min=0.01),
    default=0.25,
    show_default=True,
    help="the naive peer's pause between sale lookups (s): longer suits a slow POS",
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
    "--latency-rate",
    type=float,
    default=None,
    help="orders/s for the latency run [half the saturated throughput]",
)
@click.option(
    "--capacity-orders",
    type=int,
    default=None,
    help="orders waiting on a silent POS [1000000; quick 2000]",
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
    naive_threads: str | None,
    naive_poll: float,
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
    from bench.run import BenchOptions, run_bench, table

    given: dict[str, Any] = {
        "orders": orders,
        "latency_rate": latency_rate,
        "capacity_orders": capacity_orders,
    }
    if naive_threads:
        try:
            given["naive_threads"] = tuple(int(t) for t in naive_threads.split(","))
        except ValueError:
            raise click.BadParameter(
                "comma-separated integers", param_hint="--naive-threads"
            ) from None
    overrides: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    overrides |= {
        "concurrency": concurrency,
        "pos_delay_s": pos_delay,
        "naive_poll_s": naive_poll,
        "rate": rate,
        "out": out,
    }
    opts = BenchOptions.quick_size(**overrides) if quick else BenchOptions(**overrides)
    with plainly():
        report = run_bench(opts, log=lambda line: click.echo(line, err=True))
    click.echo(table(report))
    click.echo(f"\n{out / 'bench.json'}, {out / 'bench.png'}")
    if strict and any(t["met"] is False for t in report["targets"].values()):
        sys.exit(1)


@click.command()
@click.option("--api-url", default=None, help="use a running stack instead of starting one")
@click.option(
    "--sandbox-url",
    default=None,
    help="with --api-url: the sandbox that API talks to, where the offline scenario marks its "
    f"location offline (`orderflow up`: {UP_SANDBOX}); without it that scenario is skipped",
)
@click.option(
    "--token",
    default=None,
    help="with --api-url: the API's producer token [ORDERFLOW_API_TOKEN, from the environment "
    "or .env]",
)
def demo(api_url: str | None, sandbox_url: str | None, token: str | None) -> None:
    """Run sample orders (every lifecycle outcome) and print how each ended: on its own stack,
    for two restaurant businesses side by side, each logged in with its own tokens."""
    from bench.demo import SCENARIOS, table, unexpected
    from bench.demo_businesses import RESTAURANTS, accounts_table

    found: list[BusinessAccount] = []
    with plainly():
        if api_url:
            rows = _demo_on(api_url, sandbox_url, token)
        else:
            click.echo(
                f"starting a local stack for {len(RESTAURANTS)} restaurant businesses, "
                f"{len(SCENARIOS)} scenarios each (logs in a temporary directory)"
            )
            rows, found = _demo_on_own_stack()
    click.echo(table(rows))
    if found:
        click.echo("\n" + accounts_table(found))
    if any(unexpected(row) for row in rows) or not all(a.ok for a in found):
        sys.exit(1)


def _demo_on(api_url: str, sandbox_url: str | None, token: str | None) -> list[dict[str, Any]]:
    """The scenarios through a stack someone else started (`orderflow up`, a deployment)."""
    from bench.demo import location_offline, run_scenarios

    token = token or _configured_token()
    if sandbox_url is None:
        why = f"skipped: pass --sandbox-url (`orderflow up`: {UP_SANDBOX}) to mark it offline"
        return run_scenarios(api_url, token=token, skip={"offline location": why})
    with location_offline(sandbox_url):
        return run_scenarios(api_url, token=token)


def _configured_token() -> str | None:
    from pydantic import ValidationError

    from config.settings import get_settings

    try:
        secret = get_settings().api_token
    except ValidationError as exc:
        first = exc.errors()[0]
        raise click.ClickException(f"the settings (environment or .env): {first['msg']}") from None
    return secret.get_secret_value() if secret else None


def _demo_on_own_stack() -> tuple[list[dict[str, Any]], list[BusinessAccount]]:
    """Its own private stack: its own Redis, never the deployment's settings or `.env`."""
    from bench.demo_businesses import run_side_by_side

    return run_side_by_side(log=click.echo)


@click.command()
@click.option("--orders", default=1000, show_default=True, help="how many orders to push through")
def chaos(orders: int) -> None:
    """Break the real stack while orders flow (5xx, 429 and a 429 storm, lost answers, lost,
    duplicated and reordered webhooks, worker and sweeper SIGKILLs, a Redis SIGKILL)."""
    from bench.chaos import run_chaos

    with plainly():
        report = run_chaos(orders, log=lambda line: click.echo(line, err=True))
    click.echo("\n".join(report.lines()))
    for line in report.wrong_status[:50]:
        click.echo(f"  wrong: {line}")
    for line in report.could_not_look:
        click.echo(f"  could not look: {line}")
    if not report.ok:
        sys.exit(1)

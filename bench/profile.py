"""Where an order's CPU goes: py-spy over every orderflow process, and Redis's command mix.

    python -m bench.profile [--rate 30] [--seconds 30] [--pos-delay 2] [--out DIR]

Starts the bench's private stack, sends orders at a steady rate, and once warm records
`py-spy` samples of the API, the worker (its pool threads) and the sweeper for `--seconds`
(only threads holding the GIL: Python at work, not a thread blocked on a socket),
with Redis's `INFO commandstats` before and after. It prints, per process, where the samples
fall (by library, from the innermost frame that is not the standard library) and the Redis
commands per completed order, and leaves the raw py-spy stacks in `--out` (flame graphs:
`py-spy`'s raw format, which speedscope and inferno read). This is the profile the bench's
missed targets are explained from (README, "Performance").
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.harness import redis_client, start_stack, stop_stack
from bench.orders import Producer, bench_bodies, terminal_count
from worker.stack import StackConfig

__all__ = ["bucket_of", "main", "summarise"]

# Installed packages to a readable bucket (others keep their own name).
_LIBRARIES = {
    "billiard": "celery",
    "httpcore": "httpx/httpcore/h11",
    "httpx": "httpx/httpcore/h11",
    "h11": "httpx/httpcore/h11",
    "anyio": "anyio/uvicorn/starlette/fastapi",
    "uvicorn": "anyio/uvicorn/starlette/fastapi",
    "starlette": "anyio/uvicorn/starlette/fastapi",
    "fastapi": "anyio/uvicorn/starlette/fastapi",
    "pydantic_core": "pydantic",
    "redis": "redis-py",
    "structlog": "logging (structlog)",
}
_PROJECT = str(Path(__file__).resolve().parents[1]) + "/"


def bucket_of(stack: list[str]) -> str:
    """The bucket of one sampled stack: its innermost frame in an installed package or in our
    code (`orderflow worker/` ...); standard-library frames count for whoever called them, and
    a stack of only standard-library frames is `stdlib (sockets, threads, ssl ...)`."""
    for frame in reversed(stack):
        path = frame.rpartition("(")[2]
        if "site-packages/" in path:
            package = path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
            return _LIBRARIES.get(package, package)
        if path.startswith(_PROJECT):
            return f"orderflow {path.removeprefix(_PROJECT).split('/', 1)[0]}/"
    return "stdlib (sockets, threads, ssl ...)"


def summarise(raw: Path) -> collections.Counter[str]:
    """Samples per bucket from a py-spy `--format raw` file (`frame;frame;... count` lines)."""
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if stack and n.isdigit():
            counts[bucket_of(stack.split(";"))] += int(n)
    return counts


def _record(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    argv = [
        spy,
        "record",
        "--pid",
        str(pid),
        "--subprocesses",
        "--nonblocking",
        "--full-filenames",
        "--gil",
    ]
    argv += ["--duration", str(int(seconds)), "--rate", "200", "--format", "raw"]
    return subprocess.Popen(
        [*argv, "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    ap.add_argument("--rate", type=float, default=30.0, help="orders/s sent [30]")
    ap.add_argument("--seconds", type=float, default=30.0, help="profiled window [30]")
    ap.add_argument("--pos-delay", type=float, default=2.0, help="sandbox POS delay [2]")
    ap.add_argument("--concurrency", type=int, default=8, help="worker threads [8]")
    ap.add_argument("--out", type=Path, default=Path("bench-results/profile"))
    args = ap.parse_args(argv)
    warm = 2 * args.pos_delay + 5.0
    n = int(args.rate * (warm + args.seconds + 2 * args.pos_delay + 5))
    config = StackConfig.private(concurrency=args.concurrency, pos_delay_s=args.pos_delay)
    stack = start_stack(config, args.out / "stack")
    try:
        r = redis_client(stack.redis_url)
        producer = Producer(stack.api_url, bench_bodies(n, "p", 20), rate=args.rate)
        thread = threading.Thread(target=producer.run, daemon=True)
        thread.start()
        time.sleep(warm)
        before, base = r.info("commandstats"), terminal_count(r)
        names = [name for name in stack.processes if name not in {"redis", "sandbox"}]
        spies = {
            name: _record(stack.processes[name].pid, args.seconds, args.out / f"{name}.raw")
            for name in names
        }
        for spy in spies.values():
            spy.wait(timeout=args.seconds + 60)
        after, ended = r.info("commandstats"), terminal_count(r) - base
        thread.join(timeout=300)
    finally:
        stop_stack(stack)
    print(f"profiled {args.seconds:g} s at {args.rate:g} orders/s: {ended} orders ended")
    for name in names:
        counts = summarise(args.out / f"{name}.raw")
        total = sum(counts.values()) or 1
        print(f"\n{name}: {total} samples")
        for bucket, k in counts.most_common():
            print(f"  {100 * k / total:5.1f} %  {bucket}")
    print(f"\nRedis commands per ended order ({ended}):")
    delta = {
        cmd: after[cmd]["calls"] - before.get(cmd, {}).get("calls", 0)
        for cmd in after
        if after[cmd]["calls"] - before.get(cmd, {}).get("calls", 0) > 0
    }
    for cmd, calls in sorted(delta.items(), key=lambda kv: -kv[1])[:20]:
        print(f"  {calls / max(ended, 1):7.1f}  {cmd.removeprefix('cmdstat_')}")
    print(f"  {sum(delta.values()) / max(ended, 1):7.1f}  all")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Processes and meters for the bench: stacks, side workers, CPU and Celery task counters."""

from __future__ import annotations

import bisect
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import numpy
import psutil  # type: ignore[import-untyped,unused-ignore]
import redis

from worker.stack import Stack, StackConfig

__all__ = [
    "NOT_ORDERFLOW",
    "CpuSampler",
    "SideWorker",
    "active_tasks",
    "celery_totals",
    "db_url",
    "orderflow_celery",
    "orderflow_cpu",
    "percentile",
    "redis_client",
    "start_stack",
    "stop_stack",
    "used_memory",
]

# Processes whose CPU is not orderflow's: the K-Series stand-in, Redis, the bench's producer.
NOT_ORDERFLOW = frozenset({"redis", "sandbox", "producer", "flower"})


def orderflow_cpu(cpu_s: dict[str, float]) -> float:
    """CPU seconds of every orderflow process (API, workers, sweepers), whatever their names."""
    return sum(v for name, v in cpu_s.items() if name not in NOT_ORDERFLOW)


def start_stack(config: StackConfig, workdir: Path, keep: Iterable[str] | None = None) -> Stack:
    """A started Stack; with `keep`, every other process is stopped again (a bare Redis and
    sandbox for the peers, started exactly as orderflow's are). The workdir starts empty: a
    Redis that reloaded an earlier run's AOF would measure that run's leftovers."""
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    stack = Stack(config, workdir)
    try:
        stack.start()
        if keep is not None:
            wanted = set(keep)
            for name in list(stack.processes):
                if name not in wanted:
                    stack.terminate(name)
    except BaseException:
        stack.stop()
        raise
    return stack


def stop_stack(stack: Stack) -> None:
    """Stop every process; the AOF goes (a capacity run leaves hundreds of MB), logs stay."""
    stack.stop()
    shutil.rmtree(stack.workdir / "appendonlydir", ignore_errors=True)  # Redis 7
    (stack.workdir / "appendonly.aof").unlink(missing_ok=True)  # Redis 6


def db_url(redis_url: str, db: int) -> str:
    """The same Redis server, another database."""
    base = redis_url.rsplit("/", 1)[0]
    return f"{base}/{db}"


class SideWorker:
    """`celery -A <module> worker` with the flags orderflow's worker gets, as a child process."""

    def __init__(
        self, module: str, queue: str, concurrency: int, env: dict[str, str], log: Path
    ) -> None:
        self._argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            module,
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            str(concurrency),
            "-Q",
            queue,
            "--loglevel",
            "WARNING",
            "--hostname",
            f"{queue}-{os.getpid()}@%h",
            "--without-gossip",
            "--without-mingle",
        ]
        self._env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self._log_path = log
        self._log: IO[bytes] | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._log = open(self._log_path, "ab")  # noqa: SIM115 -- closed in stop()
        self.process = subprocess.Popen(
            self._argv,
            env=self._env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # A sleeping naive task would hold a warm shutdown for seconds: stop it cold.
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None


class CpuSampler:
    """CPU seconds (user + system, children included) of some processes, sampled in the
    background so any window can be read afterwards. Those named in `alone` count without
    their children: the bench's own process is the parent of the whole stack it started."""

    def __init__(
        self, pids: dict[str, int], interval_s: float = 0.25, alone: Iterable[str] = ()
    ) -> None:
        self._procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self._alone = frozenset(alone)
        self._interval = interval_s
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def _read(self) -> dict[str, float]:
        out = {}
        for name, proc in self._procs.items():
            try:
                t = proc.cpu_times()
                if name in self._alone:
                    out[name] = t.user + t.system
                    continue
                total = t.user + t.system + t.children_user + t.children_system
                for child in proc.children(recursive=True):  # e.g. a supervised worker
                    with contextlib.suppress(psutil.Error):
                        c = child.cpu_times()
                        total += c.user + c.system
                out[name] = total
            except psutil.Error:
                out[name] = self.samples[-1][1].get(name, 0.0) if self.samples else 0.0
        return out

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), self._read()))
            self._stop.wait(self._interval)

    def __enter__(self) -> CpuSampler:
        self.samples.append((time.time(), self._read()))
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.time(), self._read()))

    def at(self, moment: float) -> dict[str, float]:
        """Interpolated CPU seconds per process at `moment` (epoch seconds)."""
        times = [t for t, _ in self.samples]
        i = bisect.bisect_left(times, moment)
        if i <= 0:
            return dict(self.samples[0][1])
        if i >= len(times):
            return dict(self.samples[-1][1])
        (t0, a), (t1, b) = self.samples[i - 1], self.samples[i]
        share = (moment - t0) / (t1 - t0) if t1 > t0 else 0.0
        return {name: a[name] + (b[name] - a[name]) * share for name in a}

    def between(self, start: float, end: float) -> dict[str, float]:
        a, b = self.at(start), self.at(end)
        return {name: b[name] - a[name] for name in a}


def celery_totals(
    app: Any, timeout: float = 3.0, workers: int | None = 1, tries: int = 5
) -> dict[str, int]:
    """Tasks each worker has started, by task name, summed over the workers that answered
    (asked again when a busy worker does not answer in time)."""
    for _ in range(tries):
        replies = app.control.inspect(timeout=timeout, limit=workers).stats() or {}
        if replies:
            totals: dict[str, int] = {}
            for stats in replies.values():
                for name, count in (stats.get("total") or {}).items():
                    totals[name] = totals.get(name, 0) + int(count)
            return totals
    raise RuntimeError("no Celery worker answered `inspect stats`")


def active_tasks(app: Any, timeout: float = 2.0, workers: int | None = 1) -> list[str]:
    """Names of the tasks running right now on every worker that answered."""
    replies = app.control.inspect(timeout=timeout, limit=workers).active() or {}
    return [task.get("name", "?") for tasks in replies.values() for task in tasks]


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100); None for no values."""
    if not values:
        return None
    return float(numpy.percentile(values, p, method="inverted_cdf"))


def redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=30)


def orderflow_celery(stack: Stack) -> Any:
    """A Celery app on the stack's broker, to inspect its worker."""
    from worker.celery import create_app

    return create_app(stack.settings())


def used_memory(r: redis.Redis) -> int:
    return int(r.info("memory")["used_memory"])

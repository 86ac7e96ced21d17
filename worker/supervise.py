"""Keep a Celery worker running: restart it when it dies on its own.

A Celery worker can exit on a broker hiccup it does not recover from (seen here: Redis killed
while a task is acked, then kombu's reconnection fails with an AttributeError and the worker
stops with "Unrecoverable error"). Nothing is lost when that happens (tasks are acked on receipt
and every order's durable timer sends its work again), but the work waits for a new worker.
`orderflow worker` therefore runs the Celery worker as a child and starts it again after an
unbidden exit, a bounded number of times, like a process supervisor would. A stop asked for
(SIGTERM, SIGINT) is passed on and ends the supervisor too; if the supervisor itself is killed,
the kernel kills the child (PR_SET_PDEATHSIG), so no worker is left behind.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from types import FrameType

import structlog

__all__ = ["supervise"]

log = structlog.get_logger(__name__)
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def supervise(
    argv: Sequence[str],
    *,
    max_restarts: int = 10,
    window_s: float = 300.0,
    pause_s: float = 1.0,
) -> int:
    """Run `argv`; after an unbidden non-zero exit, run it again (at most `max_restarts` times
    within `window_s`). Returns the last exit code."""
    stopping: int = 0  # the stop signal asked for, once one came
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = signum
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    restarts: deque[float] = deque()
    while True:
        child = subprocess.Popen(list(argv), preexec_fn=_die_with_parent)  # noqa: PLW1509
        if stopping:  # the stop came while the child was being started: pass it on now
            child.send_signal(stopping)
        code = child.wait()
        if stopping or code == 0:
            return code
        now = time.monotonic()
        restarts.append(now)
        while restarts and restarts[0] < now - window_s:
            restarts.popleft()
        if len(restarts) > max_restarts:
            log.error("worker.gave_up", exit_code=code, restarts=len(restarts), window_s=window_s)
            return code
        log.warning("worker.restarted", exit_code=code, restarts=len(restarts))
        time.sleep(pause_s)  # a supervisor process, not a task: nothing waits on it

"""`orderflow worker` keeps its Celery worker running: restarted after an unbidden exit, never
after a stop that was asked for, and never left behind when the supervisor is killed."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from worker.supervise import supervise


def counting_child(counter: Path, fail_times: int) -> list[str]:
    """A child that counts its runs in `counter` and exits 1 for its first `fail_times` runs."""
    code = (
        "import pathlib, sys\n"
        f"p = pathlib.Path({str(counter)!r})\n"
        "n = int(p.read_text() or 0) if p.exists() else 0\n"
        "p.write_text(str(n + 1))\n"
        f"sys.exit(1 if n < {fail_times} else 0)\n"
    )
    return [sys.executable, "-c", code]


def test_a_child_that_dies_on_its_own_is_started_again_until_it_ends_cleanly(
    tmp_path: Path,
) -> None:
    counter = tmp_path / "runs"

    code = supervise(counting_child(counter, fail_times=2), pause_s=0)

    assert code == 0
    assert counter.read_text() == "3"


def test_a_child_that_keeps_dying_is_given_up_after_the_restart_budget(tmp_path: Path) -> None:
    counter = tmp_path / "runs"

    code = supervise(counting_child(counter, fail_times=100), max_restarts=2, pause_s=0)

    assert code == 1
    assert counter.read_text() == "3"  # the first run and two restarts


def _run_supervisor(tmp_path: Path) -> tuple[subprocess.Popen[bytes], psutil.Process]:
    script = (
        "import sys\n"
        "from worker.supervise import supervise\n"
        "code = supervise([sys.executable, '-c', 'import time; time.sleep(60)'], pause_s=0)\n"
        "print(code, flush=True)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], cwd=Path(__file__).parents[2], stdout=subprocess.PIPE
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        children = psutil.Process(parent.pid).children()
        if children:
            return parent, children[0]
        time.sleep(0.05)
    parent.kill()
    raise AssertionError("the supervised child never started")


def test_a_stop_that_was_asked_for_is_passed_on_and_not_restarted(tmp_path: Path) -> None:
    parent, child = _run_supervisor(tmp_path)

    parent.send_signal(signal.SIGTERM)

    out, _ = parent.communicate(timeout=20)  # the supervisor ends: no new child is started

    assert int(out) == -signal.SIGTERM  # the child got the stop itself, and ended by it
    child.wait(20)


def test_a_killed_supervisor_leaves_no_worker_behind(tmp_path: Path) -> None:
    parent, child = _run_supervisor(tmp_path)

    parent.send_signal(signal.SIGKILL)
    parent.communicate(timeout=20)

    child.wait(20)  # raises psutil.TimeoutExpired if the child outlived its supervisor
    assert not child.is_running()


def test_a_stop_that_comes_while_the_child_is_being_started_still_reaches_it() -> None:
    # The stop lands before Popen returns (a `docker stop` right at start): the supervisor has
    # no child to forward it to yet, and must pass it on once the child exists.
    script = (
        "import os, signal, subprocess, sys\n"
        "from worker.supervise import supervise\n"
        "real = subprocess.Popen\n"
        "def popen(*args, **kwargs):\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    return real(*args, **kwargs)\n"
        "subprocess.Popen = popen\n"
        "code = supervise([sys.executable, '-c', 'import time; time.sleep(60)'], pause_s=0)\n"
        "print(code, flush=True)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], cwd=Path(__file__).parents[2], stdout=subprocess.PIPE
    )
    try:
        out, _ = parent.communicate(timeout=30)
    finally:
        parent.kill()

    assert int(out) == -signal.SIGTERM

"""`up`, `demo`, `chaos` and `bench` fail with one line a person can act on, never a traceback."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from click.testing import CliRunner

import bench.chaos
import bench.run
from bench.chaos import ChaosAborted
from worker.cli import main
from worker.stack import StackError


def one_line_error(result: Any) -> str:
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ")
    assert result.output.count("\n") == 1, result.output
    assert "Traceback" not in result.output
    return str(result.output)


def test_up_on_a_port_in_use_names_the_port_and_the_option() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = CliRunner().invoke(main, ["up", "--api-port", str(port)])
    line = one_line_error(result)
    assert f"port {port} is in use" in line
    assert "--api-port" in line


def test_a_chaos_run_that_cannot_go_on_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    def stalled(*_: Any, **__: Any) -> None:
        raise ChaosAborted("stalled: 10 of 1000 orders accepted after 300 s; logs in /tmp/x")

    monkeypatch.setattr(bench.chaos, "run_chaos", stalled)
    line = one_line_error(CliRunner().invoke(main, ["chaos", "--orders", "10"]))
    assert "stalled: 10 of 1000" in line


def test_a_bench_whose_stack_does_not_start_says_which_process_and_where_its_log_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_: Any, **__: Any) -> None:
        raise StackError("api exited with 1: see /tmp/orderflow-x/api.log")

    monkeypatch.setattr(bench.run, "run_bench", broken)
    line = one_line_error(CliRunner().invoke(main, ["bench", "--quick"]))
    assert "api exited with 1: see /tmp/orderflow-x/api.log" in line

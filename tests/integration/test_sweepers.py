"""Two sweeper processes: killing one stops nothing (issue 9, item 13)."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from bench.demo import SCENARIOS, scenario_body
from tests.integration.conftest import fast_stack_config
from tests.integration.helpers import wait_terminal
from worker.stack import Stack

pytestmark = pytest.mark.integration


def test_orders_that_need_timers_complete_after_one_of_two_sweepers_is_killed(
    tmp_path: Path,
) -> None:
    polled = next(s for s in SCENARIOS if s.name == "webhook missing")  # found by polling only
    with Stack(fast_stack_config(sweepers=2), tmp_path) as stack:
        # Given two sweepers, one of them killed as a crashed machine would be
        assert stack.sweeper_names == ["sweeper-1", "sweeper-2"]
        stack.kill("sweeper-1")
        headers = {"Authorization": "Bearer integration-token"}
        with httpx.Client(base_url=stack.api_url, headers=headers, timeout=10.0) as api:
            # When orders arrive whose every step after the submit is driven by a timer
            refs = [f"sweep-{uuid.uuid4().hex[:10]}" for _ in range(3)]
            for ref in refs:
                body = scenario_body(polled, reference=ref, ttl_ms=3_000)
                assert api.post("/orders", json=body).status_code == 202

            # Then each completes: the surviving sweeper sent every timer
            views = [wait_terminal(api, polled.location, ref, timeout=60) for ref in refs]
        assert [v["status"] for v in views] == ["completed"] * len(refs)
        assert "sweeper-2" in stack.processes
        assert stack.processes["sweeper-2"].poll() is None
        log = (stack.workdir / "sweeper-2.log").read_text(errors="replace")
        assert "sweeper.started" in log
        assert "Traceback" not in log

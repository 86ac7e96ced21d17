"""`orderflow bench --quick`: every phase runs and every figure is reported (not a timed test)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.cli import bench
from bench.run import ROWS, TARGETS

pytestmark = pytest.mark.integration


def test_quick_bench_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench-results"
    result = CliRunner().invoke(
        bench, ["--quick", "--pos-delay", "0.3", "--out", str(out)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output

    report = json.loads((out / "bench.json").read_text())
    figures = report["figures"]
    for name, label in ROWS:
        assert figures.get(name) is not None, f"{name} missing from bench.json"
        assert label in result.output, f"{label!r} missing from the table"
    for name in TARGETS:
        assert report["targets"][name]["met"] in (True, False)
    assert figures["orderflow_orders_per_s"] > 0
    assert figures["naive_orders_per_s"] > 0
    assert figures["noop_tasks_per_s"] > 0
    assert figures["worker_slots_held"] == 0
    assert report["orderflow"]["saturated"]["statuses"] == {
        "completed": report["orderflow"]["saturated"]["orders_submitted"]
    }
    png = out / "bench.png"
    assert png.exists()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

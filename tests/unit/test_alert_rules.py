"""The shipped Prometheus alerting rules load and fire when, and only when, they should."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("promtool missing: .ci/run installs Debian's prometheus package")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    return found


def test_the_alerting_rules_are_valid() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", "alerts.yml"],
        cwd=RULES,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_fires_on_its_series_and_stays_quiet_otherwise() -> None:
    result = subprocess.run(
        [promtool(), "test", "rules", "alerts_test.yml"],
        cwd=RULES,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_unit_test() -> None:
    rules = (RULES / "alerts.yml").read_text()
    tests = (RULES / "alerts_test.yml").read_text()
    alerts = [line.split(":", 1)[1].strip() for line in rules.splitlines() if "- alert:" in line]
    assert alerts
    untested = [name for name in alerts if f"alertname: {name}" not in tests]
    assert untested == []

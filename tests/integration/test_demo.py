"""`orderflow demo`: hermetic on its own stack, two businesses side by side there, honest on
someone else's (one business, as configured), one line when it fails."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from bench.demo import OFFLINE_LOCATION, SCENARIOS
from bench.demo_businesses import RESTAURANTS
from tests.integration.conftest import FAST_ENV, fast_stack_config
from worker.cli import main
from worker.stack import Stack, free_port

pytestmark = pytest.mark.integration

TOKEN = FAST_ENV["ORDERFLOW_API_TOKEN"]


@pytest.fixture(scope="module")
def plain_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack like `orderflow up`'s: its sandbox has no location offline."""
    config = fast_stack_config(sandbox_args=[])
    with Stack(config, tmp_path_factory.mktemp("plain")) as stack:
        yield stack


def rows(output: str) -> dict[str, str]:
    """scenario -> the rest of its line in the demo's table."""
    table = {}
    for line in output.splitlines():
        name, _, rest = line.partition("  ")
        if rest.strip():
            table[name.strip()] = rest
    return table


def cells(output: str, first: str) -> list[list[str]]:
    """The lines of the output starting with `first`, split into cells (two spaces or more
    between cells)."""
    return [
        re.split(r"\s{2,}", line.strip()) for line in output.splitlines() if line.startswith(first)
    ]


@pytest.mark.timeout(300)
def test_the_demo_runs_two_businesses_side_by_side_on_their_own_tokens_ignoring_a_dot_env(
    tmp_path: Path,
) -> None:
    # Given a deployment's .env in the directory the demo is run from, with a producer token
    project = tmp_path / "project"
    project.mkdir()
    (project / ".env").write_text("ORDERFLOW_API_TOKEN=x\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERFLOW_")}
    # When `orderflow demo` starts its own stack from there
    result = subprocess.run(
        [sys.executable, "-m", "worker.cli", "demo"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    # Then its private stack never read the .env (no 401), and every scenario ended as expected
    out = result.stdout
    assert result.returncode == 0, out + result.stderr[-3000:]
    assert "unexpected" not in out
    assert "Traceback" not in result.stderr
    # And each business logged in through its own code, and has the webhook registered
    for r in RESTAURANTS:
        locations = f"{r.location}, {r.offline_location}"
        assert f"logged in business {r.id} ({r.name}): locations {locations}" in out
    assert "webhook created for business 101, created for business 202" in out
    # And both businesses ran every scenario once, each ending as expected
    for r in RESTAURANTS:
        assert len(cells(out, r.name)) == len(SCENARIOS), out
        ended = {row[1]: row[2:4] for row in cells(out, r.name)}
        assert ended == {s.name: [s.expected, s.expected] for s in SCENARIOS}, out
    # And per business: every order as expected, three payments applied once, many calls,
    # none on the other business's tokens, and a token pair issued to it (its login's)
    for r in RESTAURANTS:
        [account] = cells(out, f"{r.id} {r.name}")
        assert account[1:5] == ["7 of 7", "4", "1", "2"], out
        payments, amount, twice, calls, wrong, pairs = account[5:]
        assert (payments, amount, twice, wrong) == ("3", "3.05", "0", "0"), out
        assert int(calls) >= 7
        assert int(pairs) >= 1
    # And no token reached the output (payment references are lowercase hex)
    long_words = re.findall(r"[A-Za-z0-9_-]{24,}", out)
    assert [w for w in long_words if not re.fullmatch(r"-+|(pay-)?[0-9a-f]+", w)] == [], out


def test_the_offline_scenario_marks_its_location_offline_through_the_sandbox_given(
    plain_stack: Stack,
) -> None:
    # When the demo runs against a stack it did not start, told which sandbox that stack uses
    args = ["demo", "--api-url", plain_stack.api_url, "--token", TOKEN]
    result = CliRunner().invoke(main, [*args, "--sandbox-url", plain_stack.sandbox_url])
    # Then the offline location failed as it should, and the sandbox has it online again
    assert result.exit_code == 0, result.output
    assert "unexpected" not in result.output
    assert rows(result.output)["offline location"].split()[:2] == ["failed", "failed"]
    sandbox = httpx.get(f"{plain_stack.sandbox_url}/_sandbox/config").json()
    assert sandbox["offline_locations"] == []


def test_a_location_that_was_offline_before_the_demo_stays_offline_after_it(
    plain_stack: Stack,
) -> None:
    admin = f"{plain_stack.sandbox_url}/_sandbox"
    httpx.post(f"{admin}/locations/{OFFLINE_LOCATION}/offline").raise_for_status()
    try:
        args = ["demo", "--api-url", plain_stack.api_url, "--token", TOKEN]
        result = CliRunner().invoke(main, [*args, "--sandbox-url", plain_stack.sandbox_url])
        assert result.exit_code == 0, result.output
        assert httpx.get(f"{admin}/config").json()["offline_locations"] == [OFFLINE_LOCATION]
    finally:
        httpx.post(f"{admin}/locations/{OFFLINE_LOCATION}/online").raise_for_status()


def test_without_the_sandbox_the_offline_scenario_is_skipped_and_says_how_to_run_it(
    plain_stack: Stack,
) -> None:
    args = ["demo", "--api-url", plain_stack.api_url, "--token", TOKEN]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    offline = rows(result.output)["offline location"]
    assert offline.split()[:2] == ["failed", "skipped"]
    assert "--sandbox-url" in offline
    assert "unexpected" not in result.output


def test_a_demo_the_api_refuses_says_why_in_one_line(plain_stack: Stack) -> None:
    # Given a token-protected API and no token
    result = CliRunner().invoke(main, ["demo", "--api-url", plain_stack.api_url])
    # Then one line says what to do, no traceback
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert "answered 401" in result.output
    assert "ORDERFLOW_API_TOKEN" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_demo_against_nothing_says_so_in_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(main, ["demo", "--api-url", url, "--token", TOKEN])
    assert result.exit_code == 1
    assert result.output.startswith("Error: the API at ")
    assert "cannot connect" in result.output
    assert result.output.count("\n") == 1

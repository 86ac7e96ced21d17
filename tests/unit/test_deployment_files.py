"""The Dockerfile and docker-compose.yml cannot drift from the code without Docker noticing
it: every command compose runs exists, the image carries every package production runs, and
the base images stay the public ones unless overridden. (The real run: scripts/compose-check.)"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from worker.cli import main

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
ORDERFLOW_COMMANDS = {
    name: service["command"]
    for name, service in COMPOSE["services"].items()
    if service.get("command", [""])[0] == "orderflow"
}


@pytest.mark.parametrize("service", sorted(ORDERFLOW_COMMANDS))
def test_every_orderflow_command_compose_runs_exists(service: str) -> None:
    argv = ORDERFLOW_COMMANDS[service][1:]
    subcommand = [a for a in argv if not a.startswith("-")][:2]
    result = CliRunner().invoke(main, [*subcommand, "--help"])
    assert result.exit_code == 0, f"{service}: `orderflow {' '.join(argv)}`: {result.output}"
    assert "not installed" not in result.output


def test_compose_runs_two_workers_two_sweepers_and_every_part_of_the_deployment() -> None:
    services = COMPOSE["services"]
    assert {"redis", "api", "worker", "sweeper", "flower", "sandbox", "webhook-register"} <= set(
        services
    )
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["sweeper"]["deploy"]["replicas"] == 2
    assert ORDERFLOW_COMMANDS["sweeper"] == ["orderflow", "sweeper"]
    assert "--appendonly" in services["redis"]["command"]
    assert all("healthcheck" in s for n, s in services.items() if n != "webhook-register")


def test_the_image_carries_every_package_production_runs() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    copied = set(re.findall(r"^COPY (\w+) \./\1$", DOCKERFILE, flags=re.MULTILINE))
    # bench/ (and tests/) stay out of the production image; the CLI says so if asked for them.
    assert copied == packages - {"bench"}


def test_base_images_are_the_public_ones_unless_overridden() -> None:
    assert "ARG PYTHON_IMAGE=python:3.11-slim\nFROM ${PYTHON_IMAGE}" in DOCKERFILE
    assert COMPOSE["services"]["redis"]["image"] == "${REDIS_IMAGE:-redis:7-alpine}"
    build = COMPOSE["services"]["api"]["build"]
    assert build["args"]["PYTHON_IMAGE"] == "${PYTHON_IMAGE:-python:3.11-slim}"

"""The layout shows the architecture: one-way dependencies, small modules, a lean image."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["config", "worker", "tasks", "sandbox", "bench"]
MAX_LINES = 400


def tracked_python_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [ROOT / name for name in listed if (ROOT / name).exists()]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_of_a_package_imports_in_a_fresh_interpreter(package: str) -> None:
    # Given a fresh interpreter (no module of ours imported yet), when each module of the
    # package is imported, then none fails: no cycle, no import that only works by accident.
    script = (
        "import importlib, pkgutil, sys\n"
        f"pkg = importlib.import_module({package!r})\n"
        "for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "    if not info.name.endswith('__main__'):\n"
        "        importlib.import_module(info.name)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_the_import_contracts_hold() -> None:
    lint_imports = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    result = subprocess.run(
        [lint_imports, "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


def test_no_module_is_over_400_lines() -> None:
    too_long = {
        str(path.relative_to(ROOT)): n
        for path in tracked_python_files()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert too_long == {}


def test_the_production_image_carries_the_product_and_the_stand_in_but_not_the_bench() -> None:
    copied = set(re.findall(r"^COPY (\w+) ", (ROOT / "Dockerfile").read_text(), re.MULTILINE))
    assert {"worker", "tasks", "config", "sandbox"} <= copied
    assert not copied & {"bench", "tests"}


def test_the_production_package_never_names_the_bench_or_the_old_paths() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in tracked_python_files()
        if re.search(r"worker\.(sandbox|bench)\b", path.read_text())
    ]
    assert offenders == []

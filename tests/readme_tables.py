"""Reading README's tables, for the tests that hold README to the code."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
ELLIPSIS = "…"


# --- reading README's tables ------------------------------------------------------------------


def _cells(line: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


def table(*header: str) -> list[list[str]]:
    """The rows of the README table whose header row is exactly `header`."""
    lines = README.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|") and tuple(_cells(line)) == header:
            rows = []
            for row in lines[i + 2 :]:
                if not row.startswith("|"):
                    break
                rows.append(_cells(row))
            return rows
    raise AssertionError(f"README has no table with the header {' | '.join(header)}")


def ticked(cell: str) -> list[str]:
    """The `code` spans of a cell, with markdown's escaped pipes unescaped."""
    return [s.replace("\\|", "|") for s in re.findall(r"`([^`]*)`", cell)]


# --- settings ---------------------------------------------------------------------------------

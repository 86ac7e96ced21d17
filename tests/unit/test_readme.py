"""README cannot drift: its settings, commands and failure-reasons tables, and the order view it
describes, are checked against the code (the settings model, the click CLI, the reasons the
lifecycle can write, `order_view`). A failure lists exactly what to add, fix or remove."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

import click
import pytest
from pydantic import SecretStr

from config.settings import Settings
from tests.readme_reasons import (
    documented_reasons,
    documents,
    k_series_reasons,
    matches,
    reasons_in_code,
)
from tests.readme_tables import ELLIPSIS, README, table, ticked

DERIVED = object()  # "= ORDERFLOW_REDIS_URL", "{base}/oauth/token": computed from another setting


def documented_settings() -> dict[str, Any]:
    """Environment variable -> the default README gives (None for "none", DERIVED, or text)."""
    documented: dict[str, Any] = {}
    for row in table("variable", "default", "meaning"):
        names = re.findall(r"`(ORDERFLOW_[A-Z0-9_]+)`", row[0])
        cell = row[1].strip()
        values: list[Any]
        if cell == "none":
            values = [None] * len(names)
        elif cell.startswith("="):
            values = [DERIVED] * len(names)
        else:
            given = ticked(cell)
            if len(given) == 1:
                given *= len(names)
            assert len(given) == len(names), f"README row {row[0]}: one default per variable"
            values = [DERIVED if "{" in v else v for v in given]
        documented.update(zip(names, values, strict=True))
    return documented


def env_name(field: str) -> str:
    return f"{Settings.model_config.get('env_prefix', '')}{field}".upper()


def same_default(readme: Any, real: Any) -> bool:
    if readme is DERIVED:
        return real is None  # computed when unset: the field's own default is None
    if real is None or isinstance(real, SecretStr):
        return readme is None
    if readme is None:
        return False
    if isinstance(real, bool):
        return readme == str(real).lower()
    if isinstance(real, Enum):
        return readme == str(real.value)
    if isinstance(real, int | float):
        try:
            return Decimal(readme) == Decimal(str(real))
        except InvalidOperation:
            return False
    return bool(readme == str(real))


def test_every_setting_is_in_readmes_table_with_its_real_default() -> None:
    documented = documented_settings()
    fields = {env_name(name): field for name, field in Settings.model_fields.items()}
    missing = sorted(set(fields) - set(documented))
    stale = sorted(set(documented) - set(fields))
    wrong = sorted(
        f"{name}: README says {documented[name]!r}, the default is "
        f"{field.get_default(call_default_factory=True)!r}"
        for name, field in fields.items()
        if name in documented
        and not same_default(documented[name], field.get_default(call_default_factory=True))
    )
    assert (missing, stale, wrong) == ([], [], []), (
        f"README 'Configuration' table: add {missing}; remove {stale}; fix defaults {wrong}"
    )


# --- commands ---------------------------------------------------------------------------------


def command_paths(segment: str) -> list[str]:
    """The commands a `code` span names: `orderflow webhook register | show | delete` names
    three; the words before the first option, placeholder or bracket are the command."""
    tokens = segment.replace("|", " | ").split()
    if not tokens or tokens[0] != "orderflow":
        return []
    path: list[str] = []
    paths: list[str] = []
    alternative = False
    for token in tokens[1:]:
        if token == "|":
            alternative = True
            continue
        if not re.fullmatch(r"[a-z][a-z-]*", token):
            break
        if alternative and path:
            paths.append(" ".join(path))
            path = [*path[:-1], token]
        else:
            path.append(token)
        alternative = False
    return [*paths, " ".join(path)] if path else []


def documented_commands() -> dict[str, str]:
    """Command path (without `orderflow`) -> the text of every row that names it."""
    rows: dict[str, str] = {}
    for row in table("command", "what it does"):
        for segment in ticked(row[0]):
            for path in command_paths(segment):
                rows[path] = rows.get(path, "") + " " + " ".join(row)
    return rows


def option_names(command: click.Command) -> set[str]:
    names = {
        name
        for param in command.params
        if isinstance(param, click.Option) and not param.hidden
        for name in (*param.opts, *param.secondary_opts)
        if name.startswith("--") and name != "--help"
    }
    if command.name == "sandbox":
        # Its own parser's hand-written options; the SandboxConfig knobs it generates are
        # listed, with their defaults, by `orderflow sandbox --help` (README says so).
        from sandbox.config import SandboxConfig
        from sandbox.server import build_parser

        names |= {
            flag
            for action in build_parser()._actions
            if action.dest not in SandboxConfig.model_fields and action.dest != "help"
            for flag in action.option_strings
            if flag.startswith("--")
        }
    return names


def cli_commands() -> Iterator[tuple[str, click.Command]]:
    """Every command and subcommand of `orderflow`, the lazily loaded ones included."""
    from worker.cli import main

    def walk(
        group: click.Group, prefix: str, parent: click.Context | None
    ) -> Iterator[tuple[str, click.Command]]:
        ctx = click.Context(
            group, info_name=prefix.rsplit(" ", 1)[-1] or "orderflow", parent=parent
        )
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            path = f"{prefix} {name}".strip()
            if isinstance(command, click.Group):
                if option_names(command) or command.invoke_without_command:
                    yield path, command
                yield from walk(command, path, ctx)
            else:
                yield path, command

    yield from walk(main, "", None)


def test_every_command_and_option_is_in_readmes_commands_table() -> None:
    documented = documented_commands()
    commands = dict(cli_commands())
    missing = sorted(f"orderflow {path}" for path in commands if path not in documented)
    options = sorted(
        f"orderflow {path} {option}"
        for path, command in commands.items()
        if path in documented
        for option in option_names(command)
        if not re.search(rf"{re.escape(option)}(?![\w-])", documented[path])
    )
    stale = sorted(
        f"orderflow {path}" for path in documented if path not in commands and " " not in path
    )
    assert (missing, options, stale) == ([], [], []), (
        f"README 'Commands' table: add the commands {missing}; add the options {options}; "
        f"remove {stale}"
    )


def test_the_commands_table_reader_understands_readmes_spellings() -> None:
    assert command_paths("orderflow webhook register | show | delete") == [
        "webhook register",
        "webhook show",
        "webhook delete",
    ]
    assert command_paths("orderflow auth login [--listen|--paste] [--code C]") == ["auth login"]
    assert command_paths("orderflow events redeliver ID|--all") == ["events redeliver"]
    assert command_paths("orderflow status BL REF") == ["status"]
    assert command_paths("celery -A worker flower") == []


# --- failure reasons ----------------------------------------------------------------------------


def test_every_failure_reason_the_code_can_write_is_in_readmes_table() -> None:
    documented = documented_reasons()
    code = reasons_in_code()
    assert len(code) >= 10, f"the source scan found too few reasons to be right: {sorted(code)}"
    missing = sorted(c for c in code if not any(documents(r, c) for r in documented))
    assert missing == [], f"README failure-reasons table: add {missing}"


def test_every_failure_reason_in_readmes_table_is_one_the_code_or_k_series_can_give() -> None:
    code = reasons_in_code()
    k_series = k_series_reasons()

    def known(readme: str) -> bool:
        return any(documents(readme, c) for c in code) or any(
            documents(readme, text) for text in k_series
        )

    stale = sorted(r for r in documented_reasons() if not known(r))
    assert stale == [], f"README failure-reasons table: no code gives {stale}"


def test_the_reason_scan_finds_reasons_however_they_are_written() -> None:
    code = reasons_in_code()
    assert "not on the POS before its delivery deadline" in code  # a literal
    assert f"remainder {ELLIPSIS} exceeds the allowed {ELLIPSIS}" in code  # an f-string
    assert "cancelled on the POS" in code  # through off_pos(...) and OFF_POS_NEWS
    assert "FAILURE without a reason" in code  # the fallback of `event.reason or ...`
    assert matches(
        f"remainder {ELLIPSIS} exceeds the allowed {ELLIPSIS}", "remainder X exceeds the allowed Y"
    )
    assert not matches("not sent: location rate-limited", "not sent: location not ready")


# --- the order view ------------------------------------------------------------------------------


def test_readme_names_every_field_of_the_order_view() -> None:
    from datetime import UTC, datetime

    from tests.builders import new_order
    from worker.order import Payment
    from worker.web.views import order_view

    now = datetime(2026, 1, 1, tzinfo=UTC)
    payment = Payment(
        reference="pay-1", amount=Decimal("1"), attempt=1, created_at=now, deadline=now
    )
    view = order_view(new_order().model_copy(update={"payments": (payment,)}))
    paragraph = next(
        p for p in README.split("\n\n") if p.startswith("`GET /orders/{businessLocationId}")
    )
    words = set(re.findall(r"[A-Za-z]+", paragraph))
    missing = sorted(k for k in view if k not in words)
    missing += sorted(f"payments.{k}" for k in view["payments"][0] if k not in words)
    missing += sorted(f"history.{k}" for k in view["history"][0] if k not in words)
    assert missing == [], f"README 'GET /orders/...' paragraph: name {missing}"


if __name__ == "__main__":  # pragma: no cover - a quick look at what the scan finds
    for reason in sorted(reasons_in_code()):
        print(reason)
    pytest.main([__file__])

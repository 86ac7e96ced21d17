"""README cannot drift: its settings, commands and failure-reasons tables, and the order view it
describes, are checked against the code (the settings model, the click CLI, the reasons the
lifecycle can write, `order_view`). A failure lists exactly what to add, fix or remove."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from enum import Enum
from pathlib import Path
from typing import Any

import click
import pytest
from pydantic import SecretStr

from config.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
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

SCANNED = ("worker",)  # every module that can write an order's failure_reason


def _pattern(node: ast.expr | None, strings: dict[str, list[str]]) -> list[str]:
    """The texts an expression can produce, "…" standing for what is only known at run time."""
    if node is None:
        return [ELLIPSIS]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        text = "".join(
            part.value if isinstance(part, ast.Constant) else ELLIPSIS for part in node.values
        )
        return [text]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return [a + b for a in _pattern(node.left, strings) for b in _pattern(node.right, strings)]
    if isinstance(node, ast.IfExp):
        return _pattern(node.body, strings) + _pattern(node.orelse, strings)
    if isinstance(node, ast.BoolOp):  # `event.reason or "FAILURE without a reason"`
        return [p for value in node.values for p in _pattern(value, strings)]
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        return strings.get(node.value.id, [ELLIPSIS])  # OFF_POS_NEWS["CANCELLED"]
    if isinstance(node, ast.Name) and node.id in strings:
        return strings[node.id]
    return [ELLIPSIS]


def _module_strings(tree: ast.Module) -> dict[str, list[str]]:
    """Module-level names bound to strings or dicts of strings (e.g. OFF_POS_NEWS)."""
    found: dict[str, list[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                value = node.value
                if isinstance(value, ast.Dict):
                    found[target.id] = [p for v in value.values for p in _pattern(v, {})]
                elif isinstance(value, ast.Constant) and isinstance(value.value, str):
                    found[target.id] = [value.value]
    return found


def _local_strings(function: ast.FunctionDef, module: dict[str, list[str]]) -> dict[str, list[str]]:
    """Every text each local name is given in the function (`x = ...`, `x += ...`)."""
    found: dict[str, list[str]] = {}
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                scope = {**module, **found}
                found.setdefault(target.id, []).extend(_pattern(node.value, scope))
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            name = node.target.id
            suffixes = _pattern(node.value, {**module, **found})
            found[name] = found.get(name, []) + [
                p + s for p in found.get(name, []) for s in suffixes
            ]
    return found


def reasons_in_code() -> set[str]:
    """Every failure_reason the code can write, as text with "…" for the run-time parts.

    Found by reading the source: `failure_reason=<expr>` keywords (a local name resolved to
    what the function assigns it); when the expression is a parameter of the function, the
    arguments every caller passes for it (`off_pos(..., "cancelled on the POS")`).
    """
    functions: dict[str, tuple[ast.FunctionDef, dict[str, list[str]]]] = {}
    trees = []
    for package in SCANNED:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text())
            module = _module_strings(tree)
            trees.append((tree, module))
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef):
                    functions[node.name] = (node, module)
    reasons: set[str] = set()
    via_parameter: list[tuple[str, int, str]] = []  # (function, position, parameter name)
    for name, (function, module) in functions.items():
        local = _local_strings(function, module)
        parameters = [a.arg for a in function.args.args]
        for node in ast.walk(function):
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                if keyword.arg != "failure_reason":
                    continue
                value = keyword.value
                if isinstance(value, ast.Name) and value.id in parameters and value.id not in local:
                    via_parameter.append((name, parameters.index(value.id), value.id))
                elif not (isinstance(value, ast.Constant) and value.value is None):
                    reasons.update(_pattern(value, {**module, **local}))
    for tree, module in trees:
        for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
            local = _local_strings(function, module)
            for node in ast.walk(function):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                    continue
                for callee, position, parameter in via_parameter:
                    if node.func.id != callee:
                        continue
                    given = [k.value for k in node.keywords if k.arg == parameter]
                    if len(node.args) > position:
                        given.append(node.args[position])
                    for value in given:
                        reasons.update(_pattern(value, {**module, **local}))
    return {r for r in reasons if r.replace(ELLIPSIS, "").strip()}  # K-Series' own text: "…"


def matches(code: str, readme: str) -> bool:
    """A README reason stands for a code reason: literal parts equal, run-time parts free
    (README writes them "…" or as a placeholder such as X, Y or field: message)."""
    parts = [re.escape(p) for p in code.split(ELLIPSIS)]
    return re.fullmatch(".+".join(parts), readme, flags=re.DOTALL) is not None


def readme_pattern(readme: str) -> str:
    """A README reason as a regex: "…", a lone capital (X, Y) and `field: message` are free."""
    parts = re.split(rf"{ELLIPSIS}|\b[A-Z]\b|field: message", readme)
    return ".+".join(re.escape(p) for p in parts)


def documents(readme: str, code: str) -> bool:
    """README's reason covers the code's: either one's free parts may stand for the other's."""
    if matches(code, readme):
        return True
    return re.fullmatch(readme_pattern(readme), code, flags=re.DOTALL) is not None


def documented_reasons() -> list[str]:
    """The reasons in the table's first column (a status noted beside them is not one)."""
    from worker.order import Status

    statuses = {str(s) for s in Status}
    rows = table("failure reason", "meaning", "what to do")
    return [r for row in rows for r in ticked(row[0]) if r not in statuses]


# K-Series' own FAILURE reasons that its documentation names (kseries-api.md) and the sandbox
# does not produce; the ones it produces are read from sandbox/ below.
K_SERIES_DOCUMENTED = (
    "No devices available to handle the task, the task has been rejected.",
    "The specified business location doesn't accept online orders at the moment.",
)


def k_series_reasons() -> list[str]:
    """K-Series' own texts: documented, or sent by its stand-in (sandbox/)."""
    texts = list(K_SERIES_DOCUMENTED)
    for path in sorted((ROOT / "sandbox").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant | ast.JoinedStr):
                texts.extend(_pattern(node, {}))
    return [t for t in texts if len(t.replace(ELLIPSIS, "").strip()) >= 8]


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

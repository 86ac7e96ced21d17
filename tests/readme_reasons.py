"""The failure reasons the code can write (found by scanning worker/ with ast) and the ones
README's failure-reasons table documents."""

from __future__ import annotations

import ast
import re

from tests.readme_tables import ELLIPSIS, ROOT, table, ticked

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

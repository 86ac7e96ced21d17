"""Every notification example K-Series publishes (the order-and-pay OpenAPI's `webhooks`).

Read from the shared OpenAPI files when they are beside the repository (`../shared`, or
`/work/shared`), and from the copy in `tests/fixtures/` always, so CI without them still runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "kseries_notification_examples.json"
OPENAPI_DIRS = [ROOT.parent / "shared" / "kseries-openapi", Path("/work/shared/kseries-openapi")]

__all__ = ["FIXTURE", "fixture_examples", "openapi_examples", "published_examples"]


def openapi_examples(directory: Path) -> dict[str, dict[str, Any]]:
    """`{webhook}/{example}` -> body, for every webhook example of every OpenAPI file there."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.yml")):
        spec = yaml.safe_load(path.read_text())
        for webhook, item in (spec.get("webhooks") or {}).items():
            for operation in item.values():
                content = operation.get("requestBody", {}).get("content", {})
                for media in content.values():
                    for name, example in (media.get("examples") or {}).items():
                        # YAML reads unquoted timestamps as datetimes; JSON carries strings
                        found[f"{webhook}/{name}"] = json.loads(
                            json.dumps(example["value"], default=_iso)
                        )
    return found


def _iso(value: Any) -> str:
    text = value.isoformat(timespec="milliseconds")
    return text.replace("+00:00", "+0000")


def fixture_examples() -> dict[str, dict[str, Any]]:
    examples: dict[str, dict[str, Any]] = json.loads(FIXTURE.read_text())
    return examples


def published_examples() -> dict[str, dict[str, Any]]:
    """The shared OpenAPI's examples when it is here, the fixture copies in any case."""
    examples = {f"fixture:{name}": body for name, body in fixture_examples().items()}
    for directory in OPENAPI_DIRS:
        if directory.is_dir():
            found = openapi_examples(directory)
            examples |= {f"openapi:{name}": body for name, body in found.items()}
            break
    return examples


if __name__ == "__main__":  # refresh the fixture: python -m tests.kseries_examples
    source = next(d for d in OPENAPI_DIRS if d.is_dir())
    FIXTURE.write_text(json.dumps(openapi_examples(source), indent=2, sort_keys=True) + "\n")

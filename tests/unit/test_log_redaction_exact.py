"""`config.logging.redact`, exactly: which values become `[redacted]` (sensitive keys in any case,
at any depth, in dicts, lists and tuples) and that everything else reaches the line unchanged."""

from __future__ import annotations

from typing import Any

from config.logging import REDACTED, redact


def test_sensitive_top_level_values_are_redacted_whatever_the_keys_case_and_the_rest_is_kept() -> (
    None
):
    line: dict[str, Any] = {
        "event": "order.received",
        "Token": "eyJ-access",
        "EMAIL": "jane@example.com",
        "reference": "shop-1",
        "attempt": 2,
    }
    assert redact(None, "info", line) == {
        "event": "order.received",
        "Token": REDACTED,
        "EMAIL": REDACTED,
        "reference": "shop-1",
        "attempt": 2,
    }


def test_sensitive_values_are_redacted_at_any_depth_in_dicts_lists_and_tuples() -> None:
    line: dict[str, Any] = {
        "event": "kseries.request",
        "body": {
            "customerInfo": {"firstName": "Jane"},
            "Grant": {"Refresh_Token": "rt-refresh", "scope": "orders"},
            "items": [{"sku": "B", "Notes": "ring twice"}, ("kept", {"zip": "94107"})],
            7: "an int key",
            "total": "12.50",
        },
        "tags": ("a", "b"),
    }
    assert redact(None, "info", line) == {
        "event": "kseries.request",
        "body": {
            "customerInfo": REDACTED,
            "Grant": {"Refresh_Token": REDACTED, "scope": "orders"},
            "items": [{"sku": "B", "Notes": REDACTED}, ["kept", {"zip": REDACTED}]],
            7: "an int key",
            "total": "12.50",
        },
        "tags": ["a", "b"],
    }


def test_a_line_without_anything_sensitive_passes_unchanged() -> None:
    line: dict[str, Any] = {"event": "order.transition", "to_status": "completed", "n": None}
    assert redact(None, "info", dict(line)) == line

"""After the stack ran every scenario: no process crashed a task, no log line leaks data.

Named to run last in the session, when the stack's logs hold a full run.
"""

from __future__ import annotations

import pytest

from worker.stack import Stack

pytestmark = pytest.mark.integration

# What the demo and test orders carry as customer data, and the stack's secrets.
PERSONAL = ("jane@example.com", "Jane", "Doe", "+14155552671", "Main Street")


def logs(stack: Stack) -> dict[str, str]:
    return {p.name: p.read_text(errors="replace") for p in stack.workdir.glob("*.log")}


def test_no_task_raised_an_unhandled_exception(stack: Stack) -> None:
    text = logs(stack)
    assert "order.transition" in text["worker.log"], "the worker's structured log was not captured"
    for name in ("worker.log", "api.log", "beat.log"):
        assert "Traceback" not in text.get(name, ""), f"{name} has a traceback"


def test_no_log_line_carries_personal_data_or_secrets(stack: Stack) -> None:
    secrets = (stack.webhook_password, "integration-token", "sandbox-token")
    for name, text in logs(stack).items():
        if name in ("sandbox.log", "redis.log"):
            continue  # the stand-in for K-Series is not ours
        for needle in (*PERSONAL, *secrets):
            assert needle not in text, f"{needle!r} in {name}"

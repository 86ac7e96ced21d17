"""The stack's logs, after a workload of its own: no task crashed, no line leaks data or secrets.

Self-contained: it submits orders carrying every kind of customer data itself and waits until
the worker has logged their outcome, so it holds whichever tests ran before it, if any.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from bench.demo import SCENARIOS, scenario_body
from tests.integration.helpers import TERMINAL, wait_terminal
from worker.stack import Stack

pytestmark = pytest.mark.integration

# What these orders carry as customer data; the stack's secrets are added below.
CUSTOMER = {
    "firstName": "Jane",
    "lastName": "Doe",
    "email": "jane@example.com",
    "contactNumberAsE164": "+14155552671",
    "notes": "ring twice",
}
ADDRESS = {"addressLine1": "12 Main Street", "zip": "94107", "city": "Springfield"}
PERSONAL = ("Jane", "Doe", "jane@example.com", "+14155552671", "ring twice", "Main Street")


def logs(stack: Stack) -> dict[str, str]:
    return {p.name: p.read_text(errors="replace") for p in stack.workdir.glob("*.log")}


def with_customer(body: dict[str, Any]) -> dict[str, Any]:
    body["order"]["customerInfo"] = dict(CUSTOMER)
    if body["type"] == "toGo":
        body["order"]["deliveryAddress"] = dict(ADDRESS)
    return body


def wait_logged(stack: Stack, references: list[str], timeout: float = 30.0) -> None:
    """Until a log names every order's final transition: the worker's, or the API's, which
    applies webhooks (the log is written after the record, so a terminal status over HTTP does
    not mean the line is there yet)."""
    deadline = time.monotonic() + timeout
    while True:
        ended = [
            line
            for name in ("worker.log", "api.log")
            for line in logs(stack).get(name, "").splitlines()
            if '"order.transition"' in line and any(f'"to_status": "{s}"' in line for s in TERMINAL)
        ]
        missing = [ref for ref in references if not any(f'"{ref}"' in line for line in ended)]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"neither worker.log nor api.log mentioned {missing}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def workload(stack: Stack, api: httpx.Client) -> list[str]:
    """Every demo scenario, each with full customer data; waited for to its end."""
    submitted = []
    for scenario in SCENARIOS:
        ref = f"logs-{uuid.uuid4().hex[:10]}"
        body = with_customer(scenario_body(scenario, reference=ref, ttl_ms=3_000))
        assert api.post("/orders", json=body).status_code == 202
        submitted.append((scenario.location, ref))
    for bl, ref in submitted:
        wait_terminal(api, bl, ref)
    references = [ref for _, ref in submitted]
    wait_logged(stack, references)
    return references


def test_no_task_raised_an_unhandled_exception(stack: Stack, workload: list[str]) -> None:
    text = logs(stack)
    assert "order.transition" in text["worker.log"], "the worker's structured log was not captured"
    for name in ("worker.log", "api.log", "beat.log"):
        assert "Traceback" not in text.get(name, ""), f"{name} has a traceback"


def test_no_log_line_carries_personal_data_or_secrets(stack: Stack, workload: list[str]) -> None:
    secrets = (stack.webhook_password, "integration-token", "sandbox-token")
    scanned = []
    for name, text in logs(stack).items():
        if name in ("sandbox.log", "redis.log"):
            continue  # the stand-in for K-Series is not ours
        scanned.append(name)
        for needle in (*PERSONAL, *secrets):
            assert needle not in text, f"{needle!r} in {name}"
    assert {"worker.log", "api.log"} <= set(scanned)

"""Commands and less common orders against the real stack: webhook registration, scheduled
orders, toGo validation, replay, readiness."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bench.demo import SCENARIOS, scenario_body
from tests.integration.helpers import wait_terminal
from worker.stack import Stack

pytestmark = pytest.mark.integration


def orderflow(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_webhook_register_is_idempotent_and_show_hides_the_password(stack: Stack) -> None:
    first = orderflow(stack, "webhook", "register")
    again = orderflow(stack, "webhook", "register")
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert again.stdout.startswith("updated")
    shown = orderflow(stack, "webhook", "show")
    registration = json.loads(shown.stdout)
    assert registration["provideAccount"] is True
    assert registration["withBasicAuth"] is True
    assert registration["url"].endswith("/webhooks/kseries")
    assert stack.webhook_password not in shown.stdout


def test_webhook_delete_then_register_again(stack: Stack) -> None:
    assert orderflow(stack, "webhook", "delete").stdout.strip() == "deleted"
    assert orderflow(stack, "webhook", "show").stdout.strip() == "not registered"
    assert orderflow(stack, "webhook", "register").stdout.startswith("created")


def test_a_scheduled_order_waits_for_its_time_without_a_worker_slot(api: httpx.Client) -> None:
    # Given an order scheduled four seconds ahead
    scenario = next(s for s in SCENARIOS if s.name == "remainder settled")
    ref = f"sched-{uuid.uuid4().hex[:8]}"
    at = datetime.now(UTC) + timedelta(seconds=4)
    body = scenario_body(scenario, reference=ref, ttl_ms=3_000)
    body["order"]["scheduledTimeForOrderAsIso8601"] = at.isoformat()
    # When it is submitted, it is accepted at once with a deadline counted from the schedule
    assert api.post("/orders", json=body).status_code == 202
    view = wait_terminal(api, scenario.location, ref, timeout=30)
    # Then it completes, and the POS took it only at its scheduled time
    assert view["status"] == "completed"
    assert datetime.fromisoformat(view["confirmDeadline"]) >= at + timedelta(seconds=3)
    confirmed = next(h for h in view["history"] if h["status"] == "confirmed")
    assert datetime.fromisoformat(confirmed["at"]) >= at


def test_a_to_go_order_with_a_too_long_collection_code_is_refused(api: httpx.Client) -> None:
    scenario = next(s for s in SCENARIOS if s.kind == "toGo")
    body = scenario_body(scenario)
    body["order"]["collectionCode"] = "123456789"
    response = api.post("/orders", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "order.collectionCode"


def test_an_operator_replays_a_failed_order_under_a_new_reference(
    stack: Stack, api: httpx.Client
) -> None:
    scenario = next(s for s in SCENARIOS if s.name == "unknown SKU")
    ref = f"replay-{uuid.uuid4().hex[:8]}"
    api.post("/orders", json=scenario_body(scenario, reference=ref, ttl_ms=3_000))
    assert wait_terminal(api, scenario.location, ref)["status"] == "failed"
    result = orderflow(stack, "replay", str(scenario.location), ref)
    assert result.returncode == 0, result.stderr
    replayed = wait_terminal(api, scenario.location, f"{ref}-r1")
    assert replayed["replayOf"] == f"{scenario.location}:{ref}"
    assert replayed["status"] == "failed"  # the SKU is still unknown: K-Series saw a new order
    original = api.get(f"/orders/{scenario.location}/{ref}").json()
    assert original["replayedAs"] == f"{scenario.location}:{ref}-r1"
    listed = orderflow(stack, "orders", "--status", "failed").stdout
    assert ref in listed


def test_the_api_refuses_to_serve_beyond_loopback_without_a_token(stack: Stack) -> None:
    env = {k: v for k, v in stack.env.items() if k != "ORDERFLOW_API_TOKEN"}
    result = subprocess.run(
        [sys.executable, "-m", "worker.cli", "api", "--host", "0.0.0.0", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "ORDERFLOW_API_TOKEN" in result.stderr


def test_a_python_producer_submits_exactly_as_the_http_api_does(
    stack: Stack, api: httpx.Client
) -> None:
    scenario = next(s for s in SCENARIOS if s.name == "remainder settled")
    ref = f"py-{uuid.uuid4().hex[:8]}"
    body = json.dumps(scenario_body(scenario, reference=ref, ttl_ms=3_000))
    script = (
        "import json, sys\n"
        "from config.logging import configure_logging\n"
        "from worker.producer import submit\n"
        "from worker.errors import InvalidSubmission\n"
        "configure_logging(json=True)  # a host app's logging: to stderr\n"
        "body = json.loads(sys.argv[1])\n"
        "print(submit(body).model_dump_json())\n"
        "print(submit(body).created)\n"
        "body['order']['items'][0]['sku'] = 'X' * 30\n"
        "try:\n"
        "    submit(body)\n"
        "except InvalidSubmission as exc:\n"
        "    print(exc.errors[0]['field'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, body],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    receipt, again, invalid = result.stdout.strip().splitlines()
    assert json.loads(receipt)["statusUrl"] == f"/orders/{scenario.location}/{ref}"
    assert again == "False"  # the same body again: nothing new
    assert invalid == "order.items.0.sku"
    assert wait_terminal(api, scenario.location, ref)["status"] == "completed"

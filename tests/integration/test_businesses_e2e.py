"""Two restaurant businesses in one deployment, end to end (issue 14, "Done when").

Real processes: redis-server, the sandbox enforcing auth with two businesses and access tokens
living three seconds, two Celery workers, a sweeper and the API. No token is configured: each
business logs in with `orderflow auth login --code` (a code the sandbox binds to it). Orders for
both run at once to completion; the sandbox's ledger shows no token used for another business's
location and no refresh token spent twice; an order for a location nobody covers gets 422.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from bench.demo import SCENARIOS, scenario_body
from tests.integration.conftest import fast_stack_config
from tests.integration.helpers import wait_terminal
from worker.kseries.logins import Logins
from worker.stack import Stack

pytestmark = pytest.mark.integration

TOKEN_TTL_S = 3
PIZZA, SUSHI = 101, 202
LOCATIONS = {PIZZA: (11, 12), SUSHI: (21, 22)}
NOBODY = 33  # no business owns it
ORDERS_PER_BUSINESS = 12
SUBMIT_OVER_S = 10.0


class LoginsOnlyStack(Stack):
    """A stack with no configured K-Series token: only `orderflow auth login` gives tokens, so
    the webhook is registered once businesses have logged in."""

    @property
    def env(self) -> dict[str, str]:
        env = super().env
        env.pop("ORDERFLOW_KSERIES_ACCESS_TOKEN", None)
        return env

    def register_webhook(self) -> None:
        """Nobody is logged in yet at start: the test registers after the logins."""


def orderflow(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_two_businesses_run_orders_at_once_each_call_on_its_own_tokens(tmp_path: Path) -> None:
    config = fast_stack_config(
        sandbox_args=[
            "--require-auth",
            "--token-ttl-s",
            str(TOKEN_TTL_S),
            "--business",
            f"{PIZZA}:Pizza One:{','.join(map(str, LOCATIONS[PIZZA]))}",
            "--business",
            f"{SUSHI}:Sushi Two:{','.join(map(str, LOCATIONS[SUSHI]))}",
        ],
        concurrency=4,
    )
    with LoginsOnlyStack(config, tmp_path) as stack:
        stack.start_worker("worker-2")
        sandbox = httpx.Client(base_url=stack.sandbox_url, timeout=10.0)
        api = httpx.Client(
            base_url=stack.api_url,
            headers={"Authorization": "Bearer integration-token"},
            timeout=10.0,
        )
        with sandbox, api:
            # Given nobody logged in: every order is refused, nothing stored
            assert _submit(api, LOCATIONS[PIZZA][0], "before-login").status_code == 422

            # When each business logs in with a code it approved
            logins = {}
            for business in (PIZZA, SUSHI):
                code = sandbox.post("/_sandbox/codes", params={"business_id": business}).json()
                logins[business] = orderflow(stack, "auth", "login", "--code", code["code"])
                assert logins[business].returncode == 0, logins[business].stderr
            assert "Logged in business 101 (Pizza One): locations 11, 12" in logins[PIZZA].stdout
            assert "Logged in business 202 (Sushi Two): locations 21, 22" in logins[SUSHI].stdout
            # And the webhook is registered with each business's tokens
            registered = orderflow(stack, "webhook", "register")
            assert registered.returncode == 0, registered.stderr
            hooks = sandbox.get("/_sandbox/webhooks").json()
            assert sorted(h["businessId"] for h in hooks) == [PIZZA, SUSHI]

            # And orders for both businesses arrive at once, over several token lifetimes
            submitted = _submit_for_both(api)

            # And an order for a location nobody covers arrives
            uncovered = _submit(api, NOBODY, "nobody-1")

            views = [wait_terminal(api, bl, ref, timeout=60) for bl, ref in submitted]
            ledger = sandbox.get("/_sandbox/ledger").json()
            status = orderflow(stack, "auth", "status")
            metrics = api.get("/metrics").text
            missing = api.get(f"/orders/{NOBODY}/nobody-1")
            logins_now = Logins(redis.Redis.from_url(stack.redis_url, decode_responses=True))
            pairs = [logins_now.store(b).get() for b in (PIZZA, SUSHI)]
            tokens = [t for p in pairs if p for t in (p.access, p.refresh) if t]
            assert len(tokens) == 4

        # Then every order completed, with no auth failure in any history
        assert [v["status"] for v in views] == ["completed"] * len(submitted), _odd(views)
        details = [h.get("detail") or "" for v in views for h in v["history"]]
        assert not [d for d in details if re.search(r"\b40[13]\b|auth", d, re.IGNORECASE)]
        # And no token was ever used for another business's location (or unbound)
        assert ledger["cross_business_calls"] == 0
        uses = Counter()
        for use in ledger["token_uses"]:
            assert use["tokenBusinessId"] == use["locationBusinessId"], use
            uses[use["tokenBusinessId"]] += use["count"]
        assert uses[PIZZA] > 0 and uses[SUSHI] > 0
        # And no refresh token was spent twice, while each business's pair rotated many times
        assert ledger["refresh_reuse"] == 0
        issued = ledger["tokens_issued_by_business"]
        assert int(issued[str(PIZZA)]) >= 3 and int(issued[str(SUSHI)]) >= 3, issued
        # And the uncovered order was refused naming the field, and nothing of it stored
        assert uncovered.status_code == 422
        assert [e["field"] for e in uncovered.json()["detail"]] == ["order.businessLocationId"]
        assert missing.status_code == 404
        assert all(o["businessLocationId"] != NOBODY for o in ledger["orders"].values())
        # And operators see both businesses, per-business metrics, and never a token
        assert status.returncode == 0, status.stderr
        assert "business 101 (Pizza One): locations 11, 12" in status.stdout
        assert "business 202 (Sushi Two): locations 21, 22" in status.stdout
        assert "REFUSED" not in status.stdout
        for business in (PIZZA, SUSHI):
            assert f'orderflow_kseries_tokens_refused{{business_id="{business}"}} 0.0' in metrics
            assert (
                f'orderflow_kseries_refresh_token_expires_in_seconds{{business_id="{business}"}}'
                in metrics
            )
        logs = "".join(p.read_text(errors="replace") for p in stack.workdir.glob("*.log"))
        assert "oauth.refreshed" in logs
        assert not [t for t in tokens if t in logs]
        for output in (status.stdout, *(x.stdout for x in logins.values())):
            assert not re.search(r"[A-Za-z0-9_-]{24,}", output), output


def _submit(api: httpx.Client, bl: int, ref: str, scenario_index: int = 0) -> httpx.Response:
    scenarios = [
        s for s in SCENARIOS if s.name in ("fully paid", "remainder settled", "toGo order")
    ]
    body = scenario_body(scenarios[scenario_index % len(scenarios)], reference=ref, ttl_ms=3_000)
    body["order"]["businessLocationId"] = bl
    return api.post("/orders", json=body)


def _submit_for_both(api: httpx.Client) -> list[tuple[int, str]]:
    """Both businesses' producers submit at the same time, each from its own thread."""
    submitted: list[tuple[int, str]] = []
    errors: list[str] = []

    def producer(business: int) -> None:
        with httpx.Client(base_url=str(api.base_url), headers=api.headers, timeout=10.0) as http:
            for i in range(ORDERS_PER_BUSINESS):
                bl = LOCATIONS[business][i % 2]
                ref = f"b{business}-{uuid.uuid4().hex[:10]}"
                answer = _submit(http, bl, ref, i)
                if answer.status_code != 202:
                    errors.append(f"{bl}/{ref}: {answer.status_code} {answer.text}")
                submitted.append((bl, ref))
                time.sleep(SUBMIT_OVER_S / ORDERS_PER_BUSINESS)

    threads = [threading.Thread(target=producer, args=(b,)) for b in (PIZZA, SUSHI)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return submitted


def _odd(views: list[dict[str, Any]]) -> str:
    counts = Counter(v["status"] for v in views)
    odd = [v for v in views if v["status"] != "completed"][:2]
    return f"{dict(counts)} e.g. {[(v['thirdPartyReference'], v['history']) for v in odd]}"

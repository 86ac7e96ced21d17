"""Rotating OAuth2 tokens across worker processes, against a sandbox enforcing single use.

Three Celery worker processes (four threads each) share one token pair in Redis whose access
token lives three seconds; the sandbox refuses unknown or expired tokens and counts every reuse
of a refresh token.
"""

from __future__ import annotations

import re
import subprocess
import sys
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
from worker.kseries.auth import TokenStore
from worker.stack import Stack

pytestmark = pytest.mark.integration

TOKEN_TTL_S = 3
ORDERS = 30
SUBMIT_OVER_S = 15.0


class SeededStack(Stack):
    """A stack whose orderflow processes start with a pair the sandbox really issued."""

    seeded: dict[str, Any]

    def start_sandbox(self) -> None:
        super().start_sandbox()
        self._wait_http(f"{self.sandbox_url}/_sandbox/config", "sandbox")
        self.seeded = httpx.post(f"{self.sandbox_url}/_sandbox/tokens").json()
        self.config.env["ORDERFLOW_KSERIES_ACCESS_TOKEN"] = self.seeded["access_token"]
        self.config.env["ORDERFLOW_KSERIES_REFRESH_TOKEN"] = self.seeded["refresh_token"]


def test_workers_rotate_short_lived_tokens_without_an_auth_failure_or_a_reused_refresh_token(
    tmp_path: Path,
) -> None:
    config = fast_stack_config(
        sandbox_args=["--require-auth", "--token-ttl-s", str(TOKEN_TTL_S)], concurrency=4
    )
    scenarios = [
        s for s in SCENARIOS if s.name in ("fully paid", "remainder settled", "toGo order")
    ]
    with SeededStack(config, tmp_path) as stack:
        # Given three worker processes sharing a token pair that expires every three seconds
        stack.start_worker("worker-2")
        stack.start_worker("worker-3")
        sandbox = httpx.Client(base_url=stack.sandbox_url, timeout=10.0)
        api = httpx.Client(
            base_url=stack.api_url,
            headers={"Authorization": "Bearer integration-token"},
            timeout=10.0,
        )
        with sandbox, api:
            # When thirty orders arrive over fifteen seconds
            submitted = []
            for i in range(ORDERS):
                scenario = scenarios[i % len(scenarios)]
                ref = f"oauth-{uuid.uuid4().hex[:10]}"
                body = scenario_body(scenario, reference=ref, ttl_ms=3_000)
                assert api.post("/orders", json=body).status_code == 202
                submitted.append((scenario.location, ref))
                time.sleep(SUBMIT_OVER_S / ORDERS)
            views = [wait_terminal(api, bl, ref, timeout=30) for bl, ref in submitted]
            ledger = sandbox.get("/_sandbox/ledger").json()

        # Then every order completed, with no auth failure anywhere in its history
        assert [v["status"] for v in views] == ["completed"] * ORDERS, _odd(views)
        details = [h.get("detail") or "" for v in views for h in v["history"]]
        # (word-bounded: a payment reference's random hex may well contain "401")
        auth_trouble = re.compile(r"\b40[13]\b|auth", re.IGNORECASE)
        assert not [d for d in details if auth_trouble.search(d)]
        # And no refresh token was spent twice, while many were spent
        assert ledger["refresh_reuse"] == 0
        # (refreshes are lazy: one per lifetime in which a call is made)
        assert ledger["tokens_issued"] >= 5
        # And at most one call per token lifetime met a 401: refreshes happened ahead of expiry
        # (the configured first token has no known expiry: it is refreshed on its 401)
        unauthorized = sum(c.get("401", 0) for c in ledger["requests"].values())
        assert unauthorized <= ledger["tokens_issued"], ledger["requests"]
        # And the store holds a live pair that `orderflow auth status` reports without secrets
        pair = TokenStore(redis.Redis.from_url(stack.redis_url, decode_responses=True)).get()
        assert pair is not None
        assert pair.refresh
        assert pair.access != stack.seeded["access_token"]
        shown = _auth_status(stack)
        assert shown.returncode == 0, shown.stderr
        assert "refresh token: yes" in shown.stdout
        logs = "".join(p.read_text(errors="replace") for p in stack.workdir.glob("worker*.log"))
        assert "oauth.refreshed" in logs
        for secret in (pair.access, pair.refresh, *stack.seeded.values()):
            if isinstance(secret, str) and len(secret) > 8:
                assert secret not in shown.stdout
                assert secret not in logs


def _auth_status(stack: Stack) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from worker.auth_cli import auth; auth(['status'])"],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _odd(views: list[dict[str, Any]]) -> str:
    counts = Counter(v["status"] for v in views)
    odd = [v for v in views if v["status"] != "completed"][:2]
    return f"{dict(counts)} e.g. {[(v['thirdPartyReference'], v['history']) for v in odd]}"

"""One real stack per session: redis-server, sandbox, Celery worker + beat, API (uvicorn)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bench.demo import OFFLINE_LOCATION
from tests.builders import BL
from worker.stack import Stack, StackConfig

FAST_ENV = {
    "ORDERFLOW_WEBHOOK_WAIT_MS": "1000",
    "ORDERFLOW_CONFIRM_GRACE_MS": "1500",
    "ORDERFLOW_PAYMENT_GRACE_MS": "1500",
    "ORDERFLOW_POLL_INITIAL_MS": "300",
    "ORDERFLOW_POLL_MAX_MS": "1000",
    "ORDERFLOW_ORDER_TTL_MS": "4000",
    "ORDERFLOW_PAYMENT_TTL_MS": "4000",
    "ORDERFLOW_TIMER_LEASE_MS": "3000",
    "ORDERFLOW_API_TOKEN": "integration-token",
    "ORDERFLOW_SWEEP_INTERVAL_S": "0.25",
    "ORDERFLOW_OPS_USERNAME": "ops",
    "ORDERFLOW_OPS_PASSWORD": "integration-ops-password",
}


def fast_stack_config(**overrides: object) -> StackConfig:
    """A private stack with short deadlines so every lifecycle outcome shows in seconds."""
    defaults: dict[str, object] = {
        "sandbox_args": ["--offline", str(OFFLINE_LOCATION)],
        "env": dict(FAST_ENV),
    }
    return StackConfig.private(**(defaults | overrides))


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(fast_stack_config(), tmp_path_factory.mktemp("stack")) as running:
        yield running


@pytest.fixture(scope="session")
def api(stack: Stack) -> Iterator[httpx.Client]:
    headers = {"Authorization": "Bearer integration-token"}
    with httpx.Client(base_url=stack.api_url, headers=headers, timeout=10.0) as client:
        yield client


@pytest.fixture(scope="session")
def sandbox(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.sandbox_url, timeout=10.0) as client:
        yield client


__all__ = ["BL", "fast_stack_config"]

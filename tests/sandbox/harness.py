"""In-process sandbox harness: the app behind `httpx.ASGITransport`, notifications recorded by an
`httpx.MockTransport`, a POS that takes 10 ms instead of seconds."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import anyio
import httpx
import pytest
import simplejson

from sandbox import Business, Sandbox, SandboxConfig, create_app

BL = 45454565682155
ENDPOINT = "orderflow"
HOOK_URL = "http://shop.test/webhooks/kseries"
BEARER = {"Authorization": "Bearer any-token"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Hooks:
    """Records every notification the sandbox sends; answers 200."""

    requests: list[httpx.Request] = field(default_factory=list)
    arrived: list[datetime] = field(default_factory=list)  # when each request came in

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.arrived.append(datetime.now(UTC))
        return httpx.Response(200)

    @property
    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]

    def matching(self, **expected: Any) -> list[dict[str, Any]]:
        return [p for p in self.payloads if all(p.get(k) == v for k, v in expected.items())]

    async def wait_for(self, timeout: float = 2.0, **expected: Any) -> dict[str, Any]:
        with anyio.fail_after(timeout):
            while not (found := self.matching(**expected)):
                await anyio.sleep(0.005)
        return found[0]


@dataclass
class Harness:
    client: httpx.AsyncClient
    hooks: Hooks
    sandbox: Sandbox

    async def ledger(self) -> dict[str, Any]:
        ledger: dict[str, Any] = (await self.client.get("/_sandbox/ledger")).json()
        return ledger

    async def wait_ledger(
        self, until: Callable[[dict[str, Any]], bool], timeout: float = 2.0
    ) -> dict[str, Any]:
        """The ledger once `until(ledger)` holds: a positive signal to wait for, never a sleep."""
        with anyio.fail_after(timeout):
            while not until(ledger := await self.ledger()):
                await anyio.sleep(0.005)
        return ledger

    async def configure(self, **changes: Any) -> None:
        response = await self.client.patch("/_sandbox/config", json=changes)
        assert response.status_code == 200, response.text


async def open_harness(
    config: SandboxConfig,
    provide_account: bool = True,
    businesses: list[Business] | None = None,
) -> AsyncIterator[Harness]:
    hooks = Hooks()
    app = create_app(
        config, businesses=businesses, notify_transport=httpx.MockTransport(hooks.handle)
    )
    sandbox: Sandbox = app.state.sandbox
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://kseries.test", headers=BEARER
    ) as client:
        registration = {
            "endpointId": ENDPOINT,
            "url": HOOK_URL,
            "withBasicAuth": True,
            "username": "kseries",
            "password": "s3cret",
            "provideAccount": provide_account,
            "expandTransactions": True,
            "expandPayments": True,
        }
        assert (await client.put("/o/wh/1/webhook", json=registration)).status_code == 200
        yield Harness(client, hooks, sandbox)
        await sandbox.aclose()


@pytest.fixture
async def kseries() -> AsyncIterator[Harness]:
    async for harness in open_harness(SandboxConfig(pos_delay_s=0.01, min_ttl_ms=50, seed=7)):
        yield harness


def local_order(reference: str = "shop-1", **overrides: Any) -> dict[str, Any]:
    """Burger + fries = 16.50, +10 % service = 18.15; pays 16.50 + 2.00 tip."""
    order: dict[str, Any] = {
        "businessLocationId": BL,
        "thirdPartyReference": reference,
        "endpointId": ENDPOINT,
        "customerInfo": {"firstName": "Jane"},
        "maxTimeToAttemptOrderDeliverToPos": 60000,
        "payment": {
            "paymentMethod": "OOPAYMENT",
            "paymentAmount": Decimal("18.50"),
            "tipAmount": Decimal("2.00"),
        },
        "items": [{"sku": "BURGER", "quantity": 1}, {"sku": "FRIES", "quantity": 1}],
    }
    order.update(overrides)
    return order


def payment(account: str, reference: str, amount: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "iKaccountIdentifier": account,
        "thirdPartyPaymentReference": reference,
        "endpointId": ENDPOINT,
        "businessLocationId": BL,
        "taskTtlInMs": 60000,
        "paymentMethod": "OOPAYMENT",
        "paymentAmount": Decimal(amount),
        "tipAmount": 0,
    }
    body.update(overrides)
    return body


async def post_json(h: Harness, path: str, body: dict[str, Any]) -> httpx.Response:
    """Decimal amounts go out as JSON numbers (`6.10`), as orderflow sends them."""
    content = simplejson.dumps(body, use_decimal=True)
    return await h.client.post(path, content=content, headers={"Content-Type": "application/json"})


async def place(h: Harness, body: dict[str, Any], kind: str = "local") -> httpx.Response:
    return await post_json(h, f"/o/op/1/order/{kind}", body)


async def pay(h: Harness, body: dict[str, Any]) -> httpx.Response:
    return await post_json(h, "/o/op/1/pay", body)


async def on_pos(h: Harness, reference: str = "shop-1") -> dict[str, Any]:
    assert (await place(h, local_order(reference))).json() == {"status": "ok"}
    return await h.hooks.wait_for(type="ORDER", status="SUCCESS", thirdPartyReference=reference)

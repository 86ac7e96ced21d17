"""The sandbox notifies, authenticates and is configured from its command line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
import simplejson

from sandbox import SandboxConfig, create_app
from sandbox.server import build_parser, config_from_args
from tests.sandbox.harness import (
    BL,
    ENDPOINT,
    HOOK_URL,
    Harness,
    local_order,
    open_harness,
    place,
)

pytestmark = pytest.mark.anyio


# --- webhooks and auth ----------------------------------------------------------------------


async def test_an_endpoint_without_provide_account_gets_no_account() -> None:
    config = SandboxConfig(pos_delay_s=0.01, min_ttl_ms=50)
    async for h in open_harness(config, provide_account=False):
        await place(h, local_order())
        success = await h.hooks.wait_for(status="SUCCESS")
        assert "account" not in success


async def test_a_webhook_update_resets_left_out_booleans_and_never_echoes_the_password(
    kseries: Harness,
) -> None:
    update = {"endpointId": ENDPOINT, "url": HOOK_URL, "withBasicAuth": True}
    assert (await kseries.client.post("/o/wh/1/webhook", json=update)).status_code == 200

    shown = (await kseries.client.get(f"/o/wh/1/webhook/{ENDPOINT}")).json()

    assert shown["provideAccount"] is False
    assert shown["expandTransactions"] is False
    assert "password" not in shown
    missing = await kseries.client.get("/o/wh/1/webhook/unknown")
    assert missing.status_code == 404
    assert (await kseries.client.delete(f"/o/wh/1/webhook/{ENDPOINT}")).status_code == 200


async def test_kseries_routes_need_a_bearer_token(kseries: Harness) -> None:
    response = await kseries.client.post(
        "/o/op/1/order/local",
        content=simplejson.dumps(local_order(), use_decimal=True),
        headers={"Authorization": "", "Content-Type": "application/json"},
    )

    assert response.status_code == 401
    assert (await kseries.ledger())["orders_accepted"] == {}


async def test_a_refresh_token_works_exactly_once(kseries: Harness) -> None:
    first = await kseries.client.post(
        "/oauth/token", data={"grant_type": "authorization_code", "code": "abc"}
    )
    refresh = first.json()["refresh_token"]

    second = await kseries.client.post(
        "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": refresh}
    )
    reused = await kseries.client.post(
        "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": refresh}
    )

    assert first.json()["token_type"] == "bearer"
    assert second.status_code == 200
    assert second.json()["refresh_token"] != refresh
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    assert (await kseries.ledger())["refresh_reuse"] == 1


class FakeClock:
    def __init__(self) -> None:
        self.moment = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment


async def test_with_require_auth_only_issued_unexpired_tokens_pass() -> None:
    clock = FakeClock()
    app = create_app(SandboxConfig(require_auth=True, token_ttl_s=60), clock=clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://kseries.test"
    ) as client:
        issued = (await client.post("/_sandbox/tokens")).json()

        async def readiness(token: str) -> httpx.Response:
            return await client.get(
                "/o/op/1/onlineOrderReadiness",
                params={"businessLocationId": BL},
                headers={"Authorization": f"Bearer {token}"},
            )

        assert (await readiness("made-up")).status_code == 401
        assert (await readiness(issued["access_token"])).status_code == 200
        clock.moment += timedelta(seconds=61)
        assert (await readiness(issued["access_token"])).status_code == 401
        await app.state.sandbox.aclose()


# --- command line ---------------------------------------------------------------------------


def test_every_config_field_can_be_set_from_the_command_line() -> None:
    args = build_parser().parse_args(
        [
            "--port",
            "8100",
            "--pos-delay",
            "0.5",
            "--min-ttl-ms",
            "3000",
            "--error-rate",
            "0.1",
            "--service-charge-rate",
            "0.15",
            "--offline",
            "1",
            "2",
            "--require-auth",
            "--seed",
            "42",
        ]
    )

    config = config_from_args(args)

    assert args.port == 8100
    assert config.pos_delay_s == 0.5
    assert config.min_ttl_ms == 3000
    assert config.error_rate == 0.1
    assert config.service_charge_rate == Decimal("0.15")
    assert config.offline_locations == {1, 2}
    assert config.require_auth is True
    assert config.seed == 42
    assert config.webhook_retries == 0

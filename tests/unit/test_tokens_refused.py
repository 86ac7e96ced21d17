"""While K-Series refuses our refresh token: new orders wait unsent, `/readyz` and `/metrics`
say so (issue 9, item 14)."""

from __future__ import annotations

from datetime import datetime, timedelta

import fakeredis
import httpx
from fastapi.testclient import TestClient

from config.settings import Settings
from tests.builders import BL, T0, new_order, policy
from worker.api import create_app
from worker.engine import TOKENS_HOLD_S, Engine
from worker.kseries.client import KSeriesClient
from worker.kseries.logins import Logins
from worker.kseries.tokens import TokenPair, TokenStore
from worker.order import Status
from worker.store import OrderStore


class World:
    def __init__(self) -> None:
        self.now = T0
        self.refused = True
        self.requests: list[httpx.Request] = []
        self.store = OrderStore(fakeredis.FakeRedis(decode_responses=True))
        transport = httpx.MockTransport(self._kseries)
        http = httpx.Client(base_url="https://k.example", transport=transport)
        self.engine = Engine(
            store=self.store,
            client=KSeriesClient(http),
            policy=policy(),
            clock=self.clock,
            tokens_refused=lambda bl: self.refused,
        )

    def clock(self) -> datetime:
        return self.now

    def _kseries(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json={"status": "ok"})


def test_a_new_order_waits_unsent_while_tokens_are_refused_and_goes_after_a_login() -> None:
    world = World()
    world.store.create(new_order(ttl_ms=300_000), T0)

    # While the tokens are refused, each look holds the order: no call, the history says why
    for _ in range(3):
        order = world.engine.advance(BL, "shop-1")
        assert order is not None and order.wake_at is not None
        assert order.status is Status.QUEUED
        assert order.wake_at == world.now + timedelta(seconds=TOKENS_HOLD_S)
        world.now = order.wake_at
    assert world.requests == []
    assert order.submit_attempts == 0  # waiting spends no attempt
    assert order.history[-1].event == "held"
    assert "refused our tokens" in order.history[-1].detail
    assert "orderflow auth login" in order.history[-1].detail

    # After a login, the next look sends it
    world.refused = False
    order = world.engine.advance(BL, "shop-1")
    assert order is not None and order.status is Status.SUBMITTED
    assert [r.url.path for r in world.requests] == ["/o/op/1/order/local"]


def test_a_new_order_still_refused_at_its_deadline_fails_as_never_sent_without_a_call() -> None:
    world = World()
    world.store.create(new_order(ttl_ms=60_000), T0)
    order = world.engine.advance(BL, "shop-1")
    while order is not None and order.status is Status.QUEUED and order.wake_at is not None:
        world.now = max(world.now, order.wake_at)
        order = world.engine.advance(BL, "shop-1")

    assert order is not None and order.status is Status.FAILED
    assert order.failure_reason is not None
    assert order.failure_reason.startswith("not sent: K-Series refused our tokens")
    assert order.failure_reason.endswith("until the submit deadline")
    assert world.requests == []


def _api(refused: bool) -> TestClient:
    r = fakeredis.FakeRedis(decode_responses=True)
    TokenStore(r).put(TokenPair("access", "refresh"))  # the default pair
    if refused:
        TokenStore(r).mark_refused("refresh")
    app = create_app(
        settings=Settings(_env_file=None),  # type: ignore[call-arg]
        store=OrderStore(r),
        enqueue=lambda bl, ref: None,
        enqueue_notification=lambda note_id: None,
        logins=Logins(r),
    )
    return TestClient(app)


def test_readyz_and_metrics_say_when_tokens_are_refused() -> None:
    refused, fine = _api(refused=True), _api(refused=False)

    ready = refused.get("/readyz")
    assert ready.status_code == 200  # orders are still taken (and wait): not a 503
    assert "orderflow auth login" in ready.json()["kseries"]
    assert "kseries" not in fine.get("/readyz").json()
    gauge = 'orderflow_kseries_tokens_refused{business_id="default"}'
    assert f"{gauge} 1.0" in refused.get("/metrics").text
    assert f"{gauge} 0.0" in fine.get("/metrics").text

"""A K-Series stand-in for one engine on fakeredis (httpx.MockTransport): answers set per test,
every request recorded, so a test can assert exactly which check was read or paid."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import fakeredis
import httpx

from tests.builders import T0, new_order, policy
from worker.engine import Engine
from worker.kseries.client import KSeriesClient
from worker.order import Order
from worker.store import OrderStore

__all__ = ["OK", "SALE", "Clock", "FakeKSeries", "engine_with", "stored"]

OK = {"status": "ok"}
SALE = {
    "accountFiscId": "A1.1",
    "salesLines": [{"totalNetAmountWithTax": "18.15"}],
    "payments": [{"netAmountWithTax": "16.50"}],
}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakeKSeries:
    """`sale`: the saleByExternalReference answer (None: 404); `checks`: account id -> check."""

    def __init__(self, sale: dict[str, Any] | None = None, **checks: dict[str, Any]) -> None:
        self.sale = sale
        self.checks = dict(checks)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path.startswith("/o/op/1/order/accounts/"):
            check = self.checks.get(path.rsplit("/", 1)[-1])
            return httpx.Response(200, json=check) if check else httpx.Response(404, json={})
        if path.endswith("/saleByExternalReference"):
            return (
                httpx.Response(200, json=self.sale) if self.sale else httpx.Response(404, json={})
            )
        if path.endswith("/onlineOrderReadiness"):
            return httpx.Response(200, json={"status": "READY"})
        return httpx.Response(200, json=OK)  # orders and payments accepted

    def paid_accounts(self) -> list[str]:
        return [
            json.loads(r.content)["iKaccountIdentifier"]
            for r in self.requests
            if r.url.path.endswith("/pay")
        ]

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


def engine_with(kseries: FakeKSeries, clock: Clock | None = None) -> Engine:
    http = httpx.Client(base_url="https://k.example", transport=httpx.MockTransport(kseries))
    return Engine(
        store=OrderStore(fakeredis.FakeRedis(decode_responses=True)),
        client=KSeriesClient(http),
        policy=policy(),
        clock=clock or Clock(),
    )


def stored(engine: Engine, ref: str = "shop-1", **kwargs: Any) -> Order:
    """A new order, stored and sent: `submitted`, waiting for news."""
    engine.store.create(new_order(ref, **kwargs), engine.clock())
    order = engine.advance(new_order(ref).business_location_id, ref)
    assert order is not None
    return order

"""Builders for the ops pages' tests: an app over fakeredis, orders in each state, credentials."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import fakeredis
import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from config.settings import Settings
from tests.builders import BL, T0, new_order, policy
from worker.events import OrderNews, Snapshot, SubmitAccepted
from worker.lifecycle import apply
from worker.ops import ops_router
from worker.order import Order
from worker.store import OrderStore

USER, PASSWORD = "ops", "s3cret-ops"
LOCAL = {"base_url": "http://127.0.0.1", "client": ("127.0.0.1", 50000)}


def basic(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def failed(ref: str = "shop-9") -> Order:
    p = policy()
    order = apply(new_order(ref), SubmitAccepted(), T0, p)
    news = OrderNews("k1", "FAILURE", reason="Not processed before validity ended")
    return apply(order, news, T0 + timedelta(seconds=5), p)


def above_max(ref: str = "shop-7") -> Order:
    p = policy()
    order = apply(new_order(ref, settle="1.00"), SubmitAccepted(), T0, p)
    news = OrderNews("k2", "SUCCESS", snapshot=Snapshot("A1.1", Decimal("20"), Decimal("10")))
    return apply(order, news, T0 + timedelta(seconds=2), p)


def completed(ref: str = "shop-5") -> Order:
    p = policy()
    order = apply(new_order(ref, settle=None), SubmitAccepted(), T0, p)
    return apply(order, OrderNews("k3", "SUCCESS"), T0 + timedelta(seconds=1), p)


@dataclass
class Ops:
    store: OrderStore
    http: TestClient
    enqueued: list[tuple[int, str]] = field(default_factory=list)
    auth: dict[str, str] = field(default_factory=basic)

    def put(self, order: Order) -> Order:
        self.store.create(order, T0)
        return self.store.transition(order.business_location_id, order.reference, lambda _: order)

    def get(self, ref: str) -> Order:
        order = self.store.get(BL, ref)
        assert order is not None
        return order

    def csrf(self, ref: str) -> str:
        page = self.http.get(f"/ops/orders/{BL}/{ref}", headers=self.auth)
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found, page.text
        return found.group(1)

    def post(self, path: str, ref: str, **fields: str) -> httpx.Response:
        form = {"businessLocationId": str(BL), "reference": ref, **fields}
        return self.http.post(path, data=form, headers=basic(), follow_redirects=False)


def make(settings: Settings, events: object = None, **client: object) -> Ops:
    store = OrderStore(fakeredis.FakeRedis(decode_responses=True))
    enqueued: list[tuple[int, str]] = []
    app = FastAPI()
    app.include_router(
        ops_router(
            settings=settings,
            store=store,
            enqueue=lambda bl, ref: enqueued.append((bl, ref)),
            events=events,  # type: ignore[arg-type]
            clock=lambda: T0 + timedelta(minutes=10),
        )
    )
    return Ops(store, TestClient(app, **client), enqueued)  # type: ignore[arg-type]


def configured() -> Ops:
    """The ops pages with credentials set (the usual deployment)."""
    return make(Settings(ops_username=USER, ops_password=PASSWORD))

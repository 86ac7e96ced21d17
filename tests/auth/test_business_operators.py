"""What producers and operators see of the businesses (issue 14, items 3, 4 and 5): an order for
a location no login covers is refused with 422 and nothing stored; `/metrics` and `/readyz`
name the business whose tokens are refused."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import fakeredis
import pytest
from fastapi.testclient import TestClient

from config.settings import Settings
from tests.auth.business_fakes import PIZZA, PIZZA_BL, SUSHI, SUSHI_BL, BusinessKSeries
from tests.auth.fakes import Clock, endpoint, new_store, settings
from tests.builders import submission_body
from worker.api import create_app
from worker.kseries.logins import Logins
from worker.kseries.tokens import DEFAULT_REFRESH_LIFETIME, TokenPair, TokenStore
from worker.oauth import log_in
from worker.store import OrderStore


class Api:
    def __init__(self, server: fakeredis.FakeServer, *, default_configured: bool = False) -> None:
        self.redis = fakeredis.FakeRedis(server=server, decode_responses=True)
        self.store = OrderStore(self.redis)
        self.enqueued: list[tuple[int, str]] = []
        app = create_app(
            settings=Settings(_env_file=None),  # type: ignore[call-arg]
            store=self.store,
            enqueue=lambda bl, ref: self.enqueued.append((bl, ref)),
            enqueue_notification=lambda note_id: None,
            logins=Logins(self.redis, default_configured=default_configured),
        )
        self.http = TestClient(app)

    def order(self, bl: int, ref: str) -> Any:
        return self.http.post("/orders", json=submission_body(ref, businessLocationId=bl))


@pytest.fixture
def logged_in(clock: Clock, server: fakeredis.FakeServer) -> BusinessKSeries:
    """Pizza One and Sushi Two logged in, just now."""
    clock.moment = datetime.now(UTC)
    kseries = BusinessKSeries(clock, ttl_s=300)
    for business in (PIZZA, SUSHI):
        code = kseries.code(business)
        log_in(settings(), new_store(server), code, endpoint=endpoint(kseries), now=clock())
    return kseries


def test_an_order_for_a_location_no_login_covers_is_refused_with_422_and_nothing_stored(
    logged_in: BusinessKSeries, server: fakeredis.FakeServer
) -> None:
    api = Api(server)
    # When orders arrive for each business's location and for a location nobody covers
    pizza, sushi, nobody = (
        api.order(PIZZA_BL, "p-1"),
        api.order(SUSHI_BL, "s-1"),
        api.order(99, "x"),
    )
    # Then the covered ones are accepted, the other refused naming the field
    assert (pizza.status_code, sushi.status_code) == (202, 202)
    assert nobody.status_code == 422
    [error] = nobody.json()["detail"]
    assert error["field"] == "order.businessLocationId"
    assert "orderflow auth login" in error["message"]
    # And nothing of it was stored or enqueued
    assert api.store.get(99, "x") is None
    assert api.enqueued == [(PIZZA_BL, "p-1"), (SUSHI_BL, "s-1")]


def test_the_same_body_again_gets_its_receipt_after_its_business_logged_out(
    logged_in: BusinessKSeries, server: fakeredis.FakeServer
) -> None:
    api = Api(server)
    assert api.order(PIZZA_BL, "p-1").status_code == 202
    Logins(api.redis).forget(PIZZA)
    again = api.order(PIZZA_BL, "p-1")
    assert again.status_code == 202 and again.json()["thirdPartyReference"] == "p-1"
    assert api.order(PIZZA_BL, "p-2").status_code == 422


@pytest.mark.parametrize("how", ["configured", "stored"])
def test_a_single_default_pair_covers_every_location_with_nothing_else_to_configure(
    server: fakeredis.FakeServer, how: str
) -> None:
    # Given only the default pair: configured tokens not yet stored, or a pair from before
    if how == "stored":
        TokenStore(fakeredis.FakeRedis(server=server, decode_responses=True)).put(
            TokenPair("access", "refresh")
        )
    api = Api(server, default_configured=how == "configured")
    # Then an order for any location is accepted
    assert api.order(123456, "any-1").status_code == 202
    assert api.order(SUSHI_BL, "any-2").status_code == 202


def test_with_no_login_at_all_every_order_is_refused(server: fakeredis.FakeServer) -> None:
    assert Api(server).order(SUSHI_BL, "s-1").status_code == 422


def test_metrics_and_readyz_name_the_business_whose_tokens_are_refused(
    logged_in: BusinessKSeries, server: fakeredis.FakeServer, clock: Clock
) -> None:
    # Given Sushi Two's refresh token refused
    sushi = Logins(fakeredis.FakeRedis(server=server, decode_responses=True)).store(SUSHI)
    pair = sushi.get()
    assert pair is not None and pair.refresh
    sushi.mark_refused(pair.refresh)
    api = Api(server)

    text = api.http.get("/metrics").text
    ready = api.http.get("/readyz")

    assert 'orderflow_kseries_tokens_refused{business_id="101"} 0.0' in text
    assert 'orderflow_kseries_tokens_refused{business_id="202"} 1.0' in text
    expiring = re.findall(
        r'orderflow_kseries_refresh_token_expires_in_seconds\{business_id="(\d+)"\} (\S+)', text
    )
    assert {business for business, _ in expiring} == {"101", "202"}
    lifetime = DEFAULT_REFRESH_LIFETIME.total_seconds()  # the login was just now
    assert all(lifetime - 60 < float(left) <= lifetime for _, left in expiring)
    assert ready.status_code == 200
    assert "tokens refused for business 202" in ready.json()["kseries"]
    assert "101" not in ready.json()["kseries"]

"""Two restaurant businesses side by side: each token acts for its own business only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import simplejson

from sandbox import Business, SandboxConfig, create_app
from tests.sandbox.harness import ENDPOINT, HOOK_URL, Hooks, local_order, open_harness, payment

pytestmark = pytest.mark.anyio

ALPHA, BETA = 1, 2
ALPHA_BL, ALPHA_BL_2, BETA_BL = 101, 102, 201


def two_businesses() -> list[Business]:
    return [
        Business(ALPHA, "Alpha Bistro", {ALPHA_BL: "Alpha Centre", ALPHA_BL_2: "Alpha Harbour"}),
        Business(BETA, "Beta Burgers", {BETA_BL: "Beta Station"}),
    ]


class Sides:
    """An in-process sandbox with two businesses, and a way to act as either."""

    def __init__(self, client: httpx.AsyncClient, hooks: Hooks) -> None:
        self.client, self.hooks = client, hooks

    async def pair(self, business_id: int) -> dict[str, Any]:
        response = await self.client.post("/_sandbox/tokens", params={"business_id": business_id})
        assert response.status_code == 200, response.text
        pair: dict[str, Any] = response.json()
        return pair

    async def bearer(self, business_id: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {(await self.pair(business_id))['access_token']}"}

    async def post(self, path: str, body: dict[str, Any], auth: dict[str, str]) -> httpx.Response:
        content = simplejson.dumps(body, use_decimal=True)
        headers = {**auth, "Content-Type": "application/json"}
        return await self.client.post(path, content=content, headers=headers)

    async def ledger(self) -> dict[str, Any]:
        ledger: dict[str, Any] = (await self.client.get("/_sandbox/ledger")).json()
        return ledger


@pytest.fixture
async def sides(require_auth: bool) -> AsyncIterator[Sides]:
    hooks = Hooks()
    config = SandboxConfig(pos_delay_s=0.01, min_ttl_ms=50, seed=7, require_auth=require_auth)
    app = create_app(
        config, businesses=two_businesses(), notify_transport=httpx.MockTransport(hooks.handle)
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kseries.test") as client:
        yield Sides(client, hooks)
    await app.state.sandbox.aclose()


@pytest.fixture
def require_auth() -> bool:
    return True


def location_calls(bl: int) -> list[tuple[str, str, dict[str, Any] | None, dict[str, Any]]]:
    """Every location-scoped K-Series call, for location `bl`: (method, path, body, params)."""
    return [
        ("POST", "/o/op/1/order/local", local_order("x-local", businessLocationId=bl), {}),
        ("POST", "/o/op/1/order/toGo", local_order("x-togo", businessLocationId=bl), {}),
        ("POST", "/o/op/1/pay", payment("A1.1", "x-pay", "1.00", businessLocationId=bl), {}),
        ("GET", f"/f/finance/{bl}/saleByExternalReference", None, {"externalReferenceId": "r"}),
        ("GET", "/o/op/1/order/accounts/A1.1", None, {"businessLocationId": bl}),
        ("GET", "/o/op/1/onlineOrderReadiness", None, {"businessLocationId": bl}),
    ]


async def call(
    sides: Sides, auth: dict[str, str], method: str, path: str, body: Any, params: Any
) -> httpx.Response:
    if body is not None:
        return await sides.post(path, body, auth)
    return await sides.client.request(method, path, params=params, headers=auth)


# --- what a token covers ----------------------------------------------------------------------


async def test_each_token_lists_only_its_own_business_and_locations(sides: Sides) -> None:
    alpha = await sides.client.get("/o/op/data/businesses", headers=await sides.bearer(ALPHA))
    beta = await sides.client.get("/o/op/data/businesses", headers=await sides.bearer(BETA))

    assert alpha.status_code == 200
    assert alpha.json() == [
        {
            "name": "Alpha Bistro",
            "id": ALPHA,
            "businessLocations": [
                {"id": ALPHA_BL, "name": "Alpha Centre"},
                {"id": ALPHA_BL_2, "name": "Alpha Harbour"},
            ],
        }
    ]
    assert beta.json() == [
        {
            "name": "Beta Burgers",
            "id": BETA,
            "businessLocations": [{"id": BETA_BL, "name": "Beta Station"}],
        }
    ]


async def test_the_businesses_call_needs_a_live_token_with_require_auth(sides: Sides) -> None:
    response = await sides.client.get(
        "/o/op/data/businesses", headers={"Authorization": "Bearer made-up"}
    )

    assert response.status_code == 401


@pytest.mark.parametrize("require_auth", [False])
async def test_without_require_auth_an_unknown_token_sees_every_business(sides: Sides) -> None:
    response = await sides.client.get(
        "/o/op/data/businesses", headers={"Authorization": "Bearer made-up"}
    )

    assert [b["id"] for b in response.json()] == [ALPHA, BETA]


# --- 403 across businesses ------------------------------------------------------------------


async def test_a_token_used_for_another_business_location_is_refused_on_every_location_route(
    sides: Sides,
) -> None:
    # Given Alpha's token, when it is used for Beta's location on every location-scoped route
    alpha = await sides.bearer(ALPHA)
    answers = [await call(sides, alpha, *c) for c in location_calls(BETA_BL)]

    # Then each is refused with 403 in K-Series' error format, and nothing was accepted
    assert [a.status_code for a in answers] == [403] * 6
    for answer, (_, path, _, _) in zip(answers, location_calls(BETA_BL), strict=True):
        body = answer.json()
        assert body["status"] == 403
        assert body["error"] == "Forbidden"
        assert body["path"] == path
        assert str(BETA_BL) in body["message"]
        assert set(body) == {"timestamp", "status", "error", "message", "path"}
    ledger = await sides.ledger()
    assert ledger["orders_accepted"] == {}
    assert ledger["payments_accepted"] == {}
    assert ledger["cross_business_calls"] == 6


async def test_a_token_is_served_for_its_own_business_locations(sides: Sides) -> None:
    alpha = await sides.bearer(ALPHA)

    answers = [await call(sides, alpha, *c) for c in location_calls(ALPHA_BL)]

    # (the sale and the check do not exist: 404, not 403; the payment is accepted for delivery)
    assert [a.status_code for a in answers] == [200, 200, 200, 404, 404, 200]
    assert (await sides.ledger())["cross_business_calls"] == 0


async def test_a_location_no_business_owns_is_refused_to_every_token(sides: Sides) -> None:
    response = await sides.client.get(
        "/o/op/1/onlineOrderReadiness",
        params={"businessLocationId": 999},
        headers=await sides.bearer(BETA),
    )

    assert response.status_code == 403


async def test_an_invalid_order_for_another_business_location_is_a_400_as_spring_validates_first(
    sides: Sides,
) -> None:
    body = local_order("", businessLocationId=BETA_BL)

    response = await sides.post("/o/op/1/order/local", body, await sides.bearer(ALPHA))

    assert response.status_code == 400
    assert (await sides.ledger())["cross_business_calls"] == 0


@pytest.mark.parametrize("require_auth", [False])
async def test_without_require_auth_a_cross_business_call_passes_but_is_counted(
    sides: Sides,
) -> None:
    alpha = await sides.bearer(ALPHA)

    answer = await sides.post("/o/op/1/order/local", local_order(businessLocationId=BETA_BL), alpha)

    assert answer.status_code == 200
    assert (await sides.ledger())["cross_business_calls"] == 1


# --- the ledger ------------------------------------------------------------------------------


async def test_the_ledger_records_every_use_of_a_token_with_its_business_and_location(
    sides: Sides,
) -> None:
    alpha, beta = await sides.bearer(ALPHA), await sides.bearer(BETA)
    readiness = "/o/op/1/onlineOrderReadiness"
    for auth, bl in [(alpha, ALPHA_BL), (alpha, ALPHA_BL), (beta, BETA_BL), (alpha, BETA_BL)]:
        await sides.client.get(readiness, params={"businessLocationId": bl}, headers=auth)
    await sides.post("/o/op/1/order/local", local_order(businessLocationId=BETA_BL), beta)

    ledger = await sides.ledger()

    route = f"GET {readiness}"
    uses = {
        (u["tokenBusinessId"], u["businessLocationId"], u["locationBusinessId"], u["route"]): (
            u["count"],
            u["crossBusiness"],
        )
        for u in ledger["token_uses"]
    }
    assert uses == {
        (ALPHA, ALPHA_BL, ALPHA, route): (2, False),
        (BETA, BETA_BL, BETA, route): (1, False),
        (ALPHA, BETA_BL, BETA, route): (1, True),
        (BETA, BETA_BL, BETA, "POST /o/op/1/order/local"): (1, False),
    }
    assert ledger["cross_business_calls"] == 1
    assert ledger["tokens_issued_by_business"] == {str(ALPHA): 1, str(BETA): 1}


# --- businesses that change ------------------------------------------------------------------


async def test_a_location_added_to_a_business_later_is_listed_and_served(sides: Sides) -> None:
    alpha = await sides.bearer(ALPHA)
    params = {"businessLocationId": 103}
    before = await sides.client.get("/o/op/1/onlineOrderReadiness", params=params, headers=alpha)

    added = await sides.client.post(
        f"/_sandbox/businesses/{ALPHA}/locations", json={"id": 103, "name": "Alpha Airport"}
    )

    after = await sides.client.get("/o/op/1/onlineOrderReadiness", params=params, headers=alpha)
    listed = (await sides.client.get("/o/op/data/businesses", headers=alpha)).json()
    assert (before.status_code, added.status_code, after.status_code) == (403, 201, 200)
    assert {"id": 103, "name": "Alpha Airport"} in listed[0]["businessLocations"]


async def test_a_location_of_one_business_cannot_be_given_to_another(sides: Sides) -> None:
    taken = await sides.client.post(f"/_sandbox/businesses/{ALPHA}/locations", json={"id": BETA_BL})
    unknown = await sides.client.post("/_sandbox/businesses/9/locations", json={"id": 5})
    again = await sides.client.post(f"/_sandbox/businesses/{BETA}/locations", json={"id": BETA_BL})

    assert (taken.status_code, unknown.status_code, again.status_code) == (409, 404, 200)
    assert f"belongs to business {BETA}" in taken.json()["detail"]


async def test_a_business_added_at_run_time_gets_its_own_tokens(sides: Sides) -> None:
    added = await sides.client.post(
        "/_sandbox/businesses",
        json={"id": 3, "name": "Gamma Grill", "businessLocations": [{"id": 301}]},
    )
    duplicate = await sides.client.post("/_sandbox/businesses", json={"id": 3, "name": "Again"})

    gamma = await sides.bearer(3)
    listed = (await sides.client.get("/o/op/data/businesses", headers=gamma)).json()
    assert (added.status_code, duplicate.status_code) == (201, 409)
    assert listed == [
        {
            "name": "Gamma Grill",
            "id": 3,
            "businessLocations": [{"id": 301, "name": "Gamma Grill - Location 301"}],
        }
    ]


# --- webhook registrations -------------------------------------------------------------------


async def test_notifications_go_to_the_registration_of_the_location_business(sides: Sides) -> None:
    # Given only Beta registered a webhook endpoint
    registration = {"endpointId": ENDPOINT, "url": HOOK_URL}
    beta = await sides.bearer(BETA)
    assert (await sides.client.put("/o/wh/1/webhook", json=registration, headers=beta)).is_success

    # When an order is placed at each business's location
    alpha = await sides.bearer(ALPHA)
    await sides.post("/o/op/1/order/local", local_order("a-1", businessLocationId=ALPHA_BL), alpha)
    await sides.post("/o/op/1/order/local", local_order("b-1", businessLocationId=BETA_BL), beta)

    # Then Beta's is notified, Alpha's is not: Alpha never registered
    await sides.hooks.wait_for(thirdPartyReference="b-1", status="SUCCESS")
    ledger = await sides.ledger()
    unroutable = [n for n in ledger["notifications"] if n["error"] == "no webhook registered"]
    assert [n["payload"]["thirdPartyReference"] for n in unroutable] == ["a-1"]
    assert sides.hooks.matching(thirdPartyReference="a-1") == []
    shown = await sides.client.get(f"/o/wh/1/webhook/{ENDPOINT}", headers=alpha)
    assert shown.status_code == 404
    listed = (await sides.client.get("/_sandbox/webhooks")).json()
    assert [w["businessId"] for w in listed] == [BETA]


# --- no business configured: everything as before ---------------------------------------------


async def test_without_businesses_one_business_owns_every_location_and_lists_those_it_met() -> None:
    async for h in open_harness(SandboxConfig(pos_delay_s=0.01, min_ttl_ms=50)):
        await h.client.get("/o/op/1/onlineOrderReadiness", params={"businessLocationId": 42})

        listed = (await h.client.get("/o/op/data/businesses")).json()
        issued = (await h.client.post("/_sandbox/tokens")).json()

        assert listed == [
            {
                "name": "Sandbox Business",
                "id": 1,
                "businessLocations": [{"id": 42, "name": "Sandbox Business - Location 42"}],
            }
        ]
        assert issued["businessId"] == 1
        assert (await h.ledger())["cross_business_calls"] == 0

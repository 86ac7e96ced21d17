"""Logging in as one restaurant business: codes, token pairs and refreshes bound to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sandbox import Business, SandboxConfig, create_app
from sandbox.businesses import BusinessError, parse_business
from sandbox.server import build_parser, businesses_from_args, main

pytestmark = pytest.mark.anyio

ALPHA, BETA = 1, 2
ALPHA_BL, BETA_BL = 101, 201
CALLBACK = "http://127.0.0.1:8765/callback"


class FakeClock:
    def __init__(self) -> None:
        self.moment = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def client(clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    businesses = [
        Business(ALPHA, "Alpha", {ALPHA_BL: "A1"}),
        Business(BETA, "Beta", {BETA_BL: "B1"}),
    ]
    config = SandboxConfig(require_auth=True, token_ttl_s=5)
    app = create_app(config, businesses=businesses, clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kseries.test") as c:
        yield c
    await app.state.sandbox.aclose()


def authorize_query(**extra: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": "orderflow",
        "redirect_uri": CALLBACK,
        "scope": "orders-api financial-api",
        "state": "s-123",
        **extra,
    }


async def redeem(
    client: httpx.AsyncClient, code: str, redirect_uri: str = CALLBACK
) -> httpx.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    return await client.post("/oauth/token", data=form)


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(
        "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": token}
    )


async def covered(client: httpx.AsyncClient, access_token: str) -> list[int]:
    headers = {"Authorization": f"Bearer {access_token}"}
    response = await client.get("/o/op/data/businesses", headers=headers)
    assert response.status_code == 200, response.text
    return [b["id"] for b in response.json()]


async def readiness(client: httpx.AsyncClient, access_token: str, bl: int) -> int:
    response = await client.get(
        "/o/op/1/onlineOrderReadiness",
        params={"businessLocationId": bl},
        headers={"Authorization": f"Bearer {access_token}"},
    )
    return response.status_code


# --- the authorization code --------------------------------------------------------------------


async def test_the_authorize_step_redirects_with_a_code_for_the_named_business(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.get("/oauth/authorize", params=authorize_query(business_id=str(BETA)))

    assert answer.status_code == 302
    location = urlsplit(answer.headers["location"])
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    assert query["state"] == "s-123"
    pair = (await redeem(client, query["code"])).json()
    assert await covered(client, pair["access_token"]) == [BETA]
    assert await readiness(client, pair["access_token"], BETA_BL) == 200
    assert await readiness(client, pair["access_token"], ALPHA_BL) == 403


async def test_the_authorize_page_asks_which_business_when_several_could_approve(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.get("/oauth/authorize", params=authorize_query())

    assert answer.status_code == 200
    assert "text/html" in answer.headers["content-type"]
    assert f"business_id={ALPHA}" in answer.text
    assert f"business_id={BETA}" in answer.text


async def test_an_unknown_business_is_refused_back_to_the_redirect_uri(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.get("/oauth/authorize", params=authorize_query(business_id="9"))

    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["error"] == ["access_denied"]
    assert query["state"] == ["s-123"]


async def test_a_code_works_once_and_only_with_its_redirect_uri(client: httpx.AsyncClient) -> None:
    minted = (
        await client.post(
            "/_sandbox/codes", params={"business_id": ALPHA, "redirect_uri": CALLBACK}
        )
    ).json()
    other = (
        await client.post(
            "/_sandbox/codes", params={"business_id": ALPHA, "redirect_uri": CALLBACK}
        )
    ).json()

    first = await redeem(client, minted["code"])
    again = await redeem(client, minted["code"])
    elsewhere = await redeem(client, other["code"], redirect_uri="http://evil.test/cb")
    made_up = await redeem(client, "never-issued")

    assert minted["businessId"] == ALPHA
    assert first.status_code == 200
    assert [r.status_code for r in (again, elsewhere, made_up)] == [400, 400, 400]
    assert {r.json()["error"] for r in (again, elsewhere, made_up)} == {"invalid_grant"}


async def test_an_expired_code_is_refused(client: httpx.AsyncClient, clock: FakeClock) -> None:
    code = (await client.post("/_sandbox/codes", params={"business_id": BETA})).json()["code"]
    clock.moment += timedelta(minutes=11)

    answer = await redeem(client, code)

    assert answer.status_code == 400
    assert answer.json()["error_description"] == "Code expired"


# --- refresh within the business ----------------------------------------------------------------


async def test_a_refresh_rotates_within_the_business_and_a_reuse_is_counted_for_it(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    # Given Beta logged in with a code and its access token expired (5 s lifetime)
    code = (await client.post("/_sandbox/codes", params={"business_id": BETA})).json()["code"]
    first = (await redeem(client, code)).json()
    clock.moment += timedelta(seconds=6)
    assert await readiness(client, first["access_token"], BETA_BL) == 401

    # When the refresh token is used, and then used again
    rotated = await refresh(client, first["refresh_token"])
    reused = await refresh(client, first["refresh_token"])

    # Then the new pair is Beta's, the old refresh token is dead, and the reuse is Beta's
    pair = rotated.json()
    assert rotated.status_code == 200
    assert pair["expires_in"] == 5
    assert await covered(client, pair["access_token"]) == [BETA]
    assert await readiness(client, pair["access_token"], ALPHA_BL) == 403
    assert reused.json()["error"] == "invalid_grant"
    assert (await refresh(client, pair["refresh_token"])).status_code == 200
    ledger: dict[str, Any] = (await client.get("/_sandbox/ledger")).json()
    assert ledger["refresh_reuse"] == 1
    assert ledger["refresh_reuse_by_business"] == {str(BETA): 1}
    assert ledger["tokens_issued_by_business"] == {str(BETA): 3}


async def test_an_admin_pair_for_an_unknown_business_is_refused(client: httpx.AsyncClient) -> None:
    answer = await client.post("/_sandbox/tokens", params={"business_id": 9})

    assert answer.status_code == 404


# --- the command line ------------------------------------------------------------------------


def test_businesses_are_configured_from_the_command_line() -> None:
    args = build_parser().parse_args(
        ["--business", "1:Alpha Bistro:101=Alpha Centre,102", "--business", "2:Beta:201"]
    )

    businesses = businesses_from_args(args)

    assert [(b.id, b.name, b.locations) for b in businesses] == [
        (1, "Alpha Bistro", {101: "Alpha Centre", 102: "Alpha Bistro - Location 102"}),
        (2, "Beta", {201: "Beta - Location 201"}),
    ]
    assert businesses_from_args(build_parser().parse_args([])) == []


@pytest.mark.parametrize(
    "text", ["Alpha", "x:Alpha:1", "0:Alpha:1", "1::101", "1:Alpha:101,abc", "1:Alpha:101,101"]
)
def test_a_malformed_business_flag_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(BusinessError):
        parse_business(text)


def test_a_business_without_locations_may_be_given_as_id_and_name() -> None:
    assert parse_business("7:Seven") == Business(7, "Seven")
    assert parse_business("7:Seven:") == Business(7, "Seven")


def test_two_businesses_claiming_one_location_stop_the_sandbox_before_it_serves(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--business", "1:A:101", "--business", "2:B:101"])

    assert stopped.value.code == 2
    assert "business location 101 belongs to business 1" in capsys.readouterr().err

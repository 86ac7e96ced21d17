"""A fake K-Series with restaurant businesses (httpx.MockTransport): authorization codes and the
tokens they buy are bound to one business, `GET /o/op/data/businesses` lists the token's own
business, and a location-scoped call with another business's token is answered 403 (and
recorded in `uses`, as the sandbox's ledger does)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import fakeredis
import httpx

from tests.auth.fakes import BASE, Clock, FakeKSeries, endpoint, settings
from worker.kseries.businesses import BUSINESSES_PATH
from worker.kseries.client import KSeriesClient
from worker.kseries.routing import BusinessAuth

PIZZA, SUSHI = 101, 202
PIZZA_BL, PIZZA_BL_2, SUSHI_BL = 11, 12, 21


class BusinessKSeries(FakeKSeries):
    """Two businesses by default: Pizza One (locations 11, 12) and Sushi Two (21)."""

    def __init__(self, clock: Clock, ttl_s: int = 10) -> None:
        super().__init__(clock, ttl_s)
        self.businesses: dict[int, tuple[str, list[int]]] = {
            PIZZA: ("Pizza One", [PIZZA_BL, PIZZA_BL_2]),
            SUSHI: ("Sushi Two", [SUSHI_BL]),
        }
        self.bound: dict[str, int] = {}  # access or refresh token -> its business
        self.codes: dict[str, int] = {}
        self.uses: list[tuple[int | None, int]] = []  # (token's business, location) per call
        self.unscoped: list[tuple[int | None, str]] = []  # (token's business, method) of the rest
        self.list_status: int | None = None  # force an answer from the business list
        self.list_calls = 0
        self.failing: int | None = None  # this business's calls that name no location get 503
        self._issuing: int | None = None

    def code(self, business_id: int) -> str:
        """An authorization code as if the business had approved access."""
        code = secrets.token_urlsafe(8)
        self.codes[code] = business_id
        return code

    def owner(self, business_location_id: int) -> int | None:
        for business_id, (_, locations) in self.businesses.items():
            if business_location_id in locations:
                return business_id
        return None

    def issue(self) -> dict[str, Any]:
        body = super().issue()
        if self._issuing is not None:
            self.bound[body["access_token"]] = self.bound[body["refresh_token"]] = self._issuing
        return body

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if form.get("grant_type") == "authorization_code":
            self._issuing = self.codes.pop(form.get("code", ""), None)
        else:
            self._issuing = self.bound.get(form.get("refresh_token", ""))
        return super()._token(request)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == self.token_path:
            return super().handle(request)
        with self.lock:
            bearer = request.headers.get("authorization", "")[7:]
            self.api_calls.append(bearer)
            expiry = self.access.get(bearer)
            if expiry is None or expiry <= self.clock():
                return httpx.Response(401, json={"error": "invalid_token"})
            business = self.bound.get(bearer)
            if request.url.path == BUSINESSES_PATH:
                return self._list(business)
            location = _location(request)
            if location is None:  # not location-scoped (webhook registration)
                self.unscoped.append((business, request.method))
                if business is not None and business == self.failing:
                    return httpx.Response(503, json={"message": "unavailable"})
                return httpx.Response(200, json={"status": "ok"})
            self.uses.append((business, location))
            if business is not None and self.owner(location) != business:
                return httpx.Response(403, json={"message": "Access denied"})
            if request.url.path.endswith("onlineOrderReadiness"):
                return httpx.Response(200, json={"status": "READY"})
            if request.method == "GET":
                return httpx.Response(404, json={"message": "not found"})
            return httpx.Response(200, json={"status": "ok"})

    def _list(self, business: int | None) -> httpx.Response:
        self.list_calls += 1
        if self.list_status is not None:
            return httpx.Response(self.list_status, json={"message": "forced"})
        listed = [
            {
                "id": business_id,
                "name": name,
                "businessLocations": [{"id": bl, "name": f"{name} {bl}"} for bl in locations],
            }
            for business_id, (name, locations) in self.businesses.items()
            if business is None or business_id == business
        ]
        return httpx.Response(200, json=listed)

    def cross_business_uses(self) -> list[tuple[int | None, int]]:
        return [(b, bl) for b, bl in self.uses if b is not None and self.owner(bl) != b]


def _location(request: httpx.Request) -> int | None:
    if "businessLocationId" in request.url.params:
        return int(request.url.params["businessLocationId"])
    parts = request.url.path.split("/")
    if request.url.path.startswith("/f/finance/"):
        return int(parts[3])
    if request.content:
        body = json.loads(request.content)
        if isinstance(body, dict) and "businessLocationId" in body:
            return int(body["businessLocationId"])
    return None


class World:
    """One process's view: Redis shared through `server`, the fake, a clock."""

    def __init__(self, fake: BusinessKSeries, clock: Clock, server: fakeredis.FakeServer) -> None:
        self.fake, self.clock, self.server = fake, clock, server
        self.redis = fakeredis.FakeRedis(server=server, decode_responses=True)
        transport = httpx.MockTransport(fake.handle)
        self.auth = BusinessAuth(
            settings(),
            self.redis,
            endpoint=endpoint(fake),
            http=httpx.Client(transport=transport),
            clock=clock,
        )
        self.http = httpx.Client(base_url=BASE, transport=transport, auth=self.auth.default)
        self.client = KSeriesClient(self.http, auth_for=self.auth.for_location)


def worlds(
    fake: BusinessKSeries, clock: Clock, server: fakeredis.FakeServer, n: int
) -> Iterator[World]:
    for _ in range(n):
        yield World(fake, clock, server)

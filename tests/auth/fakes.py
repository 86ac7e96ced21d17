"""A fake K-Series token endpoint (httpx.MockTransport), a clock, and fakeredis-backed token stores."""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import fakeredis
import httpx
import pytest

from config.settings import Settings
from worker.kseries.auth import (
    RefreshingAuth,
    TokenEndpoint,
    TokenPair,
    TokenStore,
)

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
BASE = "https://kseries.test"
V2_TOKEN_URL = "https://auth.lsk-demo.app/realms/k-series/protocol/openid-connect/token"
READINESS = "/o/op/1/onlineOrderReadiness"


class Clock:
    def __init__(self) -> None:
        self.moment = T0

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


class FakeKSeries:
    """Bearer-checked API route plus a token endpoint with single-use refresh tokens."""

    def __init__(self, clock: Clock, ttl_s: int = 10, token_path: str = "/oauth/token") -> None:
        self.clock, self.ttl_s, self.token_path = clock, ttl_s, token_path
        self.access: dict[str, datetime] = {}
        self.live: set[str] = set()
        self.spent: Counter[str] = Counter()
        self.token_forms: list[dict[str, str]] = []
        self.token_auth: list[str | None] = []
        self.api_calls: list[str] = []
        self.token_status: int | None = None  # force an answer from the token endpoint
        self.omit_expires_in = False
        # RFC 6749 6: a server may answer a refresh without a new refresh token (the old one
        # then stays valid).
        self.omit_refresh_token = False
        self.on_refresh: Callable[[], None] | None = None  # runs while a refresh is in flight
        self.lock = threading.Lock()

    def issue(self) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        self.access[access] = self.clock() + timedelta(seconds=self.ttl_s)
        self.live.add(refresh)
        body: dict[str, Any] = {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "bearer",
        }
        if not self.omit_expires_in:
            body["expires_in"] = self.ttl_s
        return body

    def pair(self) -> TokenPair:
        body = self.issue()
        return TokenPair(
            body["access_token"],
            body["refresh_token"],
            self.clock() + timedelta(seconds=self.ttl_s),
            self.clock(),
        )

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            if request.url.path == self.token_path:
                return self._token(request)
            bearer = request.headers.get("authorization", "")[7:]
            self.api_calls.append(bearer)
            expiry = self.access.get(bearer)
            if expiry is None or expiry <= self.clock():
                return httpx.Response(401, json={"error": "invalid_token"})
            return httpx.Response(200, json={"status": "READY"})

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        self.token_forms.append(form)
        self.token_auth.append(request.headers.get("authorization"))
        if self.token_status is not None:
            return httpx.Response(self.token_status, json={"error": "server_error"})
        if form["grant_type"] == "authorization_code":
            return httpx.Response(200, json=self.issue())
        token = form["refresh_token"]
        self.spent[token] += 1
        if token not in self.live:
            return httpx.Response(400, json={"error": "invalid_grant"})
        if self.on_refresh is not None:
            self.on_refresh()
        if self.omit_refresh_token:
            body = self.issue()
            self.live.discard(body.pop("refresh_token"))
            return httpx.Response(200, json=body)
        self.live.discard(token)
        return httpx.Response(200, json=self.issue())

    @property
    def refreshes(self) -> int:
        return sum(1 for f in self.token_forms if f["grant_type"] == "refresh_token")


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "kseries_base_url": BASE,
        "kseries_client_id": "orderflow-client",
        "kseries_client_secret": "client-secret",
    }
    return Settings(_env_file=None, **(values | overrides))  # type: ignore[call-arg]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> FakeKSeries:
    return FakeKSeries(clock)


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


def new_store(server: fakeredis.FakeServer) -> TokenStore:
    return TokenStore(fakeredis.FakeRedis(server=server, decode_responses=True))


def endpoint(fake: FakeKSeries, cfg: Settings | None = None) -> TokenEndpoint:
    return TokenEndpoint(
        cfg or settings(), httpx.Client(transport=httpx.MockTransport(fake.handle))
    )


@pytest.fixture
def process(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> Iterator[httpx.Client]:
    """One worker process's K-Series HTTP client, sharing Redis with any other `worker()`."""
    with worker(fake, clock, server) as http:
        yield http


def worker(fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer) -> httpx.Client:
    auth = RefreshingAuth(settings(), new_store(server), endpoint=endpoint(fake), clock=clock)
    return httpx.Client(base_url=BASE, transport=httpx.MockTransport(fake.handle), auth=auth)

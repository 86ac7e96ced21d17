"""One process's `RefreshingAuth` driven by hand: what K-Series received, how the refresh lock
was asked for, and a hook where another process acts during a race (for the exact tests)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import fakeredis
import httpx
from httpx import Client as HttpClient  # the real one, even where a test patches httpx
from redis.lock import Lock

from tests.auth.fakes import BASE, READINESS, Clock, FakeKSeries, endpoint, settings
from worker.kseries.auth import RefreshingAuth, TokenEndpoint, TokenPair, TokenStore

Hook = Callable[[], None]


class SpyLock:
    """The store's real refresh lock, recording each acquire and running the store's hooks."""

    def __init__(self, store: SpyStore, lock: Lock) -> None:
        self._store, self._lock = store, lock

    def acquire(self, **options: Any) -> bool:
        self._store.acquires.append(options)
        if self._store.before_acquire is not None:
            self._store.before_acquire()
        acquired = bool(self._lock.acquire(**options))
        if acquired and self._store.after_acquire is not None:
            self._store.after_acquire()
        return acquired

    def release(self) -> None:
        self._lock.release()


class SpyStore(TokenStore):
    """A TokenStore (fakeredis) whose refresh lock is a `SpyLock`."""

    def __init__(self, server: fakeredis.FakeServer) -> None:
        super().__init__(fakeredis.FakeRedis(server=server, decode_responses=True))
        self.acquires: list[dict[str, Any]] = []
        self.before_acquire: Hook | None = None  # another process, while we try for the lock
        self.after_acquire: Hook | None = None  # something happening once we hold it

    def lock(self) -> Lock:
        return cast(Lock, SpyLock(self, super().lock()))


@dataclass
class Calls:
    """One worker process's API calls through `auth`, and the Authorization each carried."""

    auth: RefreshingAuth
    fake: FakeKSeries
    sent: list[str | None] = field(default_factory=list)
    on_call: Hook | None = None  # runs once while an API call is in flight (before the answer)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != self.fake.token_path:
            self.sent.append(request.headers.get("Authorization"))
            if self.on_call is not None:
                hook, self.on_call = self.on_call, None
                hook()
        return self.fake.handle(request)

    def get(self) -> httpx.Response:
        transport = httpx.MockTransport(self.handle)
        with HttpClient(base_url=BASE, transport=transport, auth=self.auth) as http:
            return http.get(READINESS)


@dataclass
class Process(Calls):
    """`Calls` through an auth flow whose store is a `SpyStore`."""

    store: SpyStore = field(kw_only=True)


def process(
    fake: FakeKSeries,
    clock: Clock,
    server: fakeredis.FakeServer,
    *,
    initial: TokenPair | None = None,
    token_endpoint: TokenEndpoint | None = None,
) -> Process:
    store = SpyStore(server)
    auth = RefreshingAuth(
        settings(),
        store,
        endpoint=token_endpoint or endpoint(fake),
        clock=clock,
        initial=initial,
    )
    return Process(auth, fake, store=store)


def bearer(pair: TokenPair) -> str:
    return f"Bearer {pair.access}"


def unknown_age(pair: TokenPair) -> TokenPair:
    """The same tokens without any expiry (a configured pair)."""
    return TokenPair(pair.access, pair.refresh)


def refreshed(reason: str, pair: TokenPair, lifetime_s: float = 10.0) -> dict[str, Any]:
    """The exact `oauth.refreshed` line for `pair`."""
    assert pair.expires_at is not None and pair.refresh_expires_at is not None
    return {
        "event": "oauth.refreshed",
        "log_level": "info",
        "reason": reason,
        "expires_at": pair.expires_at.isoformat(),
        "refresh_expires_at": pair.refresh_expires_at.isoformat(),
        "lifetime_s": lifetime_s,
    }


WAITED = {"blocking": True, "blocking_timeout": 15.0}
NOT_WAITED = {"blocking": False, "blocking_timeout": 15.0}

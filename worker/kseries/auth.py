"""Bearer auth for K-Series with rotating, single-use refresh tokens shared through Redis.

One `RefreshingAuth` per token pair: each restaurant business's own, and the default pair
(`worker.kseries.routing` picks the one a call's location needs). What follows holds per pair.

Every process reads the current pair from Redis before each call. A pair is refreshed ahead of
expiry (min(60 s, 20 % of its lifetime) before it) and after a 401 (the call is then retried
once). With no calls at all, the sweepers' keepalive (`keep_alive`, once a minute) spends the
refresh token `KEEPALIVE_AHEAD` (2 days) before it expires (14 days unless the token endpoint
says), so a shop with no orders for weeks stays logged in. Refresh tokens are single-use, so
spending one is guarded three ways:

1. a Redis lock (lease `LOCK_LEASE_S`, well above the token call's own timeouts) serialises
   refreshes, and the pair is re-read under it: if it changed, someone else refreshed, use theirs;
2. a per-token claim (`SET NX` on a digest of the refresh token, never the token) is taken before
   the POST, so even a holder whose lock lease ran out (a stalled process) cannot race another;
3. the new pair is written with a compare-and-set on the refresh token it replaces.

A failed refresh writes nothing: the old pair stays. A refusal (`invalid_grant`) marks the token
dead so no process tries it again; `orderflow auth login` stores a new pair. When Redis cannot be
reached, calls go on with the last pair this process saw and nothing is refreshed.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncGenerator, Generator
from dataclasses import replace

import httpx
import redis
import structlog
from redis.exceptions import LockError

from config.settings import Settings
from worker.errors import KSeriesError
from worker.kseries.tokens import (
    DEFAULT_REFRESH_LIFETIME,
    LOCK_WAIT_S,
    Clock,
    Reason,
    TokenEndpoint,
    TokenPair,
    TokenRefused,
    TokenStore,
    iso_or_none,
    utcnow,
)

__all__ = [
    "RefreshingAuth",
    "TokenEndpoint",
    "TokenPair",
    "TokenRefused",
    "TokenStore",
    "auth_for",
]

log = structlog.get_logger(__name__)


class RefreshingAuth(httpx.Auth):
    """httpx auth flow: bearer from the shared store, refresh ahead of expiry and once on 401."""

    requires_request_body = True

    def __init__(
        self,
        settings: Settings,
        store: TokenStore,
        *,
        endpoint: TokenEndpoint | None = None,
        clock: Clock = utcnow,
        initial: TokenPair | None = None,
    ) -> None:
        self._store = store
        self._initial = initial  # the configured pair, stored if Redis has none
        self._endpoint = endpoint or TokenEndpoint(settings)
        self._clock = clock
        self._mutex = threading.Lock()
        self._last: TokenPair | None = None  # used while Redis cannot be reached
        self._unsaved: tuple[TokenPair, TokenPair] | None = None  # (spent, fresh) not yet stored

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        pair = self.current()
        now = self._clock()
        if pair is not None and pair.refresh_due(now):
            expired = pair.expired(now)
            pair = self._refresh(pair, wait=expired, reason="expired" if expired else "ahead")
        if pair is not None:
            _authorize(request, pair)
        response = yield request
        if response.status_code != 401 or pair is None:
            return
        fresh = self._after_401(pair)
        if fresh is None:
            return  # nothing better to try: the 401 stands
        _authorize(request, fresh)
        yield request

    def _after_401(self, used: TokenPair) -> TokenPair | None:
        """Another pair to retry with: one stored meanwhile, else a refreshed one, else None."""
        current = self.current()
        if current is not None and not current.same_grant(used):
            return current
        if used.young(self._clock()):
            return None  # a pair this fresh did not expire: refreshing would not help
        fresh = self._refresh(used, wait=True, reason="401")
        return None if fresh.same_grant(used) else fresh

    def keep_alive(self) -> TokenPair | None:
        """Refresh now if the refresh token is within KEEPALIVE_AHEAD of its expiry (or its age
        is unknown), whether or not any call is being made; the new pair, or None."""
        try:
            pair = self.current()
            if pair is None or not pair.keepalive_due(self._clock()):
                return None
            if self._store.refused(pair.refresh or ""):
                return None  # only a login helps; /readyz and the metric say so
        except redis.RedisError as exc:
            log.warning("oauth.keepalive_skipped", error=type(exc).__name__)
            return None
        fresh = self._refresh(pair, wait=False, reason="keepalive")
        return None if fresh.same_grant(pair) else fresh

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        raise NotImplementedError("RefreshingAuth does blocking Redis I/O: use httpx.Client")
        yield request  # pragma: no cover - makes this an async generator

    def current(self) -> TokenPair | None:
        """The stored pair (storing a refresh Redis missed first), else the last one seen."""
        try:
            self._flush_unsaved()
            pair = self._store.get()
            if pair is None and self._initial is not None:
                self._store.seed(self._initial)
                pair = self._store.get()
        except redis.RedisError as exc:
            log.warning("oauth.store_unreachable", error=type(exc).__name__)
            with self._mutex:
                return self._unsaved[1] if self._unsaved else self._last
        self._last = pair
        return pair

    def _flush_unsaved(self) -> None:
        with self._mutex:
            if self._unsaved is None:
                return
            spent, fresh = self._unsaved
            stored = self._store.replace(spent, fresh)
            self._unsaved = None
        log.info("oauth.saved_late", stored=stored)

    def _refresh(self, stale: TokenPair, *, wait: bool, reason: Reason) -> TokenPair:
        """The pair to use after trying to refresh `stale`; `stale` itself when nothing better."""
        try:
            lock = self._store.lock()
            acquired = lock.acquire(blocking=wait, blocking_timeout=LOCK_WAIT_S)
        except redis.RedisError as exc:
            log.warning("oauth.refresh_skipped", reason=reason, error=type(exc).__name__)
            return stale  # no lock, no refresh
        if not acquired:  # ahead of expiry someone else is on it; else we waited long enough
            return self.current() or stale
        try:
            return self._refresh_locked(stale, reason)
        except redis.RedisError as exc:
            log.warning("oauth.refresh_skipped", reason=reason, error=type(exc).__name__)
            return stale
        finally:
            try:
                lock.release()
            except (LockError, redis.RedisError):
                log.warning("oauth.lock_lost")

    def _refresh_locked(self, stale: TokenPair, reason: Reason) -> TokenPair:
        current = self._store.get()
        if current is None:
            return stale
        if not current.same_grant(stale):
            return current  # another process refreshed (or someone logged in) while we waited
        if not current.refresh or not self._store.claim(current.refresh):
            return current  # being spent elsewhere (a lock lease ran out), or refused before
        try:
            fresh = self._endpoint.refresh(current.refresh, self._clock())
            if fresh.refresh == current.refresh and fresh.refresh_expires_at is None:
                # Not rotated: the old refresh token's expiry stands (assumed, if unknown).
                kept = current.refresh_expires_at or self._clock() + DEFAULT_REFRESH_LIFETIME
                fresh = replace(fresh, refresh_expires_at=kept)
        except TokenRefused as exc:
            if exc.error == "invalid_grant":
                self._store.mark_refused(current.refresh)
            else:
                self._store.release(current.refresh)
            log.error("oauth.refresh_refused", reason=reason, status=exc.status, error=exc.error)
            return current
        except KSeriesError as exc:
            # Not sent, or no answer: either it was not spent, or the new pair is lost anyway.
            self._store.release(current.refresh)
            log.error("oauth.refresh_failed", reason=reason, error=str(exc))
            return current
        self._save(current, fresh)
        log.info(
            "oauth.refreshed",
            reason=reason,
            expires_at=iso_or_none(fresh.expires_at),
            refresh_expires_at=iso_or_none(fresh.refresh_expires_at),
            lifetime_s=fresh.lifetime.total_seconds() if fresh.lifetime else None,
        )
        return fresh

    def _save(self, spent: TokenPair, fresh: TokenPair) -> None:
        try:
            stored = self._store.replace(spent, fresh)
        except redis.RedisError as exc:
            # The old refresh token is spent: keep the new pair until Redis takes it.
            with self._mutex:
                self._unsaved = (spent, fresh)
            log.error("oauth.save_deferred", error=type(exc).__name__)
            return
        if not stored:
            log.warning("oauth.replaced_meanwhile")  # a login stored another pair: it wins


def _authorize(request: httpx.Request, pair: TokenPair) -> None:
    """Set (or, for the retry after a 401, replace) the request's bearer."""
    request.headers["Authorization"] = f"Bearer {pair.access}"


def auth_for(
    settings: Settings,
    client: redis.Redis,
    *,
    endpoint: TokenEndpoint | None = None,
    clock: Clock = utcnow,
) -> RefreshingAuth:
    """The default pair's auth flow (business unknown: a single-business deployment), seeding
    Redis from the configured tokens. `worker.kseries.routing` adds one per business."""
    store = TokenStore(client)
    initial = None
    if settings.kseries_access_token and settings.kseries_access_token.get_secret_value():
        refresh = settings.kseries_refresh_token
        initial = TokenPair(
            settings.kseries_access_token.get_secret_value(),
            refresh.get_secret_value() if refresh else None,
        )
        try:
            store.seed(initial)
        except redis.RedisError:
            log.warning("oauth.seed_deferred", reason="redis unavailable")
    return RefreshingAuth(settings, store, endpoint=endpoint, clock=clock, initial=initial)

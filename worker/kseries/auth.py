"""Bearer auth for K-Series with rotating, single-use refresh tokens shared through Redis.

Every process reads the current pair from Redis before each call. A pair is refreshed ahead of
expiry (min(60 s, 20 % of its lifetime) before it) and after a 401 (the call is then retried
once). Refresh tokens are single-use, so spending one is guarded three ways:

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

import hashlib
import json
import threading
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

import httpx
import redis
import structlog
from redis.exceptions import LockError
from redis.lock import Lock

from config.settings import Settings
from worker.constants import PREFIX
from worker.errors import AuthError, BadResponse, KSeriesError, ServerError, TransportError

__all__ = [
    "RefreshingAuth",
    "TokenEndpoint",
    "TokenPair",
    "TokenRefused",
    "TokenStore",
    "auth_for",
]

log = structlog.get_logger(__name__)

TOKENS_KEY = PREFIX + ":oauth:tokens"
LOCK_KEY = PREFIX + ":oauth:lock"
CLAIM_KEY = PREFIX + ":oauth:claim:{digest}"  # one per refresh token: being spent, or refused
TOKENS_TTL_S = 90 * 24 * 3600  # renewed on every write; a refresh token idle this long is dead
CLAIM_TTL_S = 60  # > lease + call timeouts; a spender that dies mid-call blocks it this long
REFUSED_TTL_S = 30 * 24 * 3600

DEFAULT_LIFETIME = timedelta(minutes=60)  # V1 answers may carry no `expires_in`
MAX_REFRESH_AHEAD = timedelta(seconds=60)
REFRESH_AHEAD_SHARE = 0.2
# A 401 this soon after a pair was obtained is not its expiry: no refresh for it.
MAX_YOUNG = timedelta(seconds=10)
# connect 3 s + write 5 s + read 5 s stays well inside the lock lease.
TOKEN_TIMEOUT = httpx.Timeout(5.0, connect=3.0)
LOCK_LEASE_S = 30.0
LOCK_WAIT_S = 15.0

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, repr=False)
class TokenPair:
    """An access token, its refresh token, and when the pair was obtained and expires (if known)."""

    access: str
    refresh: str | None = None
    expires_at: datetime | None = None
    obtained_at: datetime | None = None

    @property
    def lifetime(self) -> timedelta | None:
        if self.expires_at is None:
            return None
        if self.obtained_at is None:
            return DEFAULT_LIFETIME
        return max(self.expires_at - self.obtained_at, timedelta(0))

    @property
    def refresh_at(self) -> datetime | None:
        """When to refresh: min(60 s, 20 % of the lifetime) before expiry; None if unknown."""
        if self.expires_at is None or self.lifetime is None:
            return None
        return self.expires_at - min(MAX_REFRESH_AHEAD, self.lifetime * REFRESH_AHEAD_SHARE)

    def refresh_due(self, now: datetime) -> bool:
        return bool(self.refresh) and self.refresh_at is not None and now >= self.refresh_at

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def young(self, now: datetime) -> bool:
        """Obtained so recently that a 401 cannot mean it expired."""
        if self.obtained_at is None or self.lifetime is None:
            return False
        return now - self.obtained_at < min(MAX_YOUNG, self.lifetime * REFRESH_AHEAD_SHARE)

    def same_grant(self, other: TokenPair) -> bool:
        return self.access == other.access and self.refresh == other.refresh

    def to_json(self) -> str:
        return json.dumps(
            {
                "access": self.access,
                "refresh": self.refresh,
                "expires_at": _iso(self.expires_at),
                "obtained_at": _iso(self.obtained_at),
            }
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> TokenPair:
        data = json.loads(raw)
        return cls(
            data["access"],
            data.get("refresh"),
            _parse_iso(data.get("expires_at")),
            _parse_iso(data.get("obtained_at")),
        )

    def __repr__(self) -> str:  # never print a token
        refresh = "yes" if self.refresh else "no"
        return f"TokenPair(expires_at={_iso(self.expires_at)}, refresh={refresh})"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _parse_iso(raw: str | None) -> datetime | None:
    return datetime.fromisoformat(raw) if raw else None


def _digest(refresh: str) -> str:
    return hashlib.sha256(refresh.encode()).hexdigest()[:32]


class TokenStore:
    """The shared token pair in Redis, its refresh lock and per-token claims."""

    def __init__(self, client: redis.Redis) -> None:
        self._r = client

    def get(self) -> TokenPair | None:
        raw = self._r.get(TOKENS_KEY)
        return TokenPair.from_json(raw) if raw else None

    def put(self, pair: TokenPair) -> None:
        """Store a pair unconditionally (a login)."""
        self._r.set(TOKENS_KEY, pair.to_json(), ex=TOKENS_TTL_S)

    def seed(self, pair: TokenPair) -> bool:
        """Store the configured pair unless one is stored already (it may have rotated)."""
        return bool(self._r.set(TOKENS_KEY, pair.to_json(), ex=TOKENS_TTL_S, nx=True))

    def replace(self, expected: TokenPair, fresh: TokenPair) -> bool:
        """Store `fresh` only if `expected` is still the stored pair (compare-and-set)."""
        with self._r.pipeline() as pipe:
            try:
                pipe.watch(TOKENS_KEY)  # type: ignore[no-untyped-call]
                raw = pipe.get(TOKENS_KEY)
                current = TokenPair.from_json(raw) if raw else None
                if current is None or not current.same_grant(expected):
                    return False
                pipe.multi()
                pipe.set(TOKENS_KEY, fresh.to_json(), ex=TOKENS_TTL_S)
                pipe.execute()
            except redis.WatchError:
                return False
        return True

    def claim(self, refresh: str) -> bool:
        """Take the right to spend this refresh token; False if anyone ever took it."""
        key = CLAIM_KEY.format(digest=_digest(refresh))
        return bool(self._r.set(key, "spending", ex=CLAIM_TTL_S, nx=True))

    def release(self, refresh: str) -> None:
        """The token was surely not spent (the call failed): let a later refresh try it."""
        self._r.delete(CLAIM_KEY.format(digest=_digest(refresh)))

    def mark_refused(self, refresh: str) -> None:
        """The token endpoint refused this token: nobody tries it again."""
        self._r.set(CLAIM_KEY.format(digest=_digest(refresh)), "refused", ex=REFUSED_TTL_S)

    def refused(self, refresh: str) -> bool:
        raw = self._r.get(CLAIM_KEY.format(digest=_digest(refresh)))
        return raw in ("refused", b"refused")

    def lock(self) -> Lock:
        return cast(
            Lock, self._r.lock(LOCK_KEY, timeout=LOCK_LEASE_S, sleep=0.05, blocking_timeout=None)
        )


class TokenRefused(AuthError):
    """The token endpoint answered 4xx; `error` is the OAuth2 error code (`invalid_grant`...)."""

    def __init__(self, status: int, error: str, *, endpoint: str = "token") -> None:
        super().__init__(status, error, endpoint=endpoint)
        self.error = error


class TokenEndpoint:
    """The OAuth2 token endpoint: V1 `{base}/oauth/token` or the V2 realm URL (`token_url`)."""

    def __init__(self, settings: Settings, http: httpx.Client | None = None) -> None:
        self._settings = settings
        self._http = http  # None: a short-lived client per call (refreshes are rare)

    def redeem(self, code: str, redirect_uri: str, now: datetime) -> TokenPair:
        """Exchange an authorization code for a pair.

        Raises:
            TokenRefused: 4xx (a spent or wrong code, bad client credentials).
            TransportError, ServerError, BadResponse: the endpoint gave no usable answer.
        """
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        return self._post(form, now, previous_refresh=None)

    def refresh(self, refresh: str, now: datetime) -> TokenPair:
        """Spend a refresh token for a new pair (the old refresh token is then dead).

        Raises:
            TokenRefused: 4xx (`invalid_grant`: spent, expired or revoked token).
            TransportError, ServerError, BadResponse: the endpoint gave no usable answer.
        """
        form = {"grant_type": "refresh_token", "refresh_token": refresh}
        return self._post(form, now, previous_refresh=refresh)

    def _post(self, form: dict[str, str], now: datetime, previous_refresh: str | None) -> TokenPair:
        settings, auth = self._settings, None
        if settings.kseries_client_id and settings.kseries_client_secret:
            secret = settings.kseries_client_secret.get_secret_value()
            auth = httpx.BasicAuth(settings.kseries_client_id, secret)
        elif settings.kseries_client_id:  # a public client names itself in the form
            form = {**form, "client_id": settings.kseries_client_id}
        try:
            if self._http is not None:
                response = self._send(self._http, form, auth)
            else:
                with httpx.Client(timeout=TOKEN_TIMEOUT) as http:
                    response = self._send(http, form, auth)
        except httpx.TransportError as exc:
            sent = not isinstance(
                exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout
            )
            raise TransportError(
                f"token endpoint: {type(exc).__name__}{'' if sent else ' (not sent)'}",
                endpoint="token",
            ) from exc
        return _pair_from(response, now, previous_refresh)

    def _send(
        self, http: httpx.Client, form: dict[str, str], auth: httpx.Auth | None
    ) -> httpx.Response:
        response = http.post(
            self._settings.token_url,
            data=form,
            auth=auth or httpx.USE_CLIENT_DEFAULT,
            headers={"Accept": "application/json"},
        )
        response.read()
        return response


def _pair_from(response: httpx.Response, now: datetime, previous_refresh: str | None) -> TokenPair:
    status = response.status_code
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if 400 <= status < 500:
        error = body.get("error") if isinstance(body, dict) else None
        raise TokenRefused(status, str(error or f"HTTP {status}"))
    if status >= 500:
        raise ServerError(status, "token endpoint error", endpoint="token")
    if not (isinstance(body, dict) and isinstance(body.get("access_token"), str)):
        # The body may hold tokens: never put it in an error.
        raise BadResponse(status, "token answer without access_token", endpoint="token")
    expires_in = body.get("expires_in")
    lifetime = timedelta(seconds=int(expires_in)) if expires_in else DEFAULT_LIFETIME
    # RFC 6749 6: no new refresh token in the answer means the old one stays valid.
    refresh = body.get("refresh_token") or previous_refresh
    return TokenPair(body["access_token"], refresh, now + lifetime, now)


Reason = Literal["ahead", "expired", "401"]


class RefreshingAuth(httpx.Auth):
    """httpx auth flow: bearer from the shared store, refresh ahead of expiry and once on 401."""

    requires_request_body = True

    def __init__(
        self,
        settings: Settings,
        store: TokenStore,
        *,
        endpoint: TokenEndpoint | None = None,
        clock: Clock = _utcnow,
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
            request.headers["Authorization"] = f"Bearer {pair.access}"
        response = yield request
        if response.status_code != 401 or pair is None:
            return
        fresh = self._after_401(pair)
        if fresh is None:
            return  # nothing better to try: the 401 stands
        request.headers["Authorization"] = f"Bearer {fresh.access}"
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
            expires_at=_iso(fresh.expires_at),
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


def auth_for(
    settings: Settings, client: redis.Redis, *, endpoint: TokenEndpoint | None = None
) -> httpx.Auth:
    """The auth flow for this deployment, seeding Redis from the configured tokens."""
    store = TokenStore(client)
    initial = None
    if settings.kseries_access_token is not None:
        refresh = settings.kseries_refresh_token
        initial = TokenPair(
            settings.kseries_access_token.get_secret_value(),
            refresh.get_secret_value() if refresh else None,
        )
        try:
            store.seed(initial)
        except redis.RedisError:
            log.warning("oauth.seed_deferred", reason="redis unavailable")
    return RefreshingAuth(settings, store, endpoint=endpoint, initial=initial)

"""Bearer auth for K-Series with rotating, single-use refresh tokens shared through Redis.

Every process reads the current pair from Redis. A refresh (ahead of expiry, or after a 401)
happens under a Redis lock and re-reads the pair first, so however many workers race, each
refresh token is spent once; a failed refresh leaves the stored pair untouched.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from typing import cast

import httpx
import redis
import structlog
from redis.lock import Lock

from config.settings import Settings
from worker.constants import PREFIX
from worker.errors import AuthError

__all__ = ["RefreshingAuth", "TokenPair", "TokenStore", "auth_for"]

log = structlog.get_logger(__name__)
TOKENS_KEY = PREFIX + ":oauth:tokens"
LOCK_KEY = PREFIX + ":oauth:lock"
REFRESH_AHEAD = timedelta(seconds=60)


class TokenPair:
    """An access token, its refresh token and when the access token expires (if known)."""

    def __init__(
        self, access: str, refresh: str | None = None, expires_at: datetime | None = None
    ) -> None:
        self.access, self.refresh, self.expires_at = access, refresh, expires_at

    def to_json(self) -> str:
        expires = self.expires_at.isoformat() if self.expires_at else None
        return json.dumps({"access": self.access, "refresh": self.refresh, "expires_at": expires})

    @classmethod
    def from_json(cls, raw: str) -> TokenPair:
        data = json.loads(raw)
        expires = datetime.fromisoformat(data["expires_at"]) if data.get("expires_at") else None
        return cls(data["access"], data.get("refresh"), expires)

    def __repr__(self) -> str:  # never print a token
        return (
            f"TokenPair(expires_at={self.expires_at!r}, refresh={'yes' if self.refresh else 'no'})"
        )


class TokenStore:
    """The shared token pair in Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self._r = client

    def get(self) -> TokenPair | None:
        raw = self._r.get(TOKENS_KEY)
        return TokenPair.from_json(str(raw)) if raw else None

    def put(self, pair: TokenPair) -> None:
        self._r.set(TOKENS_KEY, pair.to_json())

    def seed(self, pair: TokenPair) -> None:
        """Store the configured pair unless one is stored already (it may have rotated)."""
        self._r.set(TOKENS_KEY, pair.to_json(), nx=True)

    def lock(self) -> Lock:
        return cast(Lock, self._r.lock(LOCK_KEY, timeout=30, blocking_timeout=30))


def exchange(settings: Settings, form: dict[str, str], now: datetime) -> TokenPair:
    """POST the token endpoint (V1 `{base}/oauth/token` or the V2 realm URL).

    Raises:
        AuthError: the endpoint refused the grant.
    """
    auth: httpx.Auth | None = None
    if settings.kseries_client_id and settings.kseries_client_secret:
        auth = httpx.BasicAuth(
            settings.kseries_client_id, settings.kseries_client_secret.get_secret_value()
        )
    with httpx.Client(timeout=10.0, auth=auth) as http:
        response = http.post(settings.token_url, data=form)
    if response.status_code != 200:
        raise AuthError(response.status_code, response.text, endpoint="token")
    body = response.json()
    expires_in = body.get("expires_in")
    expires_at = (
        now + timedelta(seconds=int(expires_in)) if expires_in else now + timedelta(minutes=60)
    )
    return TokenPair(
        body["access_token"], body.get("refresh_token") or form.get("refresh_token"), expires_at
    )


class RefreshingAuth(httpx.Auth):
    """httpx auth flow: bearer from the shared store, refresh ahead of expiry and once on 401."""

    def __init__(self, settings: Settings, store: TokenStore) -> None:
        self._settings = settings
        self._store = store

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        pair = self._store.get()
        now = datetime.now(UTC)
        if pair and pair.refresh and pair.expires_at and pair.expires_at - REFRESH_AHEAD <= now:
            pair = self._refresh(pair)
        if pair:
            request.headers["Authorization"] = f"Bearer {pair.access}"
        response = yield request
        if response.status_code == 401 and pair and pair.refresh:
            fresh = self._refresh(pair)
            request.headers["Authorization"] = f"Bearer {fresh.access}"
            yield request

    def _refresh(self, stale: TokenPair) -> TokenPair:
        with self._store.lock():
            current = self._store.get()
            if current and current.access != stale.access:
                return current  # another process refreshed while we waited
            if current is None or not current.refresh:
                return stale
            form = {"grant_type": "refresh_token", "refresh_token": current.refresh}
            try:
                fresh = exchange(self._settings, form, datetime.now(UTC))
            except (AuthError, httpx.HTTPError) as exc:
                log.error("oauth.refresh_failed", error=type(exc).__name__)
                return current
            self._store.put(fresh)
            log.info(
                "oauth.refreshed",
                expires_at=fresh.expires_at.isoformat() if fresh.expires_at else None,
            )
            return fresh


def auth_for(settings: Settings, client: redis.Redis) -> httpx.Auth:
    """The auth flow for this deployment, seeding Redis from the configured tokens."""
    store = TokenStore(client)
    if settings.kseries_access_token is not None:
        refresh = settings.kseries_refresh_token
        pair = TokenPair(
            settings.kseries_access_token.get_secret_value(),
            refresh.get_secret_value() if refresh else None,
            None,
        )
        try:
            store.seed(pair)
        except redis.RedisError:
            log.warning("oauth.seed_deferred", reason="redis unavailable")
    return RefreshingAuth(settings, store)

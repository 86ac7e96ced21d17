"""The shared OAuth2 token pair: its Redis store, the token endpoint, and a refused token.

See `worker.kseries.auth` for how refreshes are serialised across processes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

import httpx
import redis
import structlog
from redis.lock import Lock

from config.settings import Settings
from worker.constants import PREFIX
from worker.errors import AuthError, BadResponse, ServerError, TransportError

__all__ = ["TokenEndpoint", "TokenPair", "TokenRefused", "TokenStore"]

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


def utcnow() -> datetime:
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
                "expires_at": iso_or_none(self.expires_at),
                "obtained_at": iso_or_none(self.obtained_at),
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
        return f"TokenPair(expires_at={iso_or_none(self.expires_at)}, refresh={refresh})"


def iso_or_none(moment: datetime | None) -> str | None:
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

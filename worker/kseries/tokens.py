"""The shared OAuth2 token pairs: their Redis store, the token endpoint, and a refused token.

One pair per restaurant business that logged in (`worker.kseries.logins` knows which locations
each covers), plus the default pair of a deployment whose business is unknown (the configured
tokens, or a login from before businesses were listed): the same key as before businesses, so an
existing pair keeps working. See `worker.kseries.auth` for how refreshes are serialised.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
import redis
import structlog
from redis.lock import Lock

from config.settings import Settings
from worker.constants import PREFIX
from worker.errors import AuthError, BadResponse, ServerError, TransportError
from worker.kseries.businesses import BUSINESSES_PATH, Bearer, ListedBusiness, list_businesses

__all__ = [
    "DEFAULT_BUSINESS",
    "DEFAULT_REFRESH_LIFETIME",
    "KEEPALIVE_AHEAD",
    "TokenEndpoint",
    "TokenPair",
    "TokenRefused",
    "TokenStore",
    "claim_key",
]

log = structlog.get_logger(__name__)

TOKENS_KEY = PREFIX + ":oauth:tokens"  # the default pair (business unknown)
LOCK_KEY = PREFIX + ":oauth:lock"
BUSINESS_TOKENS_KEY = PREFIX + ":oauth:tokens:{business}"  # the pair of one business
BUSINESS_LOCK_KEY = PREFIX + ":oauth:lock:{business}"
DEFAULT_BUSINESS = "default"  # how the default pair is named (metrics, `orderflow auth status`)
CLAIM_KEY = PREFIX + ":oauth:claim:{digest}"  # one per refresh token: being spent, or refused
TOKENS_TTL_S = 90 * 24 * 3600  # renewed on every write; a refresh token idle this long is dead
CLAIM_TTL_S = 60  # > lease + call timeouts; a spender that dies mid-call blocks it this long
REFUSED_TTL_S = 30 * 24 * 3600

DEFAULT_LIFETIME = timedelta(minutes=60)  # V1 answers may carry no `expires_in`
# K-Series refresh tokens live 14 days unless the answer says (`refresh_expires_in`); the
# keepalive spends one this long before it expires, traffic or not.
DEFAULT_REFRESH_LIFETIME = timedelta(days=14)
KEEPALIVE_AHEAD = timedelta(days=2)
MAX_LIFETIME_S = 366 * 24 * 3600  # a longer lifetime from the token endpoint is nonsense
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
    refresh_expires_at: datetime | None = None  # None: unknown (a configured token)

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

    def keepalive_due(self, now: datetime) -> bool:
        """The refresh token expires within KEEPALIVE_AHEAD, or its age is unknown (a
        configured token): spend it now, while it still works."""
        if not self.refresh:
            return False
        expiry = self.refresh_expires_at
        if expiry is None and self.obtained_at is not None:  # stored before expiry was kept
            expiry = self.obtained_at + DEFAULT_REFRESH_LIFETIME
        return expiry is None or now >= expiry - KEEPALIVE_AHEAD

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
                "refresh_expires_at": iso_or_none(self.refresh_expires_at),
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
            _parse_iso(data.get("refresh_expires_at")),
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


def claim_key(refresh: str) -> str:
    """The claim of a refresh token ("spending" or "refused"), named by a digest of it."""
    return CLAIM_KEY.format(digest=_digest(refresh))


class TokenStore:
    """One shared token pair in Redis (a business's, or the default one), its refresh lock and
    per-token claims (claims are per refresh token, whoever holds it)."""

    def __init__(self, client: redis.Redis, business_id: int | None = None) -> None:
        self._r = client
        self.business_id = business_id  # None: the default pair
        self.key = (
            TOKENS_KEY if business_id is None else BUSINESS_TOKENS_KEY.format(business=business_id)
        )
        self._lock_key = (
            LOCK_KEY if business_id is None else BUSINESS_LOCK_KEY.format(business=business_id)
        )

    @property
    def client(self) -> redis.Redis:
        return self._r

    @property
    def label(self) -> str:
        """The business id, or "default": never a token."""
        return DEFAULT_BUSINESS if self.business_id is None else str(self.business_id)

    def get(self) -> TokenPair | None:
        raw = self._r.get(self.key)
        return TokenPair.from_json(raw) if raw else None

    def put(self, pair: TokenPair) -> None:
        """Store a pair unconditionally (a login)."""
        self._r.set(self.key, pair.to_json(), ex=TOKENS_TTL_S)

    def seed(self, pair: TokenPair) -> bool:
        """Store the configured pair unless one is stored already (it may have rotated)."""
        return bool(self._r.set(self.key, pair.to_json(), ex=TOKENS_TTL_S, nx=True))

    def replace(self, expected: TokenPair, fresh: TokenPair) -> bool:
        """Store `fresh` only if `expected` is still the stored pair (compare-and-set)."""
        with self._r.pipeline() as pipe:
            try:
                pipe.watch(self.key)  # type: ignore[no-untyped-call]
                raw = pipe.get(self.key)
                current = TokenPair.from_json(raw) if raw else None
                if current is None or not current.same_grant(expected):
                    return False
                pipe.multi()
                pipe.set(self.key, fresh.to_json(), ex=TOKENS_TTL_S)
                pipe.execute()
            except redis.WatchError:
                return False
        return True

    def claim(self, refresh: str) -> bool:
        """Take the right to spend this refresh token; False if anyone ever took it."""
        return bool(self._r.set(claim_key(refresh), "spending", ex=CLAIM_TTL_S, nx=True))

    def release(self, refresh: str) -> None:
        """The token was surely not spent (the call failed): let a later refresh try it."""
        self._r.delete(claim_key(refresh))

    def mark_refused(self, refresh: str) -> None:
        """The token endpoint refused this token: nobody tries it again."""
        self._r.set(claim_key(refresh), "refused", ex=REFUSED_TTL_S)

    def refused(self, refresh: str) -> bool:
        return is_refused(self._r.get(claim_key(refresh)))

    def refused_now(self) -> bool:
        """K-Series refused the stored refresh token: no call will work until a login.
        False when Redis cannot say (the calls themselves will tell)."""
        try:
            pair = self.get()
            return bool(pair and pair.refresh and self.refused(pair.refresh))
        except redis.RedisError:
            return False

    def lock(self) -> Lock:
        """The refresh lock, leased for LOCK_LEASE_S (its holder may die); each `acquire` says
        how long it waits."""
        lock: Lock = self._r.lock(self._lock_key, timeout=LOCK_LEASE_S, sleep=0.05)
        return lock


def is_refused(claim: str | bytes | None) -> bool:
    """Whether a claim's value says the token endpoint refused the token."""
    return claim in ("refused", b"refused")


class TokenRefused(AuthError):
    """The token endpoint answered 4xx; `error` is the OAuth2 error code (`invalid_grant`...)."""

    def __init__(self, status: int, error: str, *, endpoint: str = "token") -> None:
        super().__init__(status, error, endpoint=endpoint)
        self.error = error


class TokenEndpoint:
    """The OAuth2 token endpoint: V1 `{base}/oauth/token` or the V2 realm URL (`token_url`);
    and, for a pair it just issued, which businesses that pair acts for (`businesses`)."""

    def __init__(self, settings: Settings, http: httpx.Client | None = None) -> None:
        self._settings = settings
        self._http = http  # None: a short-lived client per call (refreshes are rare)

    def businesses(self, access: str) -> list[ListedBusiness]:
        """Which businesses a pair just obtained acts for (`GET /o/op/data/businesses`).

        Raises:
            BusinessesUnknown: K-Series does not say; KSeriesError: no usable answer.
        """
        url = f"{self._settings.kseries_base_url.rstrip('/')}{BUSINESSES_PATH}"
        if self._http is not None:
            return list_businesses(self._http, url, Bearer(access))
        with httpx.Client(timeout=TOKEN_TIMEOUT) as http:
            return list_businesses(http, url, Bearer(access))

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
    status, body = response.status_code, _json_or_none(response)
    if 400 <= status < 500:
        error = body.get("error") if isinstance(body, dict) else None
        raise TokenRefused(status, str(error or f"HTTP {status}"))
    if status >= 500:
        raise ServerError(status, "", endpoint="token")  # the status says it all
    if not (isinstance(body, dict) and isinstance(body.get("access_token"), str)):
        # The body may hold tokens: never put it in an error.
        raise BadResponse(status, "no_access_token", endpoint="token")
    lifetime = _lifetime(body.get("expires_in"), DEFAULT_LIFETIME)
    # RFC 6749 6: no new refresh token in the answer means the old one stays valid (its expiry
    # is then unknown here: the caller keeps the one it knew).
    refresh = body.get("refresh_token") or previous_refresh
    refresh_expires_at = None
    if body.get("refresh_token"):
        refresh_lifetime = _lifetime(body.get("refresh_expires_in"), DEFAULT_REFRESH_LIFETIME)
        refresh_expires_at = now + refresh_lifetime
    return TokenPair(body["access_token"], refresh, now + lifetime, now, refresh_expires_at)


def _json_or_none(response: httpx.Response) -> Any:
    """The answer's JSON; None when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def _lifetime(value: Any, default: timedelta) -> timedelta:
    """A lifetime in seconds from the token endpoint; `default` when absent, zero or nonsense."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return default
    try:
        seconds = float(value)
    except ValueError:
        return default
    return timedelta(seconds=seconds) if 0 < seconds <= MAX_LIFETIME_S else default


Reason = Literal["ahead", "expired", "401", "keepalive"]

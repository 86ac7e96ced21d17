"""Every K-Series call on the tokens of the business that owns its location.

`BusinessAuth.for_location(bl)` is the httpx auth of one call (`KSeriesClient` asks for it per
request): the `RefreshingAuth` of the login covering the location (`Logins.covering`), so each
business's pair rotates under its own lock and claims, with every guarantee of
`worker.kseries.auth`, and one business's refused tokens touch no other business's calls.

The sweepers' keepalive pass (`keep_alive`, once a minute) keeps every pair alive and reads each
business list again every `LIST_EVERY`; a `403` for a location reads that business's list again
at once (at most every `RELIST_AFTER_403_S`), so a location added to or moved between businesses
is picked up.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncGenerator, Callable, Generator
from datetime import timedelta
from functools import partial

import httpx
import redis
import structlog

from config.settings import Settings
from worker.errors import KSeriesError
from worker.kseries.auth import RefreshingAuth, auth_for
from worker.kseries.businesses import BUSINESSES_PATH, list_businesses
from worker.kseries.logins import Login, Logins
from worker.kseries.tokens import Clock, TokenEndpoint, TokenStore, utcnow

__all__ = ["LIST_EVERY", "RELIST_AFTER_403_S", "BusinessAuth", "default_configured"]

log = structlog.get_logger(__name__)

LIST_EVERY = timedelta(minutes=5)  # how old a business list may get before it is read again
LIST_CLAIM_S = 60.0  # one sweeper reads a given list per pass
RELIST_AFTER_403_S = 30.0
LIST_TIMEOUT = httpx.Timeout(5.0, connect=3.0)


def default_configured(settings: Settings) -> bool:
    """ORDERFLOW_KSERIES_ACCESS_TOKEN is set: a default pair covers what no login lists."""
    token = settings.kseries_access_token
    return token is not None and bool(token.get_secret_value())


class BusinessAuth:
    """The auth of every business for one process: per location, per business, keepalive."""

    def __init__(
        self,
        settings: Settings,
        client: redis.Redis,
        *,
        logins: Logins | None = None,
        endpoint: TokenEndpoint | None = None,
        http: httpx.Client | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self._settings = settings
        self.logins = logins or Logins(client, default_configured=default_configured(settings))
        self._endpoint = endpoint or TokenEndpoint(settings)
        self._http = http  # for the business lists; None: one made on first use
        self._clock = clock
        self.default = auth_for(settings, client, endpoint=self._endpoint, clock=clock)
        self._auths: dict[int, RefreshingAuth] = {}
        self._watched: dict[int, httpx.Auth] = {}
        self._last_route: dict[int, TokenStore | None] = {}  # used while Redis cannot say
        self._mutex = threading.Lock()

    # --- per call -----------------------------------------------------------------------------

    def for_business(self, business_id: int | None) -> RefreshingAuth:
        """The auth of one business's pair (None: the default pair)."""
        if business_id is None:
            return self.default
        with self._mutex:
            auth = self._auths.get(business_id)
            if auth is None:
                store = self.logins.store(business_id)
                auth = RefreshingAuth(
                    self._settings, store, endpoint=self._endpoint, clock=self._clock
                )
                self._auths[business_id] = auth
            return auth

    def for_location(self, business_location_id: int) -> httpx.Auth | None:
        """The auth for a call about this location; None when no login covers it."""
        store = self._route(business_location_id)
        if store is None:
            return None
        if store.business_id is None:
            return self.default
        business_id = store.business_id
        with self._mutex:
            watched = self._watched.get(business_id)
        if watched is None:
            inner = self.for_business(business_id)
            watched = _WatchForbidden(inner, partial(self._after_forbidden, business_id))
            with self._mutex:
                self._watched[business_id] = watched
        return watched

    def refused_for(self, business_location_id: int) -> bool:
        """K-Series refused the refresh token of the business owning this location: its calls
        cannot work until that business logs in again (other businesses go on)."""
        store = self._route(business_location_id)
        return store is not None and store.refused_now()

    def _route(self, business_location_id: int) -> TokenStore | None:
        try:
            store = self.logins.covering(business_location_id)
        except redis.RedisError as exc:
            log.warning("oauth.route_unknown", error=type(exc).__name__)
            if business_location_id in self._last_route:
                return self._last_route[business_location_id]
            return self.logins.store(None) if self.logins.default_configured else None
        self._last_route[business_location_id] = store
        return store

    # --- keepalive and business lists ---------------------------------------------------------

    def keep_alive(self) -> int:
        """One keepalive pass: every pair refreshed when its refresh token nears expiry, every
        business list due read again. Returns how many pairs were refreshed."""
        try:
            logins = self.logins.all()
        except redis.RedisError as exc:
            log.warning("oauth.keepalive_skipped", error=type(exc).__name__)
            logins = []
        refreshed = 0
        for business_id in [None, *(x.business_id for x in logins)]:
            try:  # one business's trouble never stops another's keepalive
                refreshed += self.for_business(business_id).keep_alive() is not None
            except Exception as exc:
                log.error(
                    "oauth.keepalive_failed", business_id=business_id, error=type(exc).__name__
                )
        for login in logins:
            if self._clock() - login.listed_at < LIST_EVERY:
                continue
            try:
                due = self.logins.claim_listing(login.business_id, LIST_CLAIM_S)
            except redis.RedisError:
                continue
            if due:
                self.relist(login.business_id)
        return refreshed

    def relist(self, business_id: int) -> Login | None:
        """Read a business's list again with its own tokens; its login as stored now, or None
        when nothing changed (no answer, an empty list, refused tokens, logged out)."""
        url = f"{self._settings.kseries_base_url.rstrip('/')}{BUSINESSES_PATH}"
        try:
            if self.logins.store(business_id).refused_now():
                return None  # only a login helps
            listing = list_businesses(self._listing_http(), url, self.for_business(business_id))
            if not any(b.businessLocations for b in listing):
                # A glitch must not uncover every location at once: keep what is known.
                log.warning("oauth.relist_empty", business_id=business_id)
                return None
            login = self.logins.relisted(business_id, listing, self._clock())
        except (KSeriesError, redis.RedisError) as exc:
            log.warning("oauth.relist_failed", business_id=business_id, error=str(exc))
            return None
        if login is not None:
            log.info("oauth.relisted", business_id=business_id, locations=len(login.locations))
        return login

    def _after_forbidden(self, business_id: int) -> None:
        """A 403 for a location: the business list may have changed; read it (rarely)."""
        try:
            if not self.logins.claim_listing(business_id, RELIST_AFTER_403_S):
                return
        except redis.RedisError:
            return
        self.relist(business_id)

    def _listing_http(self) -> httpx.Client:
        with self._mutex:
            if self._http is None:
                self._http = httpx.Client(timeout=LIST_TIMEOUT)
            return self._http


class _WatchForbidden(httpx.Auth):
    """A business's auth flow that reports a final `403` (the location is not the business's,
    or no longer): the business list is then read again."""

    requires_request_body = True

    def __init__(self, inner: RefreshingAuth, on_forbidden: Callable[[], None]) -> None:
        self._inner, self._on_forbidden = inner, on_forbidden

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        flow = self._inner.sync_auth_flow(request)
        request = next(flow)
        while True:
            response = yield request
            try:
                request = flow.send(response)
            except StopIteration:
                break
        if response.status_code == 403:
            try:
                self._on_forbidden()
            except Exception as exc:  # the call's own answer stands
                log.warning("oauth.relist_failed", error=type(exc).__name__)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        raise NotImplementedError("BusinessAuth does blocking Redis I/O: use httpx.Client")
        yield request  # pragma: no cover - makes this an async generator

"""Logging in to K-Series: the OAuth2 authorization-code grant behind `orderflow auth login`.

1. `authorize_url()` builds the page a person opens (response_type=code, client_id,
   redirect_uri, scope, a random state);
2. the authorization server redirects the browser to the redirect URI with `code` and `state`:
   `listen_for_code()` answers that one request on the URI's host and port, or the person pastes
   the code (or the whole redirected URL) and `code_from_paste()` reads it;
3. `log_in()` exchanges the code at the token endpoint (client credentials via HTTP Basic),
   reads which restaurant business the new pair acts for (`GET /o/op/data/businesses`) and
   stores it under that business, with its locations, where every worker reads it (`Logins`).
   Each business logs in once; a second login for the same business replaces its pair.

`status()` reports every business (locations, expiry, refused or not), never a token;
`log_out()` forgets one.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from config.settings import Settings
from worker.errors import KSeriesError, OrderflowError
from worker.kseries.auth import TokenEndpoint, TokenPair, TokenStore
from worker.kseries.businesses import BusinessesUnknown, ListedBusiness
from worker.kseries.logins import Login, Logins, LoginState
from worker.kseries.tokens import DEFAULT_BUSINESS

__all__ = [
    "AuthStatus",
    "Logged",
    "LoginError",
    "authorize_url",
    "code_from_paste",
    "listen_for_code",
    "log_in",
    "log_out",
    "new_state",
    "redeem",
    "status",
    "statuses",
]

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
LISTEN_TIMEOUT_S = 300.0
LIST_TRIES = 3  # reads of a new pair's business list (1 s, 2 s apart) before the login fails


class LoginError(OrderflowError):
    """The login did not produce a code: refused, wrong state, or nobody came back in time."""


def new_state() -> str:
    """An unguessable `state`, to tie the redirect to this login."""
    return secrets.token_urlsafe(24)


def authorize_url(settings: Settings, state: str) -> str:
    """The page to open: V1 `{base}/oauth/authorize` or the V2 realm's `/auth` (Settings)."""
    if not settings.kseries_client_id:
        raise LoginError("ORDERFLOW_KSERIES_CLIENT_ID is not set")
    query = urlencode(
        {
            "response_type": "code",
            "client_id": settings.kseries_client_id,
            "redirect_uri": settings.kseries_redirect_uri,
            "scope": settings.kseries_scopes,
            "state": state,
        }
    )
    base = settings.authorize_url
    return f"{base}{'&' if '?' in base else '?'}{query}"


def _code_from_query(query: str, state: str | None) -> str:
    params = {k: v[0] for k, v in parse_qs(query).items()}
    if "error" in params:
        raise LoginError(
            f"authorization refused: {params['error']} {params.get('error_description', '')}".strip()
        )
    if state is not None and not hmac.compare_digest(params.get("state", ""), state):
        raise LoginError("the redirect's state does not match this login: start again")
    code = params.get("code", "")
    if not code:
        raise LoginError("the redirect carries no code")
    return code


def code_from_paste(text: str, state: str | None) -> str:
    """The code from what a person pasted: the code itself or the whole redirected URL."""
    text = text.strip()
    if "code=" in text or "error=" in text:
        query = urlsplit(text).query if "?" in text else text
        params = parse_qs(query)
        # A pasted URL without state is accepted: the person saw it come back.
        return _code_from_query(query, state if "state" in params else None)
    if not text:
        raise LoginError("no code given")
    return text


class _Callback(BaseHTTPRequestHandler):
    server: _CallbackServer

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != self.server.expected_path:
            self._answer(404, "Not the orderflow login callback.")
            return
        try:
            self.server.code = _code_from_query(parts.query, self.server.state)
        except LoginError as exc:
            self.server.error = exc
            self._answer(400, f"orderflow login failed: {exc}")
            return
        self._answer(200, "orderflow is logged in to K-Series. You can close this tab.")

    def _answer(self, status: int, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the request line carries the code."""


class _CallbackServer(HTTPServer):
    def __init__(self, address: tuple[str, int], expected_path: str, state: str) -> None:
        super().__init__(address, _Callback)
        self.expected_path, self.state = expected_path, state
        self.code: str | None = None
        self.error: LoginError | None = None


def listen_for_code(
    redirect_uri: str,
    state: str,
    *,
    timeout_s: float = LISTEN_TIMEOUT_S,
    on_ready: Callable[[], None] | None = None,
) -> str:
    """Serve the redirect URI's host and port until the redirect arrives, then return its code.

    Raises:
        LoginError: an https or non-local redirect URI, a refusal, a wrong state, or a timeout.
    """
    parts = urlsplit(redirect_uri)
    if parts.scheme != "http" or parts.hostname is None:
        raise LoginError(f"cannot listen on {redirect_uri}: only a plain http URI; use --paste")
    host = "127.0.0.1" if parts.hostname == "localhost" else parts.hostname
    if host not in LOOPBACK:
        raise LoginError(f"{redirect_uri} is not on this machine's loopback: use --paste")
    try:
        server = _CallbackServer((host, parts.port or 80), parts.path or "/", state)
    except OSError as exc:
        raise LoginError(f"cannot listen on {host}:{parts.port or 80}: {exc.strerror}") from exc
    deadline = time.monotonic() + timeout_s
    with server:
        if on_ready:
            on_ready()
        while server.code is None and server.error is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LoginError(f"no redirect to {redirect_uri} within {timeout_s:.0f} s")
            server.timeout = left
            server.handle_request()
    if server.code is None:
        raise server.error or LoginError("no code")
    return server.code


@dataclass(frozen=True)
class Logged:
    """What a login stored: the pair, and the business it is stored under (None: K-Series did
    not say which, so it is the default pair); `replaced`: earlier logins it replaced, by id."""

    pair: TokenPair = field(repr=False)
    login: Login | None
    replaced: tuple[int, ...] = ()


def log_in(
    settings: Settings,
    store: TokenStore,
    code: str,
    *,
    endpoint: TokenEndpoint | None = None,
    now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Logged:
    """Exchange the code for a pair, read which business it acts for (`GET
    /o/op/data/businesses`) and store the pair under that business for every worker (replacing
    that business's older pair). When K-Series does not say (no such route), the pair becomes
    the default pair, covering every location no other login lists, as before businesses.

    Raises:
        TokenRefused: the code was refused (spent, expired, wrong redirect URI or client).
        TransportError, ServerError, BadResponse: the token endpoint gave no usable answer.
        LoginError: the business list could not be read, or names no business (nothing stored).
    """
    endpoint = endpoint or TokenEndpoint(settings)
    now = now or datetime.now(UTC)
    pair = endpoint.redeem(code, settings.kseries_redirect_uri, now)
    listing = _businesses(endpoint, pair, sleep)
    if listing is None:
        store.put(pair)  # `store`: the default pair's
        return Logged(pair, None)
    login = Login.from_listing(listing, now)
    replaced = Logins(store.client).save(login, pair)
    return Logged(pair, login, tuple(x for x in replaced if x != login.business_id))


def redeem(
    settings: Settings,
    store: TokenStore,
    code: str,
    *,
    endpoint: TokenEndpoint | None = None,
    now: datetime | None = None,
) -> TokenPair:
    """`log_in`, returning the pair it stored."""
    return log_in(settings, store, code, endpoint=endpoint, now=now).pair


def _businesses(
    endpoint: TokenEndpoint, pair: TokenPair, sleep: Callable[[float], None]
) -> list[ListedBusiness] | None:
    """The businesses a new pair acts for; None when K-Series does not say."""
    for attempt in range(LIST_TRIES):
        try:
            listing = endpoint.businesses(pair.access)
        except BusinessesUnknown:
            return None
        except KSeriesError as exc:
            if exc.retryable and attempt + 1 < LIST_TRIES:
                sleep(2.0**attempt)
                continue
            raise LoginError(
                f"the token was issued, but which business it acts for could not be read "
                f"({exc}): nothing stored; log in again"
            ) from exc
        if not listing:
            raise LoginError("K-Series lists no business for this login: nothing stored")
        return listing
    raise AssertionError("unreachable")  # pragma: no cover


def log_out(store: TokenStore, business: str) -> bool:
    """Forget a business's login (`default`: the default pair); False if there was none.

    Raises:
        LoginError: `business` is neither a business id nor `default`.
    """
    logins = Logins(store.client)
    if business == DEFAULT_BUSINESS:
        return logins.forget(None)
    if not business.isdigit():
        raise LoginError(f"{business!r} is not a business id (nor `{DEFAULT_BUSINESS}`)")
    return logins.forget(int(business))


@dataclass(frozen=True)
class AuthStatus:
    """What is stored for one business (or the default pair), without the tokens."""

    stored: bool
    expires_at: datetime | None = None
    seconds_left: float | None = None
    obtained_at: datetime | None = None
    has_refresh_token: bool = False
    refresh_refused: bool = False
    refresh_expires_at: datetime | None = None
    business_id: str = DEFAULT_BUSINESS
    name: str | None = None
    locations: tuple[int, ...] | None = None  # None: every location no login lists

    def lines(self) -> list[str]:
        if self.business_id == DEFAULT_BUSINESS:
            head = "default pair (business unknown): covers every location no login lists"
        else:
            covered = ", ".join(map(str, self.locations or ())) or "none"
            head = f"business {self.business_id} ({self.name}): locations {covered}"
        if not self.stored:
            return [head, "  configured (ORDERFLOW_KSERIES_ACCESS_TOKEN): stored at its first use"]
        left = f"{self.seconds_left:.0f} s" if self.seconds_left is not None else "unknown"
        expiry = self.expires_at.isoformat() if self.expires_at else "unknown (a configured token)"
        lines = [
            head,
            f"  access token expires: {expiry} (in {left})",
            f"  obtained: {self.obtained_at.isoformat() if self.obtained_at else 'unknown'}",
            f"  refresh token: {'yes' if self.has_refresh_token else 'no'}",
        ]
        if self.has_refresh_token:
            until = self.refresh_expires_at.isoformat() if self.refresh_expires_at else "unknown"
            lines.append(f"  refresh token expires: {until} (kept alive 2 days ahead)")
        if self.refresh_refused:
            lines.append(
                "  refresh token REFUSED by K-Series: its orders wait; run `orderflow auth login`"
                " for this business"
            )
        return lines


def status(store: TokenStore, now: datetime | None = None) -> AuthStatus:
    """What one pair store (a business's, or the default one) holds now."""
    pair = store.get()
    if pair is None:
        return AuthStatus(stored=False, business_id=store.label)
    refused = bool(pair.refresh) and store.refused(pair.refresh or "")
    state = LoginState(store.label, pair=pair, refused=refused)
    return _status(state, now or datetime.now(UTC))


def statuses(
    store: TokenStore, now: datetime | None = None, *, configured: bool = False
) -> list[AuthStatus]:
    """Every business logged in, then the default pair (when stored, or `configured`); empty
    when nothing is. `store`: any pair store on the shared Redis."""
    now = now or datetime.now(UTC)
    logins = Logins(store.client, default_configured=configured)
    return [_status(state, now) for state in logins.states()]


def _status(state: LoginState, now: datetime) -> AuthStatus:
    pair = state.pair
    if pair is None:
        return AuthStatus(stored=False, business_id=state.business_id)
    left = (pair.expires_at - now).total_seconds() if pair.expires_at else None
    return AuthStatus(
        stored=True,
        expires_at=pair.expires_at,
        seconds_left=left,
        obtained_at=pair.obtained_at,
        has_refresh_token=bool(pair.refresh),
        refresh_refused=state.refused,
        refresh_expires_at=pair.refresh_expires_at,
        business_id=state.business_id,
        name=state.name,
        locations=state.locations,
    )

"""Logging in to K-Series: the OAuth2 authorization-code grant behind `orderflow auth login`.

1. `authorize_url()` builds the page a person opens (response_type=code, client_id,
   redirect_uri, scope, a random state);
2. the authorization server redirects the browser to the redirect URI with `code` and `state`:
   `listen_for_code()` answers that one request on the URI's host and port, or the person pastes
   the code (or the whole redirected URL) and `code_from_paste()` reads it;
3. `redeem()` exchanges the code at the token endpoint (client credentials via HTTP Basic) and
   stores the pair where every worker reads it (`TokenStore`).

`status()` reports what is stored (expiry, whether a refresh token exists), never a token.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from config.settings import Settings
from worker.errors import OrderflowError
from worker.kseries.auth import TokenEndpoint, TokenPair, TokenStore

__all__ = [
    "AuthStatus",
    "LoginError",
    "authorize_url",
    "code_from_paste",
    "listen_for_code",
    "new_state",
    "redeem",
    "status",
]

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
LISTEN_TIMEOUT_S = 300.0


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


def redeem(
    settings: Settings,
    store: TokenStore,
    code: str,
    *,
    endpoint: TokenEndpoint | None = None,
    now: datetime | None = None,
) -> TokenPair:
    """Exchange the code for a pair and store it for every worker (replacing any older pair).

    Raises:
        TokenRefused: the code was refused (spent, expired, wrong redirect URI or client).
        TransportError, ServerError, BadResponse: the token endpoint gave no usable answer.
    """
    endpoint = endpoint or TokenEndpoint(settings)
    pair = endpoint.redeem(code, settings.kseries_redirect_uri, now or datetime.now(UTC))
    store.put(pair)
    return pair


@dataclass(frozen=True)
class AuthStatus:
    """What is stored, without the tokens."""

    stored: bool
    expires_at: datetime | None = None
    seconds_left: float | None = None
    obtained_at: datetime | None = None
    has_refresh_token: bool = False
    refresh_refused: bool = False
    refresh_expires_at: datetime | None = None

    def lines(self) -> list[str]:
        if not self.stored:
            return ["no token pair stored: run `orderflow auth login`"]
        left = f"{self.seconds_left:.0f} s" if self.seconds_left is not None else "unknown"
        expiry = self.expires_at.isoformat() if self.expires_at else "unknown (a configured token)"
        lines = [
            "token pair stored",
            f"access token expires: {expiry} (in {left})",
            f"obtained: {self.obtained_at.isoformat() if self.obtained_at else 'unknown'}",
            f"refresh token: {'yes' if self.has_refresh_token else 'no'}",
        ]
        if self.has_refresh_token:
            until = self.refresh_expires_at.isoformat() if self.refresh_expires_at else "unknown"
            lines.append(f"refresh token expires: {until} (kept alive 2 days ahead)")
        if self.refresh_refused:
            lines.append("refresh token REFUSED by K-Series: run `orderflow auth login`")
        return lines


def status(store: TokenStore, now: datetime | None = None) -> AuthStatus:
    """What the token store holds now."""
    pair = store.get()
    if pair is None:
        return AuthStatus(stored=False)
    now = now or datetime.now(UTC)
    left = (pair.expires_at - now).total_seconds() if pair.expires_at else None
    return AuthStatus(
        stored=True,
        expires_at=pair.expires_at,
        seconds_left=left,
        obtained_at=pair.obtained_at,
        has_refresh_token=bool(pair.refresh),
        refresh_refused=bool(pair.refresh) and store.refused(pair.refresh or ""),
        refresh_expires_at=pair.refresh_expires_at,
    )

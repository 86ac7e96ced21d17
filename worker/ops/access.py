"""Who may see the ops pages and press their buttons: Basic auth, a loopback rule, CSRF tokens.

- With `ORDERFLOW_OPS_USERNAME` / `ORDERFLOW_OPS_PASSWORD` set, every request needs them (Basic,
  both compared in constant time; anything undecodable is refused).
- Without them, the pages are served only to a request that came over loopback to a loopback
  address and through no proxy (no forwarding headers): a local run. Anything else gets a 403
  naming the settings. The check is on each request rather than on `orderflow api`'s `--host`,
  so it holds however the ASGI app is served (uvicorn, gunicorn, `orderflow up`).
- Every POST carries a token bound to the user and signed with a key derived from the ops
  password (a random per-process key when there is none), valid for `TOKEN_TTL_S`; a request
  whose `Origin` or `Sec-Fetch-Site` says it came from another site is refused as well.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

from config.settings import Settings

__all__ = ["TOKEN_TTL_S", "Denied", "OpsAccess"]

TOKEN_TTL_S = 12 * 3600
FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip")
LOCAL_USER = "local"


@dataclass(frozen=True)
class Denied:
    """Why a request is refused, and how to answer it."""

    status: int
    message: str
    challenge: bool = False  # 401: ask the browser for credentials


def _loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class OpsAccess:
    """The ops pages' gate, built once from Settings."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        username, password = settings.ops_username, settings.ops_password
        self._expected: tuple[bytes, bytes] | None = None
        if username is not None and password is not None:
            self._expected = (username.encode(), password.get_secret_value().encode())
            self._key = hmac.new(self._expected[1], b"orderflow ops csrf v1", hashlib.sha256)
        else:
            self._key = hmac.new(secrets.token_bytes(32), b"orderflow ops csrf v1", hashlib.sha256)

    @property
    def configured(self) -> bool:
        return self._expected is not None

    def user(self, request: Request) -> str | Denied:
        """The user a request is served as, or why it is refused."""
        if self._expected is None:
            return self._local_only(request)
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            return Denied(401, "sign in with the ops credentials", challenge=True)
        try:
            username, sep, password = (
                base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
            )
        except (binascii.Error, ValueError):
            return Denied(401, "credentials could not be decoded", challenge=True)
        user_ok = hmac.compare_digest(username.encode(), self._expected[0])
        password_ok = hmac.compare_digest(password.encode(), self._expected[1])
        if not (sep and user_ok and password_ok):
            return Denied(401, "wrong username or password", challenge=True)
        return username

    @staticmethod
    def _local_only(request: Request) -> str | Denied:
        server = request.scope.get("server") or (None, None)
        client = request.client.host if request.client else None
        proxied = any(h in request.headers for h in FORWARDING_HEADERS)
        if _loopback(server[0]) and _loopback(client) and not proxied:
            return LOCAL_USER
        return Denied(
            403,
            "The ops pages are served beyond loopback only with credentials: set "
            "ORDERFLOW_OPS_USERNAME and ORDERFLOW_OPS_PASSWORD and restart the API.",
        )

    # --- CSRF ---------------------------------------------------------------------------------

    def token(self, user: str) -> str:
        """A token for the forms of one page: `issued.signature`."""
        issued = str(int(self._clock()))
        return f"{issued}.{self._sign(user, issued)}"

    def _sign(self, user: str, issued: str) -> str:
        mac = self._key.copy()
        mac.update(f"{user}\n{issued}".encode())
        return mac.hexdigest()

    def check_post(self, request: Request, user: str, token: str | None) -> Denied | None:
        """None when a state-changing request may go ahead."""
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return Denied(403, "cross-site request refused")
        origin = request.headers.get("origin")
        if origin and origin != _own_origin(request):
            return Denied(403, "request from another origin refused")
        issued, _, signature = (token or "").partition(".")
        if not issued.isdigit() or not signature:
            return Denied(403, "missing or malformed form token: reload the page and try again")
        age = self._clock() - int(issued)
        fresh = -60 <= age <= TOKEN_TTL_S
        expected = self._sign(user, issued).encode()
        if not (hmac.compare_digest(signature.encode(), expected) and fresh):
            return Denied(403, "wrong or expired form token: reload the page and try again")
        return None


def _own_origin(request: Request) -> str:
    url = request.url
    default = {"http": 80, "https": 443}.get(url.scheme)
    port = "" if url.port in (None, default) else f":{url.port}"
    return f"{url.scheme}://{url.hostname}{port}"

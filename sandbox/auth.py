"""OAuth2 as K-Series V1 does it: authorization-code grant, single-use rotating refresh tokens.

Lenient unless `require_auth`: any bearer token passes, and a refresh token the sandbox never
issued is accepted once (so a configured initial token works). Strict or not, a refresh token
used twice is refused with `invalid_grant` and counted as `refresh_reuse`: that is the failure
that locks real integrations out.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import structlog

from sandbox.config import SandboxConfig
from sandbox.formats import Clock
from sandbox.ledger import Ledger

__all__ = ["TokenStore", "basic_credentials"]

log = structlog.get_logger("sandbox.auth")
SCOPE = "orders-api financial-api"


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(user, password) from an `Authorization: Basic …` header, or None."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


class TokenStore:
    """Issued access tokens (with expiry), live and spent refresh tokens, spent codes."""

    def __init__(self, config: SandboxConfig, clock: Clock, ledger: Ledger) -> None:
        self._config = config
        self._clock = clock
        self._ledger = ledger
        self.clear()

    def clear(self) -> None:
        self._access: dict[str, datetime] = {}
        self._refresh_live: set[str] = set()
        self._refresh_spent: set[str] = set()
        self._codes_spent: set[str] = set()

    def issue(self) -> dict[str, Any]:
        """A fresh token pair, as the token endpoint answers it."""
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(32)
        self._access[access] = self._clock.now() + timedelta(seconds=self._config.token_ttl_s)
        self._refresh_live.add(refresh)
        self._ledger.tokens_issued += 1
        return {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "bearer",
            "expires_in": self._config.token_ttl_s,
            "scope": SCOPE,
        }

    def bearer_problem(self, header: str | None) -> str | None:
        """Why this Authorization header is refused, or None when it is fine."""
        if not header or not header.lower().startswith("bearer ") or not header[7:].strip():
            return "Full authentication is required to access this resource"
        if not self._config.require_auth:
            return None
        expiry = self._access.get(header[7:].strip())
        if expiry is None:
            return "Invalid access token"
        if expiry <= self._clock.now():
            return "Access token expired"
        return None

    def grant(
        self, form: Mapping[str, str], authorization: str | None
    ) -> tuple[int, dict[str, Any]]:
        """Answer a token request: (HTTP status, JSON body)."""
        if not self._client_ok(form, authorization):
            return 401, {"error": "invalid_client", "error_description": "Bad client credentials"}
        grant_type = form.get("grant_type", "")
        if grant_type == "authorization_code":
            code = form.get("code", "")
            if not code:
                return 400, {"error": "invalid_request", "error_description": "Missing code"}
            if code in self._codes_spent:
                return 400, {"error": "invalid_grant", "error_description": "Code already used"}
            self._codes_spent.add(code)
            return 200, self.issue()
        if grant_type == "refresh_token":
            return self._refresh(form.get("refresh_token", ""))
        return 400, {"error": "unsupported_grant_type"}

    def _refresh(self, token: str) -> tuple[int, dict[str, Any]]:
        if not token:
            return 400, {"error": "invalid_request", "error_description": "Missing refresh_token"}
        if token in self._refresh_spent:
            self._ledger.refresh_reuse += 1
            log.warning("sandbox.auth.refresh_reuse", reuse_count=self._ledger.refresh_reuse)
            return 400, {"error": "invalid_grant", "error_description": "Token is not active"}
        if token not in self._refresh_live and self._config.require_auth:
            return 400, {"error": "invalid_grant", "error_description": "Invalid refresh token"}
        self._refresh_live.discard(token)
        self._refresh_spent.add(token)
        return 200, self.issue()

    def _client_ok(self, form: Mapping[str, str], authorization: str | None) -> bool:
        expected_id, expected_secret = self._config.client_id, self._config.client_secret
        if expected_id is None:
            return True
        basic = basic_credentials(authorization)
        client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        if not hmac.compare_digest(client_id.encode(), expected_id.encode()):
            return False
        return expected_secret is None or hmac.compare_digest(
            secret.encode(), expected_secret.encode()
        )

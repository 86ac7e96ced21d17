"""OAuth2 as K-Series V1 does it: authorization-code grant, single-use rotating refresh tokens.

Every code the sandbox issues is bound to one business (the restaurant that approved access),
and the access and refresh tokens it buys, and every pair a refresh rotates to, stay bound to it.

Lenient unless `require_auth`: any bearer token passes, and a code or refresh token the sandbox
never issued is accepted once (so a configured initial token works); what they buy is *unbound*,
acting for every business, as a single-business sandbox always did. Strict or not, a refresh
token used twice is refused with `invalid_grant` and counted as `refresh_reuse` (in total and
per business): that is the failure that locks real integrations out.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from sandbox.config import SandboxConfig
from sandbox.formats import Clock
from sandbox.ledger import Ledger

__all__ = ["TokenStore", "basic_credentials"]

log = structlog.get_logger("sandbox.auth")
SCOPE = "orders-api financial-api"
CODE_TTL_S = 600  # OAuth2 wants codes short-lived; K-Series does not say how short


@dataclass(frozen=True)
class _Access:
    business_id: int | None  # None: unbound (lenient mode's unknown code or refresh token)
    expires: datetime


@dataclass(frozen=True)
class _Code:
    business_id: int
    redirect_uri: str | None  # when the authorize request named one, the token request must too
    expires: datetime


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
        self._access: dict[str, _Access] = {}
        self._refresh_live: dict[str, int | None] = {}
        self._refresh_spent: dict[str, int | None] = {}
        self._codes: dict[str, _Code] = {}
        self._codes_spent: set[str] = set()

    def issue(self, business_id: int | None) -> dict[str, Any]:
        """A fresh token pair bound to `business_id`, as the token endpoint answers it."""
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(32)
        expires = self._clock.now() + timedelta(seconds=self._config.token_ttl_s)
        self._access[access] = _Access(business_id, expires)
        self._refresh_live[refresh] = business_id
        self._ledger.token_issued(business_id)
        return {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "bearer",
            "expires_in": self._config.token_ttl_s,
            "scope": SCOPE,
        }

    def new_code(self, business_id: int, redirect_uri: str | None = None) -> str:
        """A single-use authorization code for `business_id`, valid CODE_TTL_S seconds."""
        code = secrets.token_urlsafe(18)
        expires = self._clock.now() + timedelta(seconds=CODE_TTL_S)
        self._codes[code] = _Code(business_id, redirect_uri, expires)
        return code

    def business_of(self, header: str | None) -> int | None:
        """The business a bearer token is bound to; None for a token the sandbox never issued
        (lenient mode lets those act for every business)."""
        if not header or not header.lower().startswith("bearer "):
            return None
        access = self._access.get(header[7:].strip())
        return None if access is None else access.business_id

    def bearer_problem(self, header: str | None) -> str | None:
        """Why this Authorization header is refused, or None when it is fine."""
        if not header or not header.lower().startswith("bearer ") or not header[7:].strip():
            return "Full authentication is required to access this resource"
        if not self._config.require_auth:
            return None
        access = self._access.get(header[7:].strip())
        if access is None:
            return "Invalid access token"
        if access.expires <= self._clock.now():
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
            return self._redeem(form.get("code", ""), form.get("redirect_uri"))
        if grant_type == "refresh_token":
            return self._refresh(form.get("refresh_token", ""))
        return 400, {"error": "unsupported_grant_type"}

    def _redeem(self, code: str, redirect_uri: str | None) -> tuple[int, dict[str, Any]]:
        if not code:
            return 400, _invalid("invalid_request", "Missing code")
        if code in self._codes_spent:
            return 400, _invalid("invalid_grant", "Code already used")
        self._codes_spent.add(code)
        issued = self._codes.pop(code, None)
        if issued is None:
            if self._config.require_auth:
                return 400, _invalid("invalid_grant", "Invalid authorization code")
            return 200, self.issue(None)
        if issued.expires <= self._clock.now():
            return 400, _invalid("invalid_grant", "Code expired")
        if issued.redirect_uri is not None and redirect_uri != issued.redirect_uri:
            return 400, _invalid("invalid_grant", "redirect_uri does not match the authorization")
        return 200, self.issue(issued.business_id)

    def _refresh(self, token: str) -> tuple[int, dict[str, Any]]:
        if not token:
            return 400, _invalid("invalid_request", "Missing refresh_token")
        if token in self._refresh_spent:
            business_id = self._refresh_spent[token]
            self._ledger.refresh_reused(business_id)
            log.warning(
                "sandbox.auth.refresh_reuse",
                business_id=business_id,
                reuse_count=self._ledger.refresh_reuse,
            )
            return 400, _invalid("invalid_grant", "Token is not active")
        if token not in self._refresh_live and self._config.require_auth:
            return 400, _invalid("invalid_grant", "Invalid refresh token")
        business_id = self._refresh_live.pop(token, None)
        self._refresh_spent[token] = business_id
        return 200, self.issue(business_id)

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


def _invalid(error: str, description: str) -> dict[str, str]:
    return {"error": error, "error_description": description}

"""Who may call the API: the producer's bearer token, K-Series' Basic credentials, and the
rule that decides whether the API may start at all on a given address.

Both checks are constant-time. An endpoint without configured credentials is open, which is
only acceptable on loopback: `startup_problems` refuses anything else, and `warn_if_open`
says so in the log of a loopback run.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress

import structlog

from config.settings import Settings

__all__ = [
    "basic_ok",
    "bearer_ok",
    "is_loopback",
    "startup_problems",
    "warn_if_open",
    "webhook_credentials",
]

log = structlog.get_logger(__name__)


def bearer_ok(header: str, token: str | None) -> bool:
    """`Authorization: Bearer <token>`; anything goes when no token is configured."""
    if token is None:
        return True
    return hmac.compare_digest(header.encode(), f"Bearer {token}".encode())


def webhook_credentials(settings: Settings) -> bytes | None:
    """`username:password` as Basic auth carries it, or None when webhooks are open."""
    if not settings.webhook_username or settings.webhook_password is None:
        return None
    return f"{settings.webhook_username}:{settings.webhook_password.get_secret_value()}".encode()


def basic_ok(header: str, expected: bytes | None) -> bool:
    """`Authorization: Basic base64(user:password)`; anything goes when `expected` is None."""
    if expected is None:
        return True
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(given, expected)


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or `localhost`: reachable from this machine only."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def startup_problems(settings: Settings, host: str) -> list[str]:
    """Why the API must not serve on `host` with these settings (empty: it may).

    Beyond loopback every endpoint must be authenticated: without a producer token anyone
    could create orders; without webhook credentials anyone who knows a reference could fail
    an order, complete it unpaid or have orderflow pay another check.
    """
    if is_loopback(host):
        return []
    problems = []
    if settings.api_token is None:
        problems.append("ORDERFLOW_API_TOKEN (producers' bearer token)")
    if webhook_credentials(settings) is None:
        problems.append(
            "ORDERFLOW_WEBHOOK_USERNAME and ORDERFLOW_WEBHOOK_PASSWORD (K-Series' Basic auth)"
        )
    return [f"refusing to serve on {host} (beyond loopback) without {p}" for p in problems]


def warn_if_open(settings: Settings) -> None:
    """One structured warning per endpoint that accepts anyone (loopback runs only)."""
    if settings.api_token is None:
        log.warning("api.unauthenticated", hint="set ORDERFLOW_API_TOKEN outside local runs")
    if webhook_credentials(settings) is None:
        log.warning(
            "api.webhooks_unauthenticated",
            hint="set ORDERFLOW_WEBHOOK_USERNAME and ORDERFLOW_WEBHOOK_PASSWORD outside local runs",
        )

"""The API's credential checks, exactly (`worker.web.auth`): which Authorization headers pass,
which addresses count as loopback, the exact reasons a public bind is refused, and the exact
warnings of an open loopback run."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from structlog.testing import capture_logs

from config.settings import Settings
from worker.web.auth import (
    basic_ok,
    bearer_ok,
    is_loopback,
    startup_problems,
    warn_if_open,
    webhook_credentials,
)

CREDENTIALS = b"kseries:hook-secret"
ENCODED = base64.b64encode(CREDENTIALS).decode()
TOKEN_PROBLEM = "ORDERFLOW_API_TOKEN (producers' bearer token)"
WEBHOOK_PROBLEM = "ORDERFLOW_WEBHOOK_USERNAME and ORDERFLOW_WEBHOOK_PASSWORD (K-Series' Basic auth)"


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def secured(**values: Any) -> Settings:
    return settings(
        api_token="producer-secret",
        webhook_username="kseries",
        webhook_password="hook-secret",
        **values,
    )


# --- bearer ---------------------------------------------------------------------------------


def test_without_a_configured_token_any_bearer_header_passes() -> None:
    assert bearer_ok("", None) is True
    assert bearer_ok("Bearer None", None) is True


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        ("Bearer producer-secret", True),
        ("Bearer producer-secre", False),
        ("Bearer producer-secret2", False),
        ("bearer producer-secret", False),
        ("producer-secret", False),
        ("", False),
    ],
)
def test_with_a_configured_token_only_the_exact_bearer_header_passes(header: str, ok: bool) -> None:
    assert bearer_ok(header, "producer-secret") is ok


# --- Basic ----------------------------------------------------------------------------------


def test_webhook_credentials_are_username_colon_password_or_none_when_unset() -> None:
    assert webhook_credentials(secured()) == CREDENTIALS
    assert webhook_credentials(settings()) is None


def test_without_webhook_credentials_any_basic_header_passes() -> None:
    assert basic_ok("", None) is True
    assert basic_ok("Bearer x", None) is True


@pytest.mark.parametrize(
    "header",
    [
        f"Basic {ENCODED}",
        f"basic {ENCODED}",
        f"BASIC {ENCODED}",
        f"Basic  {ENCODED}",  # RFC 7235: one or more spaces after the scheme
        f"Basic {ENCODED} ",
    ],
)
def test_the_right_basic_credentials_pass_whatever_the_schemes_case_and_spacing(
    header: str,
) -> None:
    assert basic_ok(header, CREDENTIALS) is True


@pytest.mark.parametrize(
    "header",
    [
        "",
        f"Bearer {ENCODED}",
        f"Basic{ENCODED}",
        ENCODED,
        "Basic " + base64.b64encode(b"kseries:wrong").decode(),
        "Basic " + base64.b64encode(b"kseries:hook-secret ").decode(),
        "Basic !!!not-base64",
        "Basic " + ENCODED[:5] + "!" + ENCODED[5:],  # outside the alphabet: not skipped over
        "Basic " + ENCODED[:-1],
    ],
)
def test_anything_but_the_right_basic_credentials_is_refused(header: str) -> None:
    assert basic_ok(header, CREDENTIALS) is False


# --- loopback and startup -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        (" 127.0.0.1 ", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LocalHost", True),
        (" localhost ", True),
        ("0.0.0.0", False),
        ("192.0.2.10", False),
        ("api.example.com", False),
        ("localhost.example.com", False),
        ("X127.0.0.1X", False),
        ("", False),
    ],
)
def test_only_loopback_addresses_and_localhost_are_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_on_loopback_nothing_stops_an_open_api() -> None:
    assert startup_problems(settings(), "127.0.0.1") == []
    assert startup_problems(settings(), "localhost") == []


def test_beyond_loopback_an_open_api_is_refused_naming_every_missing_credential() -> None:
    assert startup_problems(settings(), "0.0.0.0") == [
        f"refusing to serve on 0.0.0.0 (beyond loopback) without {TOKEN_PROBLEM}",
        f"refusing to serve on 0.0.0.0 (beyond loopback) without {WEBHOOK_PROBLEM}",
    ]


def test_beyond_loopback_each_missing_credential_is_named_alone() -> None:
    no_token = settings(webhook_username="kseries", webhook_password="hook-secret")
    assert startup_problems(no_token, "10.0.0.5") == [
        f"refusing to serve on 10.0.0.5 (beyond loopback) without {TOKEN_PROBLEM}"
    ]
    no_webhooks = settings(api_token="producer-secret")
    assert startup_problems(no_webhooks, "10.0.0.5") == [
        f"refusing to serve on 10.0.0.5 (beyond loopback) without {WEBHOOK_PROBLEM}"
    ]
    assert startup_problems(secured(), "10.0.0.5") == []


# --- warnings of an open loopback run -------------------------------------------------------


def test_an_open_loopback_run_warns_once_per_open_endpoint_with_the_variables_to_set() -> None:
    with capture_logs() as logs:
        warn_if_open(settings())
    assert logs == [
        {
            "event": "api.unauthenticated",
            "log_level": "warning",
            "hint": "set ORDERFLOW_API_TOKEN outside local runs",
        },
        {
            "event": "api.webhooks_unauthenticated",
            "log_level": "warning",
            "hint": "set ORDERFLOW_WEBHOOK_USERNAME and ORDERFLOW_WEBHOOK_PASSWORD outside local runs",
        },
    ]


def test_a_fully_secured_run_warns_about_nothing() -> None:
    with capture_logs() as logs:
        warn_if_open(secured())
    assert logs == []

"""Webhook authentication fails closed (issue 9, item 4): half-set credentials refuse to start,
`orderflow api` refuses a public bind without every credential, a loopback run says in its log
which endpoints are open."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pydantic import ValidationError
from structlog.testing import capture_logs

from config.settings import Settings, get_settings
from worker.api import create_app
from worker.cli import main
from worker.store import OrderStore
from worker.web.auth import is_loopback, startup_problems

NOTE = {"type": "ORDER", "status": "FAILURE", "thirdPartyReference": "r1"}


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    """`orderflow api` reads the cached process settings: each test builds its own."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ({"webhook_username": "kseries"}, "PASSWORD"),
        ({"webhook_password": "hook-secret"}, "USERNAME"),
    ],
)
def test_half_set_webhook_credentials_refuse_to_start_naming_both_variables(
    given: dict[str, str], missing: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        settings(**given)
    message = str(refused.value)
    assert "ORDERFLOW_WEBHOOK_USERNAME" in message
    assert "ORDERFLOW_WEBHOOK_PASSWORD" in message
    assert f"ORDERFLOW_WEBHOOK_{missing} is set" not in message


@pytest.mark.parametrize(
    "given",
    [
        {"webhook_username": "", "webhook_password": "x"},
        {"webhook_username": "a:b", "webhook_password": "x"},
        {"webhook_username": "kseries", "webhook_password": ""},
    ],
)
def test_unusable_webhook_credentials_refuse_to_start(given: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="ORDERFLOW_WEBHOOK_"):
        settings(**given)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """`uvicorn.run` replaced by a recorder: what `orderflow api` would have served."""
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    yield calls


def test_half_set_credentials_from_the_environment_stop_the_api_at_startup(
    monkeypatch: pytest.MonkeyPatch, served: list[dict[str, Any]]
) -> None:
    monkeypatch.setenv("ORDERFLOW_WEBHOOK_USERNAME", "kseries")
    result = CliRunner().invoke(main, ["api"])
    assert result.exit_code == 1
    assert "invalid settings: " in result.output
    assert "ORDERFLOW_WEBHOOK_USERNAME and ORDERFLOW_WEBHOOK_PASSWORD" in result.output
    assert "only ORDERFLOW_WEBHOOK_USERNAME is set" in result.output
    assert served == []


def test_a_public_bind_without_webhook_credentials_is_refused_naming_them(
    monkeypatch: pytest.MonkeyPatch, served: list[dict[str, Any]]
) -> None:
    # Given a producer token but no webhook credentials
    monkeypatch.setenv("ORDERFLOW_API_TOKEN", "producer-secret")
    # When the API is asked to serve on every interface
    result = CliRunner().invoke(main, ["api", "--host", "0.0.0.0"])
    # Then it refuses, names both variables, and serves nothing
    assert result.exit_code != 0
    assert "ORDERFLOW_WEBHOOK_USERNAME and ORDERFLOW_WEBHOOK_PASSWORD" in result.output
    assert "ORDERFLOW_API_TOKEN" not in result.output
    assert served == []


def test_a_public_bind_without_any_credential_names_every_missing_one(
    served: list[dict[str, Any]],
) -> None:
    result = CliRunner().invoke(main, ["api", "--host", "192.0.2.10"])
    assert result.exit_code != 0
    assert "ORDERFLOW_API_TOKEN" in result.output
    assert "ORDERFLOW_WEBHOOK_USERNAME and ORDERFLOW_WEBHOOK_PASSWORD" in result.output
    assert served == []


def test_a_public_bind_with_every_credential_serves(
    monkeypatch: pytest.MonkeyPatch, served: list[dict[str, Any]]
) -> None:
    monkeypatch.setenv("ORDERFLOW_API_TOKEN", "producer-secret")
    monkeypatch.setenv("ORDERFLOW_WEBHOOK_USERNAME", "kseries")
    monkeypatch.setenv("ORDERFLOW_WEBHOOK_PASSWORD", "hook-secret")
    result = CliRunner().invoke(main, ["api", "--host", "0.0.0.0", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert [(call["host"], call["port"]) for call in served] == [("0.0.0.0", 8123)]


def test_a_loopback_bind_without_credentials_serves(served: list[dict[str, Any]]) -> None:
    result = CliRunner().invoke(main, ["api"])
    assert result.exit_code == 0, result.output
    assert [call["host"] for call in served] == ["127.0.0.1"]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.2.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("192.0.2.10", False),
        ("api.example.com", False),
    ],
)
def test_only_loopback_addresses_count_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    assert (startup_problems(settings(), host) == []) is loopback


def build(config: Settings) -> TestClient:
    store = OrderStore(fakeredis.FakeRedis(decode_responses=True))
    app = create_app(
        settings=config, store=store, enqueue=lambda *_: None, enqueue_notification=lambda _: None
    )
    return TestClient(app)


def test_a_loopback_run_without_webhook_credentials_warns_in_the_log() -> None:
    with capture_logs() as logs:
        build(settings(api_token="producer-secret"))
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert [e["event"] for e in warnings] == ["api.webhooks_unauthenticated"]
    assert "ORDERFLOW_WEBHOOK_USERNAME" in warnings[0]["hint"]


def test_a_fully_configured_run_warns_about_nothing() -> None:
    with capture_logs() as logs:
        build(settings(api_token="t", webhook_username="kseries", webhook_password="hook-secret"))
    assert [e for e in logs if e["log_level"] == "warning"] == []


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Basic " + base64.b64encode(b"kseries:wrong").decode(),
        "Basic " + base64.b64encode(b"kseries").decode(),
        "Basic !!!not-base64",
        "Bearer hook-secret",
    ],
)
def test_with_credentials_configured_a_webhook_without_them_is_refused(
    header: str | None,
) -> None:
    client = build(settings(webhook_username="kseries", webhook_password="hook-secret"))
    headers = {"Authorization": header} if header else {}
    assert client.post("/webhooks/kseries", json=NOTE, headers=headers).status_code == 401

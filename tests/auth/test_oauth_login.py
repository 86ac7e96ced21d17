"""Logging in: V1/V2 token endpoints, pasted codes, the redirect listener and the CLI."""

from __future__ import annotations

import base64
import threading
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import fakeredis
import httpx
import pytest
from click.testing import CliRunner

from tests.auth.fakes import (
    BASE,
    V2_TOKEN_URL,
    Clock,
    FakeKSeries,
    endpoint,
    new_store,
    settings,
)
from worker import auth_cli
from worker.kseries.auth import (
    TokenRefused,
)
from worker.oauth import (
    LoginError,
    authorize_url,
    code_from_paste,
    listen_for_code,
    redeem,
)
from worker.stack import free_port

# --- V1 / V2 token endpoints ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("token_url", "expected"),
    [
        (None, f"{BASE}/oauth/authorize"),
        (V2_TOKEN_URL, V2_TOKEN_URL.removesuffix("token") + "auth"),
    ],
    ids=["v1", "v2"],
)
def test_the_authorize_url_asks_for_a_code_with_our_scopes_and_a_state(
    token_url: str | None, expected: str
) -> None:
    url = authorize_url(settings(kseries_token_url=token_url), "state-123")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == expected
    assert parse_qs(parts.query) == {
        "response_type": ["code"],
        "client_id": ["orderflow-client"],
        "redirect_uri": ["http://127.0.0.1:8765/callback"],
        "scope": ["orders-api financial-api"],
        "state": ["state-123"],
    }


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_code_is_exchanged_with_basic_client_credentials_and_stored(
    version: str, clock: Clock, server: fakeredis.FakeServer
) -> None:
    # Given the V1 or V2 token endpoint
    cfg = settings(kseries_token_url=V2_TOKEN_URL if version == "v2" else None)
    fake = FakeKSeries(clock, ttl_s=300, token_path=urlsplit(cfg.token_url).path)
    store = new_store(server)
    # When a code is redeemed
    pair = redeem(cfg, store, "the-code", endpoint=endpoint(fake, cfg), now=clock())
    # Then the request was an authorization_code grant with Basic credentials, and the pair stored
    assert fake.token_forms == [
        {
            "grant_type": "authorization_code",
            "code": "the-code",
            "redirect_uri": "http://127.0.0.1:8765/callback",
        }
    ]
    basic = base64.b64encode(b"orderflow-client:client-secret").decode()
    assert fake.token_auth == [f"Basic {basic}"]
    assert store.get() == pair
    assert pair.expires_at == clock() + timedelta(seconds=300)
    assert pair.refresh in fake.live


def test_a_v1_answer_without_expires_in_lives_sixty_minutes(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    fake.omit_expires_in = True
    pair = redeem(settings(), new_store(server), "c", endpoint=endpoint(fake), now=clock())
    assert pair.expires_at == clock() + timedelta(minutes=60)
    assert pair.refresh_at == clock() + timedelta(minutes=59)


def test_a_refused_code_raises_and_stores_nothing(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    fake.token_status = 400
    store = new_store(server)
    with pytest.raises(TokenRefused):
        redeem(settings(), store, "spent-code", endpoint=endpoint(fake), now=clock())
    assert store.get() is None


# --- login: pasted code, redirect listener, CLI ---------------------------------------------


def test_a_pasted_redirect_url_yields_its_code_when_the_state_matches() -> None:
    url = "http://127.0.0.1:8765/callback?code=abc&state=s1"
    assert code_from_paste(url, "s1") == "abc"
    assert code_from_paste("  abc  ", "s1") == "abc"
    with pytest.raises(LoginError, match="state"):
        code_from_paste(url, "other")
    with pytest.raises(LoginError, match="access_denied"):
        code_from_paste("http://127.0.0.1:8765/callback?error=access_denied&state=s1", "s1")


def test_the_redirect_listener_ignores_strays_refuses_a_wrong_state_and_returns_the_code() -> None:
    port = free_port()
    redirect = f"http://localhost:{port}/callback"
    ready = threading.Event()
    got: dict[str, Any] = {}

    def listen(state: str) -> None:
        try:
            got["code"] = listen_for_code(redirect, state, timeout_s=10, on_ready=ready.set)
        except LoginError as exc:
            got["error"] = exc

    def run(state: str, *paths: str) -> list[int]:
        got.clear()
        ready.clear()
        thread = threading.Thread(target=listen, args=(state,))
        thread.start()
        assert ready.wait(5)
        statuses = [httpx.get(f"http://127.0.0.1:{port}{p}").status_code for p in paths]
        thread.join(10)
        return statuses

    assert run("s1", "/favicon.ico", "/callback?code=c1&state=s1") == [404, 200]
    assert got == {"code": "c1"}
    assert run("s2", "/callback?code=c2&state=forged") == [400]
    assert isinstance(got["error"], LoginError)


def test_the_redirect_listener_gives_up_after_its_timeout() -> None:
    with pytest.raises(LoginError, match="no redirect"):
        listen_for_code(f"http://127.0.0.1:{free_port()}/cb", "s", timeout_s=0.2)
    with pytest.raises(LoginError, match="paste"):
        listen_for_code("https://example.com/cb", "s", timeout_s=0.2)


@pytest.fixture
def cli(
    fake: FakeKSeries, server: fakeredis.FakeServer, monkeypatch: pytest.MonkeyPatch
) -> CliRunner:
    monkeypatch.setattr(auth_cli, "get_settings", settings)
    monkeypatch.setattr(auth_cli, "_store", lambda _: new_store(server))
    monkeypatch.setattr(auth_cli, "_endpoint", lambda cfg: endpoint(fake, cfg))
    return CliRunner()


def test_login_with_a_code_stores_the_pair_and_status_shows_expiry_but_no_secret(
    cli: CliRunner, fake: FakeKSeries, server: fakeredis.FakeServer
) -> None:
    # Given no pair stored
    before = cli.invoke(auth_cli.auth, ["status"])
    assert before.exit_code == 1
    assert "auth login" in before.output
    # When a person logs in with a code
    login = cli.invoke(auth_cli.auth, ["login", "--code", "the-code"])
    assert login.exit_code == 0, login.output
    # Then status reports expiry and a refresh token, and neither command prints a token
    shown = cli.invoke(auth_cli.auth, ["status"])
    assert shown.exit_code == 0
    assert "refresh token: yes" in shown.output
    assert "expires" in shown.output
    pair = new_store(server).get()
    assert pair is not None
    assert pair.refresh
    for output in (login.output, shown.output):
        assert pair.access not in output
        assert pair.refresh not in output
        assert "client-secret" not in output


def test_login_by_paste_prints_the_authorize_url_and_checks_the_state(
    cli: CliRunner, server: fakeredis.FakeServer
) -> None:
    result = cli.invoke(
        auth_cli.auth, ["login", "--paste"], input="wrong-state-url?code=c&state=x\n"
    )
    assert result.exit_code == 1
    assert "response_type=code" in result.output
    assert "state does not match" in result.output
    assert new_store(server).get() is None
    result = cli.invoke(auth_cli.auth, ["login", "--paste"], input="just-the-code\n")
    assert result.exit_code == 0, result.output
    assert new_store(server).get() is not None

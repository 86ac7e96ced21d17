"""OAuth2 against a fake K-Series (httpx.MockTransport) and fakeredis: refresh, rotation, login."""

from __future__ import annotations

import base64
import secrets
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import fakeredis
import httpx
import pytest
import redis
from click.testing import CliRunner

from config.settings import Settings
from worker import auth_cli
from worker.kseries.auth import (
    RefreshingAuth,
    TokenEndpoint,
    TokenPair,
    TokenRefused,
    TokenStore,
    auth_for,
)
from worker.oauth import (
    LoginError,
    authorize_url,
    code_from_paste,
    listen_for_code,
    redeem,
    status,
)
from worker.stack import free_port

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
BASE = "https://kseries.test"
V2_TOKEN_URL = "https://auth.lsk-demo.app/realms/k-series/protocol/openid-connect/token"
READINESS = "/o/op/1/onlineOrderReadiness"


class Clock:
    def __init__(self) -> None:
        self.moment = T0

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


class FakeKSeries:
    """Bearer-checked API route plus a token endpoint with single-use refresh tokens."""

    def __init__(self, clock: Clock, ttl_s: int = 10, token_path: str = "/oauth/token") -> None:
        self.clock, self.ttl_s, self.token_path = clock, ttl_s, token_path
        self.access: dict[str, datetime] = {}
        self.live: set[str] = set()
        self.spent: Counter[str] = Counter()
        self.token_forms: list[dict[str, str]] = []
        self.token_auth: list[str | None] = []
        self.api_calls: list[str] = []
        self.token_status: int | None = None  # force an answer from the token endpoint
        self.omit_expires_in = False
        self.lock = threading.Lock()

    def issue(self) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        self.access[access] = self.clock() + timedelta(seconds=self.ttl_s)
        self.live.add(refresh)
        body: dict[str, Any] = {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "bearer",
        }
        if not self.omit_expires_in:
            body["expires_in"] = self.ttl_s
        return body

    def pair(self) -> TokenPair:
        body = self.issue()
        return TokenPair(
            body["access_token"],
            body["refresh_token"],
            self.clock() + timedelta(seconds=self.ttl_s),
            self.clock(),
        )

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            if request.url.path == self.token_path:
                return self._token(request)
            bearer = request.headers.get("authorization", "")[7:]
            self.api_calls.append(bearer)
            expiry = self.access.get(bearer)
            if expiry is None or expiry <= self.clock():
                return httpx.Response(401, json={"error": "invalid_token"})
            return httpx.Response(200, json={"status": "READY"})

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        self.token_forms.append(form)
        self.token_auth.append(request.headers.get("authorization"))
        if self.token_status is not None:
            return httpx.Response(self.token_status, json={"error": "server_error"})
        if form["grant_type"] == "authorization_code":
            return httpx.Response(200, json=self.issue())
        token = form["refresh_token"]
        self.spent[token] += 1
        if token not in self.live:
            return httpx.Response(400, json={"error": "invalid_grant"})
        self.live.discard(token)
        return httpx.Response(200, json=self.issue())

    @property
    def refreshes(self) -> int:
        return sum(1 for f in self.token_forms if f["grant_type"] == "refresh_token")


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "kseries_base_url": BASE,
        "kseries_client_id": "orderflow-client",
        "kseries_client_secret": "client-secret",
    }
    return Settings(_env_file=None, **(values | overrides))  # type: ignore[call-arg]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> FakeKSeries:
    return FakeKSeries(clock)


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


def new_store(server: fakeredis.FakeServer) -> TokenStore:
    return TokenStore(fakeredis.FakeRedis(server=server, decode_responses=True))


def endpoint(fake: FakeKSeries, cfg: Settings | None = None) -> TokenEndpoint:
    return TokenEndpoint(
        cfg or settings(), httpx.Client(transport=httpx.MockTransport(fake.handle))
    )


@pytest.fixture
def process(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> Iterator[httpx.Client]:
    """One worker process's K-Series HTTP client, sharing Redis with any other `worker()`."""
    with worker(fake, clock, server) as http:
        yield http


def worker(fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer) -> httpx.Client:
    auth = RefreshingAuth(settings(), new_store(server), endpoint=endpoint(fake), clock=clock)
    return httpx.Client(base_url=BASE, transport=httpx.MockTransport(fake.handle), auth=auth)


# --- refresh ---------------------------------------------------------------------------------


def test_a_short_lived_pair_is_refreshed_a_fifth_of_its_lifetime_ahead(
    process: httpx.Client, fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    # Given a pair that lives 10 s
    first = fake.pair()
    new_store(server).put(first)
    # When calls are made 7.9 s and 8.1 s after it was obtained
    clock.advance(7.9)
    assert process.get(READINESS).status_code == 200
    assert fake.refreshes == 0
    clock.advance(0.2)
    assert process.get(READINESS).status_code == 200
    # Then the second one refreshed first (2 s = 20 % ahead) and used the new token
    assert fake.refreshes == 1
    assert fake.api_calls[-1] != first.access
    stored = new_store(server).get()
    assert stored is not None
    assert stored.access == fake.api_calls[-1]
    assert stored.expires_at == clock() + timedelta(seconds=10)


def test_a_long_lived_pair_is_refreshed_sixty_seconds_ahead(clock: Clock) -> None:
    pair = TokenPair("a", "r", T0 + timedelta(minutes=60), T0)
    assert pair.refresh_at == T0 + timedelta(minutes=59)
    clock.advance(58 * 60 + 59)
    assert not pair.refresh_due(clock())
    clock.advance(1)
    assert pair.refresh_due(clock())


def test_a_pair_of_unknown_expiry_is_refreshed_only_on_401(
    process: httpx.Client, fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    # Given a configured token whose expiry orderflow cannot know
    issued = fake.pair()
    new_store(server).put(TokenPair(issued.access, issued.refresh))
    # When it is used before and after it expires
    assert process.get(READINESS).status_code == 200
    clock.advance(11)
    assert process.get(READINESS).status_code == 200
    # Then only the 401 led to a refresh, and the call was retried once with the new token
    assert fake.refreshes == 1
    assert len(fake.api_calls) == 3
    assert fake.api_calls[1] == issued.access != fake.api_calls[2]


def test_a_401_refreshes_and_retries_the_call_once(
    process: httpx.Client, fake: FakeKSeries, server: fakeredis.FakeServer
) -> None:
    # Given a stored pair that K-Series no longer accepts (revoked), though not yet due
    pair = fake.pair()
    half_way = TokenPair(
        pair.access, pair.refresh, T0 + timedelta(minutes=30), T0 - timedelta(minutes=30)
    )
    new_store(server).put(half_way)
    fake.access.pop(pair.access)
    # When a call is made
    response = process.get(READINESS)
    # Then it was refreshed and retried: two API calls, one refresh, success
    assert response.status_code == 200
    assert fake.refreshes == 1
    assert len(fake.api_calls) == 2


def test_a_401_after_the_retry_is_returned_without_refreshing_again(
    process: httpx.Client, fake: FakeKSeries, server: fakeredis.FakeServer
) -> None:
    new_store(server).put(TokenPair("a-token-nobody-issued", fake.pair().refresh))
    fake.access.clear()
    fake.ttl_s = 0  # every token it issues is dead at once
    response = process.get(READINESS)
    assert response.status_code == 401
    assert fake.refreshes == 1
    assert len(fake.api_calls) == 2


def test_a_401_for_a_pair_obtained_seconds_ago_does_not_refresh(
    process: httpx.Client, fake: FakeKSeries, server: fakeredis.FakeServer
) -> None:
    pair = fake.pair()
    new_store(server).put(pair)
    fake.access.pop(pair.access)
    assert process.get(READINESS).status_code == 401
    assert fake.refreshes == 0


def test_a_failed_refresh_keeps_the_old_pair_and_a_later_call_tries_again(
    process: httpx.Client, fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    # Given a pair due for refresh and a token endpoint answering 503
    pair = fake.pair()
    new_store(server).put(pair)
    clock.advance(8.5)
    fake.token_status = 503
    # When a call is made
    assert process.get(READINESS).status_code == 200  # the old token still works
    # Then the stored pair is untouched
    assert new_store(server).get() == pair
    # And once the endpoint recovers, the same refresh token is spent, exactly once
    fake.token_status = None
    assert process.get(READINESS).status_code == 200
    assert fake.spent[pair.refresh or ""] == 1
    assert new_store(server).get() != pair


def test_a_refused_refresh_token_keeps_the_old_pair_and_is_never_tried_again(
    process: httpx.Client, fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    # Given a stored pair whose refresh token K-Series no longer knows
    pair = fake.pair()
    fake.live.discard(pair.refresh or "")
    store = new_store(server)
    store.put(pair)
    clock.advance(8.5)
    # When calls are made while it is due and after it expired
    process.get(READINESS)
    clock.advance(5)
    assert process.get(READINESS).status_code == 401
    # Then it was tried once, the pair is intact, and status says to log in again
    assert fake.spent[pair.refresh or ""] == 1
    assert store.get() == pair
    assert status(store, clock()).refresh_refused


def test_a_second_process_that_finds_the_pair_rotated_uses_it_without_refreshing(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    # Given two processes sharing Redis, and an expired pair
    old = fake.pair()
    new_store(server).put(old)
    clock.advance(11)
    first, second = worker(fake, clock, server), worker(fake, clock, server)
    # When the first refreshes it, and the second then hits a 401 with the old token in hand
    assert first.get(READINESS).status_code == 200
    auth = second._auth
    assert isinstance(auth, RefreshingAuth)
    stale_use = auth._after_401(old)
    # Then the second retries with the rotated pair without another refresh
    assert stale_use is not None
    assert stale_use == new_store(server).get()
    assert fake.refreshes == 1
    assert second.get(READINESS).status_code == 200
    assert fake.refreshes == 1


def test_under_the_lock_a_changed_pair_is_used_instead_of_spending_the_token_again(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    # Given a process that read the pair, and another that rotated it meanwhile
    old = fake.pair()
    store = new_store(server)
    store.put(old)
    rotated = fake.pair()
    store.put(rotated)
    auth = RefreshingAuth(settings(), store, endpoint=endpoint(fake), clock=clock)
    # When the first gets the lock to refresh what it read
    result = auth._refresh(old, wait=True, reason="401")
    # Then it takes the stored pair and spends nothing
    assert result == rotated
    assert fake.refreshes == 0


def test_a_token_claimed_by_a_holder_whose_lock_ran_out_is_not_spent_again(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    pair = fake.pair()
    store = new_store(server)
    store.put(pair)
    assert store.claim(pair.refresh or "")  # another process is mid-refresh
    auth = RefreshingAuth(settings(), store, endpoint=endpoint(fake), clock=clock)
    assert auth._refresh(pair, wait=True, reason="expired") == pair
    assert fake.refreshes == 0


def test_many_threads_in_two_processes_never_spend_a_refresh_token_twice(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    # Given two processes with four threads each and a pair about to expire
    new_store(server).put(fake.pair())
    clients = [worker(fake, clock, server) for _ in range(2)]
    failures: list[int] = []

    def calls(http: httpx.Client) -> None:
        for _ in range(5):
            response = http.get(READINESS)
            if response.status_code != 200:
                failures.append(response.status_code)

    # When, several times over, the pair expires and every thread calls at once
    for _ in range(4):
        clock.advance(11)
        threads = [threading.Thread(target=calls, args=(c,)) for c in clients for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    # Then no call failed, each expiry cost one refresh, and no token was spent twice
    assert failures == []
    assert fake.refreshes == 4
    assert max(fake.spent.values()) == 1


def test_without_redis_calls_go_on_with_the_last_pair_and_nothing_is_refreshed(
    process: httpx.Client, fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    new_store(server).put(fake.pair())
    assert process.get(READINESS).status_code == 200
    server.connected = False
    clock.advance(8.5)
    assert process.get(READINESS).status_code == 200
    assert fake.refreshes == 0


def test_a_refreshed_pair_redis_could_not_take_is_used_and_stored_later(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a due pair, and Redis failing the moment the new pair is written
    store = new_store(server)
    old = fake.pair()
    store.put(old)
    clock.advance(8.5)
    auth = RefreshingAuth(settings(), store, endpoint=endpoint(fake), clock=clock)
    http = httpx.Client(base_url=BASE, transport=httpx.MockTransport(fake.handle), auth=auth)
    original = TokenStore.replace

    def failing(self: TokenStore, expected: TokenPair, fresh: TokenPair) -> bool:
        monkeypatch.setattr(TokenStore, "replace", original)
        raise redis.ConnectionError("gone")

    monkeypatch.setattr(TokenStore, "replace", failing)
    # When a call refreshes, and another follows
    assert http.get(READINESS).status_code == 200
    assert store.get() == old
    assert http.get(READINESS).status_code == 200
    # Then the new pair reached Redis on the next call, and only one refresh happened
    stored = store.get()
    assert stored is not None
    assert stored != old
    assert fake.api_calls[-1] == stored.access
    assert fake.refreshes == 1


def test_the_configured_pair_seeds_redis_only_when_nothing_is_stored(
    server: fakeredis.FakeServer,
) -> None:
    store = new_store(server)
    rotated = TokenPair("rotated-access", "rotated-refresh")
    store.put(rotated)
    cfg = settings(kseries_access_token="configured", kseries_refresh_token="configured-r")
    auth_for(cfg, fakeredis.FakeRedis(server=server, decode_responses=True))
    assert store.get() == rotated


def test_a_token_pair_never_shows_its_tokens() -> None:
    pair = TokenPair("secret-access", "secret-refresh", T0, T0)
    assert "secret" not in repr(pair)
    assert "secret" not in str(pair)


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

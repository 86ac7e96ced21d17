"""`RefreshingAuth` when Redis is away (calls go on with what this process saw; a refreshed pair
Redis could not take is kept and stored later), and how the configured pair seeds Redis."""

from __future__ import annotations

import base64
from typing import Any

import fakeredis
import httpx
import pytest
from structlog.testing import capture_logs

from tests.auth.auth_kit import Calls, bearer, process
from tests.auth.fakes import BASE, Clock, FakeKSeries, endpoint, new_store, settings
from worker.kseries.auth import TokenPair, auth_for

UNREACHABLE = {
    "event": "oauth.store_unreachable",
    "log_level": "warning",
    "error": "ConnectionError",
}
LOCK_LOST = {"event": "oauth.lock_lost", "log_level": "warning"}


def skipped(reason: str) -> dict[str, Any]:
    return {
        "event": "oauth.refresh_skipped",
        "log_level": "warning",
        "reason": reason,
        "error": "ConnectionError",
    }


def test_without_redis_from_the_start_a_call_goes_out_without_authorization(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    p = process(fake, clock, server)
    server.connected = False
    with capture_logs() as logs:
        assert p.get().status_code == 401
    assert p.sent == [None]
    assert logs == [UNREACHABLE]


def test_without_redis_calls_go_on_with_the_last_pair_seen_and_skip_the_refresh(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    p = process(fake, clock, server)
    pair = fake.pair()
    p.store.put(pair)
    assert p.get().status_code == 200
    server.connected = False
    clock.advance(8.5)
    with capture_logs() as logs:
        assert p.get().status_code == 200
    assert p.sent == [bearer(pair), bearer(pair)]
    assert logs == [UNREACHABLE, skipped("ahead")]
    assert fake.token_forms == []


def test_redis_lost_once_the_lock_is_held_skips_the_refresh_and_keeps_the_pair(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    p = process(fake, clock, server)
    pair = fake.pair()
    p.store.put(pair)

    def redis_goes_away() -> None:
        server.connected = False

    p.store.after_acquire = redis_goes_away
    clock.advance(9)
    with capture_logs() as logs:
        assert p.get().status_code == 200
    assert p.sent == [bearer(pair)]
    assert logs == [skipped("ahead"), LOCK_LOST]
    assert fake.token_forms == []


def test_a_refreshed_pair_redis_would_not_take_is_used_until_redis_stores_it(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    p = process(fake, clock, server)
    old = fake.pair()
    p.store.put(old)

    def redis_goes_away() -> None:
        server.connected = False

    fake.on_refresh = redis_goes_away  # while the token call is in flight
    clock.advance(10)
    with capture_logs() as logs:
        assert p.get().status_code == 200
    (sent,) = p.sent
    assert sent != bearer(old)
    deferred = {"event": "oauth.save_deferred", "log_level": "error", "error": "ConnectionError"}
    assert logs[0] == deferred
    assert [line["event"] for line in logs] == [
        "oauth.save_deferred",
        "oauth.refreshed",
        "oauth.lock_lost",
    ]
    # Redis still away: the new pair, not the spent one, is what this process uses
    with capture_logs() as logs:
        assert p.get().status_code == 200
    assert p.sent[-1] == sent
    assert logs == [UNREACHABLE]
    # Redis back: the first call stores it, and the next ones find it stored
    server.connected = True
    with capture_logs() as logs:
        assert p.get().status_code == 200
        assert p.get().status_code == 200
    assert logs == [{"event": "oauth.saved_late", "log_level": "info", "stored": True}]
    stored = new_store(server).get()
    assert stored is not None and bearer(stored) == sent
    assert p.sent[-2:] == [sent, sent]
    assert fake.refreshes == 1


def test_a_pair_a_login_stored_while_redis_was_away_wins_over_the_one_saved_late(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    p = process(fake, clock, server)
    p.store.put(fake.pair())
    fake.on_refresh = lambda: setattr(server, "connected", False)
    clock.advance(10)
    assert p.get().status_code == 200
    server.connected = True
    login = fake.pair()
    new_store(server).put(login)
    with capture_logs() as logs:
        assert p.get().status_code == 200
    assert logs == [{"event": "oauth.saved_late", "log_level": "info", "stored": False}]
    assert p.sent[-1] == bearer(login)


# --- the configured pair ------------------------------------------------------------------------


def test_the_configured_pair_is_stored_when_redis_has_none_and_used_for_the_call(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    configured = TokenPair(fake.pair().access, "configured-refresh")
    p = process(fake, clock, server, initial=configured)
    assert p.get().status_code == 200
    assert p.sent == [bearer(configured)]
    assert new_store(server).get() == configured


def test_the_configured_pair_does_not_replace_a_stored_one(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    stored = fake.pair()
    new_store(server).put(stored)
    p = process(fake, clock, server, initial=TokenPair("configured-access", "configured-refresh"))
    assert p.get().status_code == 200
    assert p.sent == [bearer(stored)]


def _client(server: fakeredis.FakeServer) -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis(server=server, decode_responses=True)


@pytest.mark.parametrize(
    ("refresh", "expected"), [("configured-refresh", "configured-refresh"), (None, None)]
)
def test_auth_for_seeds_redis_with_the_configured_tokens(
    server: fakeredis.FakeServer, refresh: str | None, expected: str | None
) -> None:
    cfg = settings(kseries_access_token="configured-access", kseries_refresh_token=refresh)
    auth_for(cfg, _client(server))
    assert new_store(server).get() == TokenPair("configured-access", expected)


def test_auth_for_without_configured_tokens_stores_nothing_and_sends_no_authorization(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    p = Calls(auth_for(settings(), _client(server), clock=clock), fake)
    assert p.get().status_code == 401
    assert p.sent == [None]
    assert new_store(server).get() is None


def test_auth_for_without_redis_defers_the_seed_until_the_first_call_finds_redis(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    access = fake.pair().access
    server.connected = False
    with capture_logs() as logs:
        auth = auth_for(settings(kseries_access_token=access), _client(server), clock=clock)
    assert logs == [
        {"event": "oauth.seed_deferred", "log_level": "warning", "reason": "redis unavailable"}
    ]
    server.connected = True
    p = Calls(auth, fake)
    assert p.get().status_code == 200
    assert p.sent == [f"Bearer {access}"]
    assert new_store(server).get() == TokenPair(access)


def test_auth_for_refreshes_with_the_given_endpoint_on_the_given_clock(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    first = fake.pair()
    new_store(server).put(first)
    auth = auth_for(settings(), _client(server), endpoint=endpoint(fake), clock=clock)
    p = Calls(auth, fake)
    assert p.get().status_code == 200  # fresh on the given clock (long expired on the wall's)
    assert fake.token_forms == []
    clock.advance(10)
    assert p.get().status_code == 200
    assert fake.refreshes == 1
    fresh = new_store(server).get()
    assert fresh is not None and not fresh.same_grant(first)
    assert p.sent == [bearer(first), bearer(fresh)]


def test_without_an_endpoint_refreshes_go_to_the_configured_token_url_with_client_credentials(
    monkeypatch: pytest.MonkeyPatch,
    fake: FakeKSeries,
    clock: Clock,
    server: fakeredis.FakeServer,
) -> None:
    fake.token_path = "/realms/k/token"

    class ToTheFake(httpx.Client):
        """The short-lived client TokenEndpoint opens per call, answered by the fake."""

        def __init__(self, **options: Any) -> None:
            super().__init__(transport=httpx.MockTransport(fake.handle), **options)

    old = fake.pair()
    new_store(server).put(old)
    cfg = settings(kseries_token_url=f"{BASE}/realms/k/token")
    auth = auth_for(cfg, _client(server), clock=clock)
    p = Calls(auth, fake)
    monkeypatch.setattr(httpx, "Client", ToTheFake)
    clock.advance(10)
    assert p.get().status_code == 200
    assert [f["refresh_token"] for f in fake.token_forms] == [old.refresh]
    credentials = base64.b64encode(b"orderflow-client:client-secret").decode()
    assert fake.token_auth == [f"Basic {credentials}"]

"""What each answer of the token endpoint leaves behind: the stored pair (and the refresh expiry it
keeps), the claim on the spent token, the keepalive's result, and the exact log lines."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import fakeredis
import httpx
from structlog.testing import capture_logs

from tests.auth.auth_kit import NOT_WAITED, bearer, process, refreshed, unknown_age
from tests.auth.fakes import T0, Clock, FakeKSeries, new_store, settings
from worker.kseries.auth import TokenEndpoint, TokenPair
from worker.kseries.tokens import DEFAULT_REFRESH_LIFETIME


def refused(reason: str, status: int, error: str) -> dict[str, Any]:
    return {
        "event": "oauth.refresh_refused",
        "log_level": "error",
        "reason": reason,
        "status": status,
        "error": error,
    }


def test_a_refresh_token_refused_as_invalid_grant_is_marked_so_and_the_401_stands(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    p = process(fake, clock, server)
    old = unknown_age(fake.pair())
    p.store.put(old)
    fake.live.clear()  # K-Series revoked the refresh token
    clock.advance(11)
    with capture_logs() as logs:
        assert p.get().status_code == 401
    assert p.sent == [bearer(old)]
    assert logs == [refused("401", 400, "invalid_grant")]
    assert old.refresh is not None and new_store(server).refused(old.refresh)
    assert new_store(server).get() == old


def test_any_other_refusal_releases_the_token_for_a_later_refresh(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    p = process(fake, clock, server)
    old = unknown_age(fake.pair())
    p.store.put(old)
    clock.advance(11)
    fake.token_status = 401  # our client credentials, not the token
    with capture_logs() as logs:
        assert p.get().status_code == 401
    assert logs == [refused("401", 401, "server_error")]
    assert old.refresh is not None and not new_store(server).refused(old.refresh)
    fake.token_status = None
    assert p.get().status_code == 200
    assert fake.refreshes == 2


def test_a_refresh_token_claimed_by_another_spender_is_not_spent(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    p = process(fake, clock, server)
    old = fake.pair()
    p.store.put(old)
    assert old.refresh is not None and new_store(server).claim(old.refresh)
    clock.advance(8.5)
    with capture_logs() as logs:
        assert p.get().status_code == 200
    assert p.sent == [bearer(old)]
    assert fake.token_forms == []
    assert logs == []


def test_an_answer_without_a_new_refresh_token_keeps_the_known_refresh_expiry(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    p = process(fake, clock, server)
    issued = fake.pair()
    old = TokenPair(issued.access, issued.refresh, issued.expires_at, T0, T0 + timedelta(days=5))
    p.store.put(old)
    fake.omit_refresh_token = True
    clock.advance(10)
    with capture_logs() as logs:
        assert p.get().status_code == 200
    fresh = new_store(server).get()
    assert fresh is not None and fresh.access != old.access
    assert fresh.refresh == old.refresh
    assert fresh.refresh_expires_at == T0 + timedelta(days=5)
    assert logs == [refreshed("expired", fresh)]


def test_an_answer_without_a_new_refresh_token_assumes_fourteen_days_when_none_was_known(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    p = process(fake, clock, server)
    old = unknown_age(fake.pair())
    p.store.put(old)
    fake.omit_refresh_token = True
    clock.advance(11)
    assert p.get().status_code == 200
    fresh = new_store(server).get()
    assert fresh is not None and fresh.refresh == old.refresh
    assert fresh.refresh_expires_at == clock() + DEFAULT_REFRESH_LIFETIME


def test_the_same_refresh_token_sent_back_with_an_announced_expiry_keeps_that_expiry(
    clock: Clock, server: fakeredis.FakeServer
) -> None:
    def token_endpoint(request: httpx.Request) -> httpx.Response:
        body = {
            "access_token": "access-2",
            "refresh_token": "refresh-1",
            "expires_in": 3600,
            "refresh_expires_in": 7200,
        }
        return httpx.Response(200, json=body)

    http = httpx.Client(transport=httpx.MockTransport(token_endpoint))
    p = process(FakeKSeries(clock), clock, server, token_endpoint=TokenEndpoint(settings(), http))
    p.store.put(TokenPair("access-1", "refresh-1", T0, T0 - timedelta(hours=1), T0))
    assert p.auth.keep_alive() is not None
    stored = new_store(server).get()
    assert stored == TokenPair(
        "access-2", "refresh-1", T0 + timedelta(hours=1), T0, T0 + timedelta(hours=2)
    )


def test_a_login_stored_during_a_refresh_is_kept_and_the_refresh_says_so(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    p = process(fake, clock, server)
    p.store.put(fake.pair())
    login = fake.pair()
    fake.on_refresh = lambda: new_store(server).put(login)
    clock.advance(10)
    with capture_logs() as logs:
        assert p.get().status_code == 200
    assert new_store(server).get() == login
    (used,) = p.sent
    assert used != bearer(login)
    assert logs[0] == {"event": "oauth.replaced_meanwhile", "log_level": "warning"}
    assert [line["event"] for line in logs] == ["oauth.replaced_meanwhile", "oauth.refreshed"]


# --- keepalive ----------------------------------------------------------------------------------


def _expiring(fake: FakeKSeries, refresh_left: timedelta) -> TokenPair:
    issued = fake.pair()
    return TokenPair(issued.access, issued.refresh, T0 + timedelta(hours=1), T0, T0 + refresh_left)


def test_the_keepalive_spends_a_refresh_token_two_days_from_expiry_without_waiting(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    p = process(fake, clock, server)
    p.store.put(_expiring(fake, timedelta(days=2)))
    with capture_logs() as logs:
        fresh = p.auth.keep_alive()
    assert fresh is not None
    assert fresh == new_store(server).get()
    assert p.store.acquires == [NOT_WAITED]
    assert logs == [refreshed("keepalive", fresh)]


def test_the_keepalive_leaves_a_refresh_token_with_more_than_two_days_alone(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    p = process(fake, clock, server)
    pair = _expiring(fake, timedelta(days=2, seconds=1))
    p.store.put(pair)
    assert p.auth.keep_alive() is None
    assert fake.token_forms == [] and p.store.acquires == []
    assert new_store(server).get() == pair


def test_the_keepalive_does_nothing_without_a_stored_pair(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    p = process(fake, clock, server)
    assert p.auth.keep_alive() is None
    assert fake.token_forms == [] and p.store.acquires == []


def test_the_keepalive_of_a_refused_token_takes_no_lock_and_spends_nothing(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    p = process(fake, clock, server)
    pair = _expiring(fake, timedelta(days=1))
    p.store.put(pair)
    assert pair.refresh is not None
    new_store(server).mark_refused(pair.refresh)
    assert p.auth.keep_alive() is None
    assert fake.token_forms == [] and p.store.acquires == []


def test_a_failed_keepalive_returns_nothing_and_keeps_the_pair(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    p = process(fake, clock, server)
    pair = _expiring(fake, timedelta(days=1))
    p.store.put(pair)
    fake.token_status = 502
    with capture_logs() as logs:
        assert p.auth.keep_alive() is None
    assert new_store(server).get() == pair
    assert [(line["event"], line["reason"]) for line in logs] == [
        ("oauth.refresh_failed", "keepalive")
    ]


def test_a_keepalive_that_cannot_reach_redis_is_skipped_and_says_so(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    p = process(fake, clock, server)
    p.store.put(_expiring(fake, timedelta(days=3)))
    assert p.auth.keep_alive() is None  # not due yet; this process has now seen the pair
    clock.advance(timedelta(days=1, seconds=1).total_seconds())
    server.connected = False
    with capture_logs() as logs:
        assert p.auth.keep_alive() is None
    assert logs == [
        {"event": "oauth.store_unreachable", "log_level": "warning", "error": "ConnectionError"},
        {"event": "oauth.keepalive_skipped", "log_level": "warning", "error": "ConnectionError"},
    ]
    assert fake.token_forms == []

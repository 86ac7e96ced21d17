"""Token refresh and rotation across threads and processes: never a refresh token spent twice."""

from __future__ import annotations

import threading
from datetime import timedelta

import fakeredis
import httpx
import pytest
import redis

from tests.auth.fakes import (
    BASE,
    READINESS,
    T0,
    Clock,
    FakeKSeries,
    endpoint,
    new_store,
    settings,
    worker,
)
from worker.kseries.auth import (
    RefreshingAuth,
    TokenPair,
    TokenStore,
    auth_for,
)
from worker.oauth import (
    status,
)

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

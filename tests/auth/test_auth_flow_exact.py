"""Exactly what one call through `RefreshingAuth` does: the Authorization K-Series receives, whether
and how the refresh lock is waited for, when a 401 is retried, and the exact log lines."""

from __future__ import annotations

import asyncio

import fakeredis
import httpx
import pytest
from structlog.testing import capture_logs

from tests.auth.auth_kit import (
    NOT_WAITED,
    WAITED,
    bearer,
    process,
    refreshed,
    unknown_age,
)
from tests.auth.fakes import BASE, Clock, FakeKSeries, new_store
from worker.kseries.auth import TokenPair
from worker.kseries.tokens import LOCK_KEY


def _revoke(fake: FakeKSeries, pair: TokenPair) -> None:
    """K-Series no longer accepts this access token (revoked, or expired on its side)."""
    del fake.access[pair.access]


def test_an_expired_pair_is_refreshed_waiting_for_the_lock_and_the_call_carries_the_new_token(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    p = process(fake, clock, server)
    old = fake.pair()
    p.store.put(old)
    clock.advance(10)  # the very moment it expires
    with capture_logs() as logs:
        assert p.get().status_code == 200
    fresh = new_store(server).get()
    assert fresh is not None and not fresh.same_grant(old)
    assert p.sent == [bearer(fresh)]
    assert [f["refresh_token"] for f in fake.token_forms] == [old.refresh]
    assert p.store.acquires == [WAITED]
    assert logs == [refreshed("expired", fresh)]


def test_a_pair_due_ahead_of_expiry_is_refreshed_without_waiting_for_the_lock(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    p = process(fake, clock, server)
    old = fake.pair()
    p.store.put(old)
    clock.advance(8.5)  # 20 % of 10 s ahead of expiry: due, not expired
    with capture_logs() as logs:
        assert p.get().status_code == 200
    fresh = new_store(server).get()
    assert fresh is not None and not fresh.same_grant(old)
    assert p.sent == [bearer(fresh)]
    assert p.store.acquires == [NOT_WAITED]
    assert logs == [refreshed("ahead", fresh)]


def test_ahead_of_expiry_the_pair_another_process_stored_while_holding_the_lock_is_used(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    p = process(fake, clock, server)
    p.store.put(fake.pair())
    theirs = fake.pair()
    held = new_store(server).lock()
    assert held.acquire(blocking=False)  # another process is refreshing

    def they_finish_storing() -> None:
        new_store(server).put(theirs)

    p.store.before_acquire = they_finish_storing
    clock.advance(8.5)
    with capture_logs() as logs:
        assert p.get().status_code == 200
    assert p.sent == [bearer(theirs)]
    assert fake.refreshes == 0
    assert p.store.acquires == [NOT_WAITED]
    assert logs == []


def test_without_any_stored_pair_a_call_goes_out_without_authorization_and_its_401_stands(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    p = process(fake, clock, server)
    with capture_logs() as logs:
        assert p.get().status_code == 401
    assert p.sent == [None]
    assert fake.token_forms == []
    assert logs == []


def test_a_successful_call_with_a_pair_of_unknown_age_refreshes_nothing(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    p = process(fake, clock, server)
    pair = unknown_age(fake.pair())
    p.store.put(pair)
    clock.advance(5)
    assert p.get().status_code == 200
    assert p.sent == [bearer(pair)]
    assert fake.token_forms == []
    assert p.store.acquires == []


def test_a_401_on_a_pair_of_unknown_age_refreshes_waiting_and_retries_once_with_the_new_token(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    p = process(fake, clock, server)
    old = unknown_age(fake.pair())
    p.store.put(old)
    clock.advance(11)  # K-Series let it expire; orderflow could not know when
    with capture_logs() as logs:
        assert p.get().status_code == 200
    fresh = new_store(server).get()
    assert fresh is not None and not fresh.same_grant(old)
    assert p.sent == [bearer(old), bearer(fresh)]
    assert p.store.acquires == [WAITED]
    assert logs == [refreshed("401", fresh)]


def test_a_401_on_a_pair_obtained_seconds_ago_but_not_just_now_refreshes_and_retries(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    p = process(fake, clock, server)
    old = fake.pair()
    p.store.put(old)
    _revoke(fake, old)
    clock.advance(5)  # not due (8 s), no longer young (2 s)
    with capture_logs() as logs:
        assert p.get().status_code == 200
    fresh = new_store(server).get()
    assert fresh is not None and not fresh.same_grant(old)
    assert p.sent == [bearer(old), bearer(fresh)]
    assert logs == [refreshed("401", fresh)]


def test_a_401_on_a_young_pair_is_retried_with_the_pair_a_login_stored_meanwhile(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    p = process(fake, clock, server)
    old = fake.pair()
    p.store.put(old)
    _revoke(fake, old)
    login = fake.pair()
    p.on_call = lambda: new_store(server).put(login)
    clock.advance(1)  # young: a 401 now cannot mean it expired
    assert p.get().status_code == 200
    assert p.sent == [bearer(old), bearer(login)]
    assert fake.token_forms == []
    assert p.store.acquires == []


def test_a_401_is_final_when_the_refresh_fails_and_a_later_call_tries_the_token_again(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    p = process(fake, clock, server)
    old = unknown_age(fake.pair())
    p.store.put(old)
    clock.advance(11)
    fake.token_status = 503
    with capture_logs() as logs:
        assert p.get().status_code == 401
    assert p.sent == [bearer(old)]
    assert logs == [
        {
            "event": "oauth.refresh_failed",
            "log_level": "error",
            "reason": "401",
            "error": "token answered 503",
        }
    ]
    assert new_store(server).get() == old
    fake.token_status = None
    assert p.get().status_code == 200
    assert [f["refresh_token"] for f in fake.token_forms] == [old.refresh, old.refresh]


def test_a_401_on_a_pair_without_a_refresh_token_stands_and_nothing_is_spent(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    p = process(fake, clock, server)
    only_access = TokenPair(fake.pair().access)
    p.store.put(only_access)
    clock.advance(11)
    with capture_logs() as logs:
        assert p.get().status_code == 401
    assert p.sent == [bearer(only_access)]
    assert fake.token_forms == []
    assert logs == []


def test_a_lock_lease_that_ran_out_during_a_refresh_still_stores_the_new_pair(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    p = process(fake, clock, server)
    old = fake.pair()
    p.store.put(old)

    def lease_runs_out() -> None:
        new_store(server).client.delete(LOCK_KEY)

    p.store.after_acquire = lease_runs_out
    clock.advance(10)
    with capture_logs() as logs:
        assert p.get().status_code == 200
    fresh = new_store(server).get()
    assert fresh is not None and not fresh.same_grant(old)
    assert p.sent == [bearer(fresh)]
    assert logs == [
        refreshed("expired", fresh),
        {"event": "oauth.lock_lost", "log_level": "warning"},
    ]


def test_an_async_client_is_refused_with_a_message_saying_to_use_a_blocking_one(
    fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    p = process(fake, clock, server)

    async def call() -> None:
        transport = httpx.MockTransport(fake.handle)
        async with httpx.AsyncClient(base_url=BASE, transport=transport, auth=p.auth) as http:
            await http.get("/o/op/1/onlineOrderReadiness")

    with pytest.raises(NotImplementedError) as refused:
        asyncio.run(call())
    assert str(refused.value) == "RefreshingAuth does blocking Redis I/O: use httpx.Client"
    assert fake.api_calls == []

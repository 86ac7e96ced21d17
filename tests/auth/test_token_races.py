"""The shared token pair under races: a login while a refresh is in flight wins, and a token
answer without a refresh token keeps the one that still works."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fakeredis
import httpx
import pytest
import redis

from tests.auth.fakes import READINESS, T0, Clock, FakeKSeries, endpoint, new_store
from worker.kseries.auth import TokenPair, TokenStore
from worker.kseries.tokens import TOKENS_KEY

# --- a login during a refresh ----------------------------------------------------------------


def test_a_login_during_a_refresh_is_kept_and_the_refresh_does_not_overwrite_it(
    process: httpx.Client, fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    # Given a stored pair due for refresh
    old = fake.pair()
    store = new_store(server)
    store.put(old)
    clock.advance(9)
    # And an operator whose `orderflow auth login` stores a new pair while the refresh is in flight
    login = fake.pair()
    fake.on_refresh = lambda: store.put(login)
    # When a call makes this process refresh
    assert process.get(READINESS).status_code == 200
    # Then the refresh happened, but the login's pair is what is stored
    assert fake.refreshes == 1
    stored = store.get()
    assert stored is not None and stored.same_grant(login)
    # And the next call uses it
    fake.on_refresh = None
    assert process.get(READINESS).status_code == 200
    assert fake.api_calls[-1] == login.access


def test_replace_refuses_when_the_stored_pair_is_not_the_one_it_replaces(
    server: fakeredis.FakeServer,
) -> None:
    store = new_store(server)
    spent, login, refreshed = TokenPair("a1", "r1"), TokenPair("a2", "r2"), TokenPair("a3", "r3")
    store.put(spent)
    store.put(login)  # a login since `spent` was read
    assert store.replace(spent, refreshed) is False
    assert store.get() == login
    # and with nothing stored (the key expired or was deleted), nothing is written either
    server_client = fakeredis.FakeRedis(server=server, decode_responses=True)
    server_client.delete(TOKENS_KEY)
    assert store.replace(spent, refreshed) is False
    assert store.get() is None
    # the expected pair still stored: replaced
    store.put(spent)
    assert store.replace(spent, refreshed) is True
    assert store.get() == refreshed


class LoginAfterRead(redis.Redis):
    """A real client: right after `replace` reads the stored pair (however it reads it), a login
    from another process lands, before `replace` writes."""

    login: TokenPair | None = None

    def _after(self, args: tuple[Any, ...]) -> None:
        if str(args[0]).upper() == "GET" and self.login is not None:
            login, self.login = self.login, None
            other = redis.Redis(connection_pool=self.connection_pool)
            TokenStore(other).put(login)

    def execute_command(self, *args: Any, **options: Any) -> Any:
        result = super().execute_command(*args, **options)
        self._after(args)
        return result

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        pipe = super().pipeline(transaction, shard_hint)
        immediate = pipe.immediate_execute_command  # WATCHed reads run at once, through here

        def read_then_login(*args: Any, **options: Any) -> Any:
            result = immediate(*args, **options)
            self._after(args)
            return result

        pipe.immediate_execute_command = read_then_login
        return pipe


@pytest.fixture
def real_store(redis_server: str) -> Iterator[tuple[LoginAfterRead, TokenStore]]:
    client = LoginAfterRead.from_url(redis_server, decode_responses=True)
    client.flushdb()
    yield client, TokenStore(client)
    client.flushdb()
    client.close()


def test_a_login_between_replaces_read_and_write_is_not_overwritten(
    real_store: tuple[LoginAfterRead, TokenStore],
) -> None:
    client, store = real_store
    spent, login, refreshed = TokenPair("a1", "r1"), TokenPair("a2", "r2"), TokenPair("a3", "r3")
    store.put(spent)
    client.login = login
    assert store.replace(spent, refreshed) is False
    assert store.get() == login


# --- an answer without a refresh token ------------------------------------------------------


def test_a_refresh_answer_without_a_refresh_token_keeps_the_old_one(
    process: httpx.Client, fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    # Given a pair due for refresh, and a token endpoint that does not rotate refresh tokens
    old = fake.pair()
    store = new_store(server)
    store.put(old)
    clock.advance(9)
    fake.omit_refresh_token = True
    # When a call makes this process refresh
    assert process.get(READINESS).status_code == 200
    # Then the new access token is stored with the old refresh token, which still works
    stored = store.get()
    assert stored is not None
    assert stored.access != old.access and stored.access == fake.api_calls[-1]
    assert stored.refresh == old.refresh
    assert old.refresh in fake.live


def test_the_token_endpoint_keeps_the_spent_refresh_token_only_when_none_came_back(
    fake: FakeKSeries,
) -> None:
    old = fake.pair()
    assert old.refresh is not None
    fake.omit_refresh_token = True
    kept = endpoint(fake).refresh(old.refresh, T0)
    assert kept.refresh == old.refresh
    fake.omit_refresh_token = False
    rotated = endpoint(fake).refresh(old.refresh, T0)
    assert rotated.refresh not in (None, old.refresh)

"""The token pair's exact boundaries and the exact Redis records of the token store: what is
stored, under which key, for how long (mutation testing, issue 10)."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import fakeredis
import pytest

from tests.auth.fakes import T0
from worker.kseries.tokens import (
    CLAIM_TTL_S,
    LOCK_LEASE_S,
    REFUSED_TTL_S,
    TOKENS_TTL_S,
    TokenPair,
    TokenStore,
    claim_key,
)

DAY = timedelta(days=1)


def _store(
    business_id: int | None = None, *, decode: bool = True
) -> tuple[TokenStore, fakeredis.FakeRedis]:
    client = fakeredis.FakeRedis(decode_responses=decode)
    return TokenStore(client, business_id), client


# --- the pair's moments ----------------------------------------------------------------------


def test_a_pair_expires_exactly_at_its_expiry_and_one_of_unknown_expiry_never_does() -> None:
    pair = TokenPair("a", "r", T0 + timedelta(seconds=60), T0)
    assert not pair.expired(T0 + timedelta(seconds=59, microseconds=999_999))
    assert pair.expired(T0 + timedelta(seconds=60))
    assert not TokenPair("a", "r").expired(T0 + 1000 * DAY)


def test_a_pair_is_young_for_a_fifth_of_a_short_lifetime_and_ten_seconds_of_a_long_one() -> None:
    short = TokenPair("a", "r", T0 + timedelta(seconds=10), T0)  # young for 2 s
    assert short.young(T0 + timedelta(seconds=1, microseconds=999_999))
    assert not short.young(T0 + timedelta(seconds=2))
    long = TokenPair("a", "r", T0 + timedelta(hours=1), T0)  # young for 10 s
    assert long.young(T0 + timedelta(seconds=9, microseconds=999_999))
    assert not long.young(T0 + timedelta(seconds=10))


def test_a_pair_of_unknown_age_is_never_young_even_with_a_known_expiry() -> None:
    assert not TokenPair("a", "r", T0 + timedelta(hours=1)).young(T0)
    assert not TokenPair("a", "r").young(T0)


def test_a_pair_that_expired_before_it_was_obtained_has_no_lifetime_left() -> None:
    pair = TokenPair("a", "r", T0 - timedelta(seconds=5), T0)
    assert pair.lifetime == timedelta(0)
    assert pair.refresh_at == T0 - timedelta(seconds=5)


def test_without_a_refresh_token_no_keepalive_is_ever_due() -> None:
    assert not TokenPair("a", None, T0, T0).keepalive_due(T0 + 1000 * DAY)
    assert not TokenPair("a", "", T0, T0, T0).keepalive_due(T0 + 1000 * DAY)


def test_a_refresh_token_of_known_age_but_unknown_expiry_lives_fourteen_days() -> None:
    # stored before refresh expiries were kept: the keepalive spends it 2 days before day 14
    pair = TokenPair("a", "r", T0 + timedelta(hours=1), T0)
    assert not pair.keepalive_due(T0 + 12 * DAY - timedelta(microseconds=1))
    assert pair.keepalive_due(T0 + 12 * DAY)


def test_the_keepalive_is_due_exactly_two_days_before_the_announced_refresh_expiry() -> None:
    pair = TokenPair("a", "r", T0 + timedelta(hours=1), T0, T0 + 30 * DAY)
    assert not pair.keepalive_due(T0 + 28 * DAY - timedelta(microseconds=1))
    assert pair.keepalive_due(T0 + 28 * DAY)


def test_two_pairs_are_the_same_grant_only_when_both_tokens_match() -> None:
    pair = TokenPair("a", "r", T0, T0)
    assert pair.same_grant(TokenPair("a", "r"))
    assert not pair.same_grant(TokenPair("a", "other"))
    assert not pair.same_grant(TokenPair("other", "r"))


def test_a_pair_shows_its_expiry_and_whether_it_has_a_refresh_token_only() -> None:
    expiry = T0 + timedelta(hours=1)
    assert repr(TokenPair("a", "r", expiry, T0)) == (
        "TokenPair(expires_at=2026-11-22T13:00:00+00:00, refresh=yes)"
    )
    assert repr(TokenPair("a")) == "TokenPair(expires_at=None, refresh=no)"


# --- the stored records ----------------------------------------------------------------------


def test_a_login_is_stored_as_exact_json_for_ninety_days_and_reads_back_equal() -> None:
    store, client = _store()
    pair = TokenPair("acc", "ref", T0 + timedelta(hours=1), T0, T0 + 14 * DAY)
    store.put(pair)
    raw = client.get("orderflow:oauth:tokens")
    assert isinstance(raw, str)
    assert json.loads(raw) == {
        "access": "acc",
        "refresh": "ref",
        "expires_at": "2026-11-22T13:00:00+00:00",
        "obtained_at": "2026-11-22T12:00:00+00:00",
        "refresh_expires_at": "2026-12-06T12:00:00+00:00",
    }
    assert client.ttl("orderflow:oauth:tokens") == TOKENS_TTL_S == 90 * 24 * 3600
    assert store.get() == pair
    assert store.label == "default"


def test_a_business_pair_is_stored_under_its_business_and_locked_on_its_own() -> None:
    store, client = _store(77)
    store.put(TokenPair("acc"))
    assert client.keys("*") == ["orderflow:oauth:tokens:77"]
    assert store.lock().name == "orderflow:oauth:lock:77"
    assert store.label == "77"
    assert _store()[0].lock().name == "orderflow:oauth:lock"


def test_the_configured_pair_is_seeded_for_ninety_days_only_when_none_is_stored() -> None:
    store, client = _store()
    assert store.seed(TokenPair("configured", "r")) is True
    assert client.ttl("orderflow:oauth:tokens") == TOKENS_TTL_S
    assert store.seed(TokenPair("other", "r2")) is False
    assert store.get() == TokenPair("configured", "r")


def test_a_replaced_pair_is_stored_for_another_ninety_days() -> None:
    store, client = _store()
    old, fresh = TokenPair("a1", "r1"), TokenPair("a2", "r2", T0, T0)
    client.set("orderflow:oauth:tokens", old.to_json(), ex=60)
    assert store.replace(old, fresh) is True
    assert client.ttl("orderflow:oauth:tokens") == TOKENS_TTL_S
    assert store.get() == fresh


def test_replace_compares_both_tokens_of_the_stored_pair() -> None:
    store, _ = _store()
    store.put(TokenPair("a1", "r1"))
    assert store.replace(TokenPair("a1", "other"), TokenPair("a2", "r2")) is False
    assert store.replace(TokenPair("other", "r1"), TokenPair("a2", "r2")) is False
    assert store.get() == TokenPair("a1", "r1")


def test_a_claim_is_named_by_a_digest_of_the_token_and_held_for_sixty_seconds() -> None:
    store, client = _store()
    digest = hashlib.sha256(b"the-refresh-token").hexdigest()[:32]
    assert claim_key("the-refresh-token") == f"orderflow:oauth:claim:{digest}"
    assert store.claim("the-refresh-token") is True
    assert client.get(f"orderflow:oauth:claim:{digest}") == "spending"
    assert client.ttl(f"orderflow:oauth:claim:{digest}") == CLAIM_TTL_S == 60
    assert store.claim("the-refresh-token") is False
    assert not store.refused("the-refresh-token")  # being spent is not refused


def test_a_refused_token_is_marked_so_for_thirty_days_and_a_release_forgets_a_claim() -> None:
    store, client = _store()
    store.mark_refused("spent")
    assert client.get(claim_key("spent")) == "refused"
    assert client.ttl(claim_key("spent")) == REFUSED_TTL_S == 30 * 24 * 3600
    assert store.refused("spent")
    store.claim("other")
    store.release("other")
    assert client.get(claim_key("other")) is None


def test_a_refused_token_is_recognised_on_a_client_without_decoded_responses() -> None:
    store, _ = _store(decode=False)
    store.put(TokenPair("a", "r"))
    assert not store.refused_now()
    store.mark_refused("r")
    assert store.refused("r")
    assert store.refused_now()


def test_refused_now_is_false_without_a_refresh_token_and_when_redis_cannot_say() -> None:
    store, _ = _store()
    assert not store.refused_now()  # nothing stored
    store.put(TokenPair("a", None))
    store.mark_refused("")
    assert not store.refused_now()
    server = fakeredis.FakeServer()
    down = TokenStore(fakeredis.FakeRedis(server=server, decode_responses=True))
    down.put(TokenPair("a", "r"))
    down.mark_refused("r")
    assert down.refused_now()
    server.connected = False
    assert not down.refused_now()


def test_the_refresh_lock_is_leased_for_thirty_seconds_and_polled_every_fifty_ms() -> None:
    store, client = _store()
    lock = store.lock()
    assert lock.acquire(blocking=False)
    assert 29_000 < client.pttl("orderflow:oauth:lock") <= LOCK_LEASE_S * 1000 == 30_000
    assert lock.sleep == pytest.approx(0.05)
    assert store.lock().acquire(blocking=False) is False

"""Each business stays logged in and its locations stay current (issue 14, items 2 and 3): the
sweepers' keepalive pass spends every business's refresh token before it expires and reads each
business list again on a schedule; a 403 reads the business's list at once."""

from __future__ import annotations

import fakeredis
import pytest

from tests.auth.business_fakes import (
    PIZZA,
    PIZZA_BL,
    PIZZA_BL_2,
    SUSHI,
    SUSHI_BL,
    BusinessKSeries,
    World,
)
from tests.auth.fakes import Clock, endpoint, new_store, settings
from worker.errors import AuthError
from worker.kseries.routing import LIST_EVERY, RELIST_AFTER_403_S
from worker.kseries.tokens import DEFAULT_REFRESH_LIFETIME, KEEPALIVE_AHEAD
from worker.oauth import log_in

DAY_S = 24 * 3600


@pytest.fixture
def kseries(clock: Clock) -> BusinessKSeries:
    return BusinessKSeries(clock, ttl_s=3600)


@pytest.fixture
def world(kseries: BusinessKSeries, clock: Clock, server: fakeredis.FakeServer) -> World:
    for business in (PIZZA, SUSHI):
        code = kseries.code(business)
        log_in(settings(), new_store(server), code, endpoint=endpoint(kseries), now=clock())
    return World(kseries, clock, server)


def test_the_keepalive_spends_every_business_refresh_token_before_it_expires(
    kseries: BusinessKSeries, clock: Clock, world: World
) -> None:
    # Given both businesses logged in and no call at all
    first = {b: world.auth.logins.store(b).get() for b in (PIZZA, SUSHI)}
    # When the keepalive looks daily for a month
    for _ in range(30):
        clock.advance(DAY_S)
        world.auth.keep_alive()
    # Then each business's refresh token was spent at least every twelve days (the daily list
    # reads spend some too), each token once, on the business's own grant
    rotations = [kseries.bound[token] for token in kseries.spent]
    keepalives = 30 * DAY_S // (DEFAULT_REFRESH_LIFETIME - KEEPALIVE_AHEAD).total_seconds()
    assert rotations.count(PIZZA) == rotations.count(SUSHI) >= keepalives
    assert set(kseries.spent.values()) == {1}
    for business, pair in first.items():
        now = world.auth.logins.store(business).get()
        assert now is not None and pair is not None and not now.same_grant(pair)
        assert kseries.bound[now.access] == business
    # And a call for each works now
    world.client.readiness(PIZZA_BL)
    world.client.readiness(SUSHI_BL)


def test_a_location_added_to_a_business_is_picked_up_by_the_scheduled_read(
    kseries: BusinessKSeries, clock: Clock, world: World
) -> None:
    # Given Pizza One opens location 13 after logging in
    kseries.businesses[PIZZA][1].append(13)
    assert not world.auth.logins.covers(13)
    # When the keepalive passes before the list is due, nothing is read
    reads = kseries.list_calls
    clock.advance(LIST_EVERY.total_seconds() - 1)
    world.auth.keep_alive()
    assert kseries.list_calls == reads
    # And once it is due, each business's list is read once (with its own tokens)
    clock.advance(1)
    world.auth.keep_alive()
    world.auth.keep_alive()  # a second sweeper in the same minute reads nothing more
    assert kseries.list_calls == reads + 2
    # Then location 13 is Pizza One's, and its calls go on Pizza One's tokens
    covering = world.auth.logins.covering(13)
    assert covering is not None and covering.business_id == PIZZA
    world.client.readiness(13)
    assert kseries.uses[-1] == (PIZZA, 13)


def test_a_location_moved_to_another_business_is_dropped_after_a_403_and_found_by_the_schedule(
    kseries: BusinessKSeries, clock: Clock, world: World
) -> None:
    # Given location 12 moved from Pizza One to Sushi Two at K-Series
    kseries.businesses[PIZZA] = ("Pizza One", [PIZZA_BL])
    kseries.businesses[SUSHI] = ("Sushi Two", [SUSHI_BL, PIZZA_BL_2])
    # When a call for it is made on Pizza One's tokens, K-Series answers 403
    with pytest.raises(AuthError):
        world.client.readiness(PIZZA_BL_2)
    # Then Pizza One's list was read at once: location 12 is no longer Pizza One's
    assert world.auth.logins.get(PIZZA).locations.keys() == {PIZZA_BL}  # type: ignore[union-attr]
    # And the next call is refused unsent until a list names it
    uses = len(kseries.uses)
    with pytest.raises(AuthError, match="no K-Series login covers"):
        world.client.readiness(PIZZA_BL_2)
    assert len(kseries.uses) == uses
    # And once Sushi Two's list is read on schedule, its calls go on Sushi Two's tokens
    clock.advance(LIST_EVERY.total_seconds())
    world.auth.keep_alive()
    world.client.readiness(PIZZA_BL_2)
    assert kseries.uses[-1] == (SUSHI, PIZZA_BL_2)


def test_403s_read_the_business_list_again_at_most_every_thirty_seconds(
    kseries: BusinessKSeries, clock: Clock, world: World, server: fakeredis.FakeServer
) -> None:
    # Given Pizza One's token K-Series refuses for its location (a permission taken away)
    kseries.businesses[SUSHI] = ("Sushi Two", [SUSHI_BL])
    reads = kseries.list_calls
    owner = kseries.owner
    kseries.owner = lambda bl: None if bl == PIZZA_BL else owner(bl)  # type: ignore[method-assign]
    # When several calls meet a 403
    for _ in range(5):
        with pytest.raises(AuthError):
            world.client.readiness(PIZZA_BL)
    # Then the list was read once for them
    assert kseries.list_calls == reads + 1
    # (the throttle is a Redis key that lives RELIST_AFTER_403_S)
    ttl = fakeredis.FakeRedis(server=server).pttl(f"orderflow:oauth:listing:{PIZZA}")
    assert 0 < ttl <= RELIST_AFTER_403_S * 1000


def test_a_business_list_read_that_fails_or_lists_no_location_keeps_the_locations_known(
    kseries: BusinessKSeries, clock: Clock, world: World, server: fakeredis.FakeServer
) -> None:
    r = fakeredis.FakeRedis(server=server)
    for answer in (503, 200):  # K-Series down; then a list without a single location
        if answer == 200:
            kseries.businesses[PIZZA] = ("Pizza One", [])
            kseries.businesses.pop(SUSHI)
        kseries.list_status = None if answer == 200 else answer
        r.delete(*(f"orderflow:oauth:listing:{b}" for b in (PIZZA, SUSHI)))  # no recent read
        reads = kseries.list_calls
        clock.advance(LIST_EVERY.total_seconds())
        world.auth.keep_alive()
        assert kseries.list_calls == reads + 2
        assert world.auth.logins.covers(PIZZA_BL) and world.auth.logins.covers(SUSHI_BL)

"""A quiet shop stays logged in: the refresh token is spent before it expires, calls or not
(issue 9, item 14)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import fakeredis
import httpx

from tests.auth.fakes import BASE, Clock, FakeKSeries, endpoint, new_store, settings
from worker.kseries.auth import RefreshingAuth, TokenPair
from worker.kseries.tokens import DEFAULT_REFRESH_LIFETIME, KEEPALIVE_AHEAD
from worker.oauth import redeem

HOUR_S = 3600
DAY_S = 24 * HOUR_S


class ExpiringRefresh(FakeKSeries):
    """Refresh tokens die `refresh_ttl` after they were issued, as K-Series' do (14 days);
    `refresh_expires_in` is sent when `announce` is set."""

    def __init__(self, clock: Clock, refresh_ttl: timedelta, announce: bool = False) -> None:
        super().__init__(clock, ttl_s=HOUR_S)
        self.refresh_ttl, self.announce = refresh_ttl, announce
        self.issued: dict[str, datetime] = {}

    def issue(self) -> dict[str, Any]:
        body = super().issue()
        self.issued[body["refresh_token"]] = self.clock()
        if self.announce:
            body["refresh_expires_in"] = int(self.refresh_ttl.total_seconds())
        return body

    def _token(self, request: httpx.Request) -> httpx.Response:
        token = request.content.decode().partition("refresh_token=")[2].partition("&")[0]
        issued = self.issued.get(token)
        if issued is not None and self.clock() >= issued + self.refresh_ttl:
            self.live.discard(token)  # expired: refused like a spent one
        return super()._token(request)


def _auth(fake: FakeKSeries, clock: Clock, server: fakeredis.FakeServer) -> RefreshingAuth:
    return RefreshingAuth(settings(), new_store(server), endpoint=endpoint(fake), clock=clock)


def _logged_in(fake: FakeKSeries, server: fakeredis.FakeServer) -> TokenPair:
    """What `orderflow auth login` stores."""
    return redeem(settings(), new_store(server), "code", endpoint=endpoint(fake), now=fake.clock())


def test_a_shop_without_a_single_order_for_two_months_stays_logged_in(
    clock: Clock, server: fakeredis.FakeServer
) -> None:
    fake = ExpiringRefresh(clock, DEFAULT_REFRESH_LIFETIME)
    _logged_in(fake, server)
    auth = _auth(fake, clock, server)

    # Given no call at all for sixty days, only the sweeper's keepalive (looked at hourly here)
    for _ in range(60 * 24):
        clock.advance(HOUR_S)
        auth.keep_alive()

    # Then the refresh token was spent about every twelve days, never after it expired
    assert 4 <= fake.refreshes <= 6
    assert sum(fake.spent.values()) == fake.refreshes  # each token spent once
    # And a call now works: its access token expired long ago, the refresh token did not
    with httpx.Client(base_url=BASE, transport=httpx.MockTransport(fake.handle), auth=auth) as api:
        assert api.get("/o/op/1/onlineOrderReadiness").status_code == 200
    assert not new_store(server).refused_now()


def test_the_keepalive_follows_the_refresh_expiry_the_token_endpoint_announces(
    clock: Clock, server: fakeredis.FakeServer
) -> None:
    fake = ExpiringRefresh(clock, timedelta(days=3), announce=True)
    pair = _logged_in(fake, server)
    assert pair.refresh_expires_at == clock() + timedelta(days=3)
    auth = _auth(fake, clock, server)

    clock.advance(timedelta(days=3).total_seconds() - KEEPALIVE_AHEAD.total_seconds() - 60)
    assert auth.keep_alive() is None  # more than two days left: nothing to do
    clock.advance(120)
    fresh = auth.keep_alive()

    assert fresh is not None
    assert fresh.refresh_expires_at == clock() + timedelta(days=3)
    assert fake.refreshes == 1


def test_a_configured_refresh_token_of_unknown_age_is_spent_at_the_first_keepalive(
    clock: Clock, fake: FakeKSeries, server: fakeredis.FakeServer
) -> None:
    configured = fake.pair()
    new_store(server).seed(TokenPair(configured.access, configured.refresh))
    auth = _auth(fake, clock, server)

    fresh = auth.keep_alive()

    assert fresh is not None
    assert fresh.refresh_expires_at == clock() + DEFAULT_REFRESH_LIFETIME
    assert auth.keep_alive() is None  # now its age is known


def test_two_sweepers_keeping_alive_at_once_spend_the_refresh_token_once(
    clock: Clock, fake: FakeKSeries, server: fakeredis.FakeServer
) -> None:
    configured = fake.pair()
    new_store(server).seed(TokenPair(configured.access, configured.refresh))
    sweepers = [_auth(fake, clock, server) for _ in range(4)]
    start = threading.Barrier(len(sweepers))

    def keep(auth: RefreshingAuth) -> None:
        start.wait()
        auth.keep_alive()

    threads = [threading.Thread(target=keep, args=(a,)) for a in sweepers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)

    assert fake.refreshes == 1
    assert max(fake.spent.values()) == 1


def test_a_refused_refresh_token_is_reported_and_not_tried_again(
    clock: Clock, server: fakeredis.FakeServer
) -> None:
    fake = ExpiringRefresh(clock, DEFAULT_REFRESH_LIFETIME)
    _logged_in(fake, server)
    auth = _auth(fake, clock, server)
    fake.live.clear()  # revoked at K-Series (a password change, a removed app)
    clock.advance(13 * DAY_S)

    assert auth.keep_alive() is None
    assert fake.refreshes == 1
    assert new_store(server).refused_now()
    tries = fake.refreshes
    clock.advance(HOUR_S)
    assert auth.keep_alive() is None
    assert fake.refreshes == tries  # only a login helps; K-Series is not asked again

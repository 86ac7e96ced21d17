"""Every K-Series call on the tokens of the business owning its location (issue 14, items 2, 3
and 5): each business's pair rotates under its own lock, one business refused holds only its own
orders, and the default pair serves what no login lists."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from decimal import Decimal

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
    worlds,
)
from tests.auth.fakes import Clock, endpoint, new_store, settings
from tests.builders import T0, policy, submission_body
from worker.engine import Engine
from worker.errors import AuthError
from worker.kseries.models import ApplyPayment
from worker.oauth import log_in
from worker.order import HistoryEntry, Order, Status, SubmissionAdapter, fingerprint
from worker.store import OrderStore


@pytest.fixture
def kseries(clock: Clock) -> BusinessKSeries:
    return BusinessKSeries(clock, ttl_s=10)


def _log_in(kseries: BusinessKSeries, server: fakeredis.FakeServer, *businesses: int) -> None:
    for business in businesses:
        code = kseries.code(business)
        log_in(settings(), new_store(server), code, endpoint=endpoint(kseries), now=kseries.clock())


def _every_call(world: World, bl: int) -> None:
    """Readiness, submit, pay, sale lookup and check read for one location."""
    body = submission_body(f"ref-{bl}", businessLocationId=bl)
    order = SubmissionAdapter.validate_python(body).order
    world.client.readiness(bl)
    world.client.submit_order("local", order)
    world.client.apply_payment(
        ApplyPayment(
            iKaccountIdentifier="A-1",
            thirdPartyPaymentReference=f"pay-{bl}",
            endpointId="orderflow",
            businessLocationId=bl,
            taskTtlInMs=60_000,
            paymentMethod="OOPAYMENT",
            paymentAmount=Decimal("5.00"),
        )
    )
    world.client.sale_by_reference(bl, f"ref-{bl}")
    world.client.account(bl, "A-1")


def test_every_call_for_a_location_goes_on_the_tokens_of_the_business_owning_it(
    kseries: BusinessKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    _log_in(kseries, server, PIZZA, SUSHI)
    world = World(kseries, clock, server)

    for bl in (PIZZA_BL, PIZZA_BL_2, SUSHI_BL):
        _every_call(world, bl)

    assert Counter(kseries.uses) == {
        (PIZZA, PIZZA_BL): 5,
        (PIZZA, PIZZA_BL_2): 5,
        (SUSHI, SUSHI_BL): 5,
    }
    assert kseries.cross_business_uses() == []


def test_a_call_for_a_location_no_login_covers_is_refused_unsent(
    kseries: BusinessKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    _log_in(kseries, server, PIZZA)
    world = World(kseries, clock, server)
    with pytest.raises(AuthError, match="no K-Series login covers"):
        world.client.readiness(SUSHI_BL)
    assert kseries.uses == []


def test_the_default_pair_serves_every_location_no_login_lists(
    kseries: BusinessKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    # Given a pair from before businesses (the configured tokens: bound to no business here)
    new_store(server).put(kseries.pair())
    # And Pizza One logged in since
    _log_in(kseries, server, PIZZA)
    world = World(kseries, clock, server)
    # When calls are made for a Pizza location and a Sushi one
    world.client.readiness(PIZZA_BL)
    world.client.readiness(SUSHI_BL)
    world.client.readiness(99)
    # Then Pizza's went on Pizza's tokens, the others on the default pair
    assert kseries.uses == [(PIZZA, PIZZA_BL), (None, SUSHI_BL), (None, 99)]


def test_concurrent_calls_rotate_each_business_pair_without_spending_a_refresh_token_twice(
    kseries: BusinessKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    # Given two businesses, two processes, and access tokens living ten seconds
    _log_in(kseries, server, PIZZA, SUSHI)
    processes = list(worlds(kseries, clock, server, 2))
    failures: list[BaseException] = []

    def calls(world: World, bl: int) -> None:
        try:
            for _ in range(3):
                world.client.readiness(bl)
        except BaseException as exc:
            failures.append(exc)

    # When both call for every location at once, over several token lifetimes
    for _ in range(8):
        clock.advance(4)
        threads = [
            threading.Thread(target=calls, args=(world, bl))
            for world in processes
            for bl in (PIZZA_BL, PIZZA_BL_2, SUSHI_BL)
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    # Then no call failed, no refresh token was spent twice, and both pairs rotated
    assert failures == []
    assert set(kseries.spent.values()) == {1}
    rotations = Counter(kseries.bound[token] for token in kseries.spent)
    assert rotations[PIZZA] >= 3 and rotations[SUSHI] >= 3
    assert kseries.cross_business_uses() == []


def test_one_business_refreshes_while_another_business_holds_its_own_lock(
    kseries: BusinessKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    _log_in(kseries, server, PIZZA, SUSHI)
    world = World(kseries, clock, server)
    pizza, sushi = world.auth.logins.store(PIZZA), world.auth.logins.store(SUSHI)
    before = pizza.get(), sushi.get()
    # Given Pizza One's refresh lock held (a refresh in flight elsewhere), both pairs due
    lock = pizza.lock()
    assert lock.acquire(blocking=False)
    clock.advance(9)
    # When calls are made for both businesses
    world.client.readiness(PIZZA_BL)
    world.client.readiness(SUSHI_BL)
    lock.release()
    # Then Sushi Two refreshed; Pizza One, ahead of expiry, left it to the lock holder
    assert pizza.get() == before[0]
    assert sushi.get() != before[1]
    assert [kseries.bound[t] for t in kseries.spent] == [SUSHI]


def _order(bl: int, ref: str) -> Order:
    submission = SubmissionAdapter.validate_python(
        submission_body(ref, businessLocationId=bl, settle=None, paid=None)
    )
    return Order(
        business_location_id=bl,
        reference=ref,
        submission=submission,
        fingerprint=fingerprint(submission),
        created_at=T0,
        delivery_ttl_ms=300_000,
        submit_deadline=T0 + timedelta(minutes=5),
        history=(HistoryEntry(at=T0, status=Status.QUEUED, event="submitted"),),
    )


def test_one_business_refused_holds_its_new_orders_and_never_the_other_business_orders(
    kseries: BusinessKSeries, clock: Clock, server: fakeredis.FakeServer
) -> None:
    # Given both businesses logged in, and Sushi Two's refresh token refused by K-Series
    _log_in(kseries, server, PIZZA, SUSHI)
    world = World(kseries, clock, server)
    sushi = world.auth.logins.store(SUSHI)
    pair = sushi.get()
    assert pair is not None and pair.refresh
    sushi.mark_refused(pair.refresh)
    store = OrderStore(fakeredis.FakeRedis(server=server, decode_responses=True))
    engine = Engine(
        store=store,
        client=world.client,
        policy=policy(),
        clock=clock,
        tokens_refused=world.auth.refused_for,
    )
    for bl, ref in ((PIZZA_BL, "pizza-1"), (SUSHI_BL, "sushi-1")):
        store.create(_order(bl, ref), T0)

    # When the engine looks at both new orders
    pizza_order = engine.advance(PIZZA_BL, "pizza-1")
    sushi_order = engine.advance(SUSHI_BL, "sushi-1")

    # Then Pizza One's was sent, Sushi Two's waits unsent for a login
    assert pizza_order is not None and pizza_order.status is Status.SUBMITTED
    assert sushi_order is not None and sushi_order.status is Status.QUEUED
    assert "refused our tokens" in sushi_order.history[-1].detail
    assert [bl for _, bl in kseries.uses] == [PIZZA_BL]
    assert world.auth.refused_for(SUSHI_BL) and not world.auth.refused_for(PIZZA_BL)

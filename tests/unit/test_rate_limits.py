"""429s for a location: calls wait for the location's turn, spend no attempts, grow no backoff,
and a location's held calls go one by one when the throttle lifts, never all at once."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import timedelta

import fakeredis
import httpx
import pytest

from tests.builders import BL, T0, new_order, policy
from tests.scripted_kseries import OK, SALE, Clock, Script, engine, follow, order_of, queued, sweep
from worker.events import SubmitDeadline, Throttled
from worker.lifecycle import apply
from worker.order import Status
from worker.store import OrderStore

P = policy()
RATE_LIMITED = (429, {}, {"Retry-After": "1"})


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    follow(monkeypatch, clock)  # the throttle's TTL runs on the test's clock
    return clock


def test_a_location_throttle_spends_no_attempts_so_the_order_goes_through_when_it_lifts(
    clock: Clock,
) -> None:
    # Given K-Series rate-limits the location for 45 s (Retry-After: 1 each time)
    script = Script(
        clock,
        order_local=[*[RATE_LIMITED] * 45, (200, OK)],
        saleByExternalReference=[(404, {})],
    )
    e = engine(script)
    queued(e, ttl_ms=60_000)
    # When the sweeper runs through the order's submit window
    sweep(e, 60)
    # Then the order was sent again at every turn, and got through before its deadline
    order = order_of(e, "shop-1")
    assert order.status is Status.SUBMITTED
    assert order.submit_attempts == 0
    assert "retry" not in {h.event for h in order.history}
    assert script.count("/order/local") == 46


def test_orders_held_by_a_location_throttle_go_one_by_one_when_it_lifts(clock: Clock) -> None:
    # Given 30 orders of one location due at once, and a 429 for the first call
    script = Script(
        clock, order_local=[RATE_LIMITED, (200, OK)], saleByExternalReference=[(404, {})]
    )
    e = engine(script)
    for n in range(30):
        queued(e, f"o{n}")
    # When the sweeper sends them and runs on
    sweep(e, 30)
    # Then all got through, the held ones paced: a few per sweep, never the whole herd
    assert all(order_of(e, f"o{n}").status is Status.SUBMITTED for n in range(30))
    per_sweep = Counter(at for at, r in script.requests if r.url.path.endswith("/order/local"))
    first = min(per_sweep)
    assert per_sweep[first] == 1  # the call answered 429; the others were held unsent
    assert max(per_sweep.values()) <= 5  # 0.5 s per sweep / 100 ms apart
    assert per_sweep.total() == 31


def test_a_turn_once_given_is_kept_so_the_line_moves_while_429s_keep_coming(clock: Clock) -> None:
    store = OrderStore(fakeredis.FakeRedis(decode_responses=True))
    assert store.next_turn(BL, "a", clock.now, 100) == 0  # not rate-limited: go
    store.throttle(BL, 1.0)
    assert store.next_turn(BL, "a", clock.now, 100) == 1.0  # after the throttle
    assert store.next_turn(BL, "b", clock.now, 100) == 1.1  # then one by one
    assert store.next_turn(BL, "b", clock.now, 100) == 1.1  # asking again keeps the turn
    clock.tick(1.0)
    store.throttle(BL, 3.0)  # a newer 429 meanwhile
    assert store.next_turn(BL, "a", clock.now, 100) == 0  # a's turn has come: it goes
    assert store.next_turn(BL, "c", clock.now, 100) == 3.0  # a newcomer waits for the throttle
    clock.tick(0.1)
    assert store.next_turn(BL, "b", clock.now, 100) == 0


def test_a_held_call_waits_for_its_turn_without_counting_an_attempt() -> None:
    order = apply(new_order(), Throttled("submit", 2.5), T0, P)
    assert order.status is Status.QUEUED
    assert order.wake_at == T0 + timedelta(seconds=2.5)
    assert (order.submit_attempts, order.poll_attempts, order.late_lookups) == (0, 0, 0)
    assert order.history[-1].event == "throttled"


def test_an_order_rate_limited_until_its_submit_deadline_fails_as_not_sent() -> None:
    order = apply(new_order(), Throttled("submit", 1.0, called=True), T0, P)
    order = apply(order, Throttled("submit", 1.0), order.submit_deadline, P)
    assert order.status is Status.QUEUED
    assert order.wake_at == order.submit_deadline + timedelta(seconds=1)  # from now, not the past
    order = apply(order, SubmitDeadline(), order.submit_deadline + timedelta(seconds=1), P)
    assert order.status is Status.FAILED
    assert order.failure_reason == (
        "not sent: location rate-limited by K-Series (429) until the submit deadline"
    )


def test_a_storm_of_429s_and_errors_on_a_busy_location_fails_no_order(clock: Clock) -> None:
    # Given a location with 200 orders arriving over a minute, and K-Series failing 25 % of
    # calls: a third of those 429 with Retry-After: 1, the rest 503
    roll = random.Random(7)
    accepted: set[str] = set()

    def flaky(answer: tuple[object, ...]) -> object:
        def respond(request: httpx.Request) -> tuple[object, ...]:
            draw = roll.random()
            if draw < 0.25 / 3:
                return RATE_LIMITED
            if draw < 0.25:
                return (503, {})
            if request.url.path.endswith("/order/local"):
                accepted.add(json.loads(request.content)["thirdPartyReference"])
            return answer

        return respond

    def sale(request: httpx.Request) -> tuple[object, ...]:
        ref = request.url.params["externalReferenceId"].removeprefix(f"TASK:OO-{BL}-")
        return (200, SALE) if ref in accepted else (404, {})

    script = Script(
        clock,
        order_local=[flaky((200, OK))],
        saleByExternalReference=[flaky(sale)],
    )
    e = engine(script)
    for n in range(200):
        queued(e, f"o-{n}", ttl_ms=60_000, settle=None)
        if n % 4 == 3:
            sweep(e, 0.5)
    # When the sweeper runs until every order could have ended
    sweep(e, 240)
    # Then none failed: every order whose calls mostly succeeded got through
    statuses = Counter(order_of(e, f"o-{n}").status for n in range(200))
    reasons = Counter(order_of(e, f"o-{n}").failure_reason for n in range(200))
    assert statuses == {Status.COMPLETED: 200}, reasons

"""K-Series' readiness notifications (ORDER_API) hold a location's new orders while it is not
ready, without a K-Series call per order, and READY sends them at once: the engine on fakeredis,
K-Series faked (httpx.MockTransport) and counted."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.builders import BL, T0, new_order, policy
from tests.kseries_fake import Clock, FakeKSeries, engine_with
from worker import constants as k
from worker import locations
from worker.engine import Engine
from worker.events import LocationReady
from worker.lifecycle import apply
from worker.order import Order, Status

CLOSED = {"salesPeriod": "CLOSED", "acceptingOnlineOrders": False, "availableDevices": False}
OPENED = {"salesPeriod": "OPENED", "acceptingOnlineOrders": True, "availableDevices": True}
HELD_DETAIL = (
    "submit: not sent: location not ready for online orders (K-Series notified: sales period "
    "CLOSED, online orders disabled on the POS, no devices available)"
)


def readiness(status: str, pos: dict[str, Any], at: str = "2026-11-22T11:59:00Z") -> dict[str, Any]:
    return {
        "type": "ORDER_API",
        "businessLocationId": BL,
        "status": status,
        "lastUpdatedAt": at,
        "posStatus": pos,
        "onlineOrderingApiConfiguration": {"enabled": True},
    }


def notify(engine: Engine, body: dict[str, Any]) -> None:
    """Record and apply `body` as the webhook and its task would; nothing may fail on the way."""
    note_id = engine.store.record_notification(body, engine.clock())
    engine.apply_notification(note_id)
    assert engine.store._r.get(f"orderflow:failures:n:{note_id}") is None
    assert engine.store._r.zscore(k.TIMERS, f"n:{note_id}") is None  # done


def queue(engine: Engine, ref: str, ttl_ms: int = 60_000) -> Order | None:
    engine.store.create(new_order(ref, ttl_ms=ttl_ms, now=engine.clock()), engine.clock())
    return engine.advance(BL, ref)


def readiness_calls(kseries: FakeKSeries) -> int:
    return sum(1 for path in kseries.paths() if path.endswith("/onlineOrderReadiness"))


def submits(kseries: FakeKSeries) -> int:
    return sum(1 for path in kseries.paths() if path.endswith("/order/local"))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def kseries() -> FakeKSeries:
    return FakeKSeries()


@pytest.fixture
def engine(kseries: FakeKSeries, clock: Clock) -> Engine:
    engine = engine_with(kseries, clock)
    engine.readiness_check = True  # even with the pre-flight on, no call is made per order
    return engine


def test_a_not_ready_location_holds_its_new_orders_without_a_call_per_order(
    engine: Engine, kseries: FakeKSeries
) -> None:
    # Given K-Series said the location is not ready
    notify(engine, readiness("NOT_READY", CLOSED))
    # When three orders come for it
    held = [queue(engine, f"shop-{n}") for n in range(3)]
    # Then each waits queued, nothing spent, its history saying why; K-Series was not asked
    for order in held:
        assert order is not None
        assert order.status is Status.QUEUED
        assert order.history[-1].event == "held"
        assert order.history[-1].detail == HELD_DETAIL
        assert order.submit_attempts == 0
        assert order.wake_at == T0 + timedelta(seconds=locations.HOLD_S)
    assert readiness_calls(kseries) == 0
    assert submits(kseries) == 0
    assert engine.store.held_by_location(T0) == {BL: 3}


def test_ready_sends_the_held_orders_at_once_a_turn_each(
    engine: Engine, kseries: FakeKSeries, clock: Clock
) -> None:
    notify(engine, readiness("NOT_READY", CLOSED))
    for n in range(3):
        queue(engine, f"shop-{n}")
    # When K-Series says the location is ready again, a second later
    clock.tick(1)
    notify(engine, readiness("READY", OPENED, at="2026-11-22T12:00:01Z"))
    # Then every held order is due now, `rate_limit_spacing` apart (its timer with it)
    spacing = engine.policy.rate_limit_spacing
    due = []
    for n in range(3):
        order = engine.store.get(BL, f"shop-{n}")
        assert order is not None and order.wake_at is not None
        assert order.history[-1].event == "readiness.ready"
        assert order.history[-1].detail.startswith("location ready for online orders again")
        due.append(order.wake_at)
        timer = engine.store._r.zscore(k.TIMERS, f"o:{order.key}")
        assert timer == int(order.wake_at.timestamp() * 1000)
    assert sorted(due) == [clock.now + spacing * n for n in range(3)]
    # And each goes to K-Series at its turn: the kept READY spares the pre-flight call too
    clock.tick(1)
    for n in range(3):
        order = engine.advance(BL, f"shop-{n}")
        assert order is not None and order.status is Status.SUBMITTED
    assert submits(kseries) == 3
    assert readiness_calls(kseries) == 0
    assert engine.store.held_by_location(clock.now) == {BL: 0}


def test_ready_never_delays_a_held_order_past_its_own_next_look(
    engine: Engine, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(locations, "WAKE_MAX", 2)  # one READY wakes 2; the third keeps its time
    notify(engine, readiness("NOT_READY", CLOSED))
    for n in range(3):
        queue(engine, f"shop-{n}")
    clock.tick(1)
    notify(engine, readiness("READY", OPENED, at="2026-11-22T12:00:01Z"))
    wakes = sorted(
        (o.wake_at for n in range(3) if (o := engine.store.get(BL, f"shop-{n}"))),
        key=lambda w: w or T0,
    )
    assert wakes[:2] == [clock.now, clock.now + engine.policy.rate_limit_spacing]
    assert wakes[2] == T0 + timedelta(seconds=locations.HOLD_S)  # its own next look


def test_an_older_ready_arriving_late_wakes_nothing(engine: Engine, clock: Clock) -> None:
    notify(engine, readiness("NOT_READY", CLOSED, at="2026-11-22T11:59:00Z"))
    held = queue(engine, "shop-1")
    notify(engine, readiness("READY", OPENED, at="2026-11-22T11:58:00Z"))  # before the NOT_READY
    after = engine.store.get(BL, "shop-1")
    assert held is not None and after == held


def test_an_order_held_until_its_submit_deadline_fails_not_sent(
    engine: Engine, kseries: FakeKSeries, clock: Clock
) -> None:
    notify(engine, readiness("NOT_READY", CLOSED))
    order = queue(engine, "shop-1", ttl_ms=100_000)
    for _ in range(10):  # as the sweeper would: whenever its timer is due
        assert order is not None
        if order.status.terminal:
            break
        clock.now = max(clock.now, order.wake_at or clock.now)
        order = engine.advance(BL, "shop-1")
    assert order is not None
    assert order.status is Status.FAILED
    assert order.failure_reason == (
        "not sent: location not ready for online orders (K-Series notified: sales period CLOSED, "
        "online orders disabled on the POS, no devices available) until the submit deadline"
    )
    assert [h.event for h in order.history].count("held") == 4  # at 0, 30, 60 and 90 s
    assert kseries.paths() == []  # never sent, and never looked for
    assert engine.store.held_by_location(T0) == {BL: 0}


def test_a_stale_not_ready_is_ignored_and_the_order_goes(
    engine: Engine, kseries: FakeKSeries, clock: Clock
) -> None:
    # Given a NOT_READY whose READY never came, kept longer ago than READINESS_FRESH_S
    notify(engine, readiness("NOT_READY", CLOSED))
    clock.tick(k.READINESS_FRESH_S + 1)
    # When an order comes, it is sent: the pre-flight (on here) asks K-Series, which says READY
    order = queue(engine, "shop-1")
    assert order is not None and order.status is Status.SUBMITTED
    assert readiness_calls(kseries) == 1
    assert submits(kseries) == 1


def test_a_held_order_whose_hold_went_stale_goes_at_its_next_look(
    engine: Engine, kseries: FakeKSeries, clock: Clock
) -> None:
    engine.readiness_check = False
    notify(engine, readiness("NOT_READY", CLOSED))
    clock.tick(k.READINESS_FRESH_S - 10)
    assert queue(engine, "shop-1") is not None  # held: the NOT_READY is still fresh
    clock.tick(locations.HOLD_S)
    order = engine.advance(BL, "shop-1")
    assert order is not None and order.status is Status.SUBMITTED
    assert engine.store.held_by_location(clock.now) == {BL: 0}


def test_without_any_readiness_kept_orders_go_as_before(
    engine: Engine, kseries: FakeKSeries
) -> None:
    engine.readiness_check = False
    order = queue(engine, "shop-1")
    assert order is not None and order.status is Status.SUBMITTED
    assert kseries.paths() == ["/o/op/1/order/local"]


def test_ready_leaves_an_order_that_is_due_sooner_and_an_order_already_sent_as_they_are() -> None:
    sooner = new_order("shop-1").model_copy(update={"wake_at": T0 + timedelta(seconds=1)})
    woken = apply(sooner, LocationReady(5.0), T0, policy())
    assert woken.wake_at == T0 + timedelta(seconds=1)
    assert woken.history[-1].event == "readiness.ready"
    sent = new_order("shop-2").model_copy(update={"status": Status.SUBMITTED, "wake_at": None})
    after = apply(sent, LocationReady(0.0), T0, policy())
    assert after.wake_at is None
    assert after.history[-1].detail == "ignored: already submitted"

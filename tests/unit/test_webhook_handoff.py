"""The API applies a recorded webhook itself; only the K-Series calls it makes due go to a
worker, and anything that goes wrong hands the notification to a worker's task."""

from __future__ import annotations

from typing import Any

import pytest

from tests.builders import BL
from tests.kseries_fake import SALE, Clock, FakeKSeries, engine_with, stored
from worker import constants as k
from worker.engine import Engine
from worker.order import Status
from worker.web.handoff import WebhookHandoff

CHECK = {"ikaccountId": "A1.1", "currentAmount": "18.15", "paidAmount": "16.50"}
ORDER_SUCCESS = {
    "type": "ORDER",
    "status": "SUCCESS",
    "thirdPartyReference": "shop-1",
    "businessLocationId": BL,
    "ikentooAccountIdentifier": "A1.1",
}


class Sent:
    """What the handoff passed on, to the worker's two tasks."""

    def __init__(self) -> None:
        self.notifications: list[str] = []
        self.advances: list[tuple[int, str]] = []

    def handoff(self, engine: Engine) -> WebhookHandoff:
        return WebhookHandoff(
            engine, self.notifications.append, lambda bl, ref: self.advances.append((bl, ref))
        )


def recorded(engine: Engine, body: dict[str, Any]) -> str:
    return engine.store.record_notification(body, engine.clock())


def timer_score(engine: Engine, member: str) -> float | None:
    return engine.store._r.zscore(k.TIMERS, member)


def test_an_order_on_the_pos_is_recorded_here_and_its_next_call_goes_to_a_worker() -> None:
    kseries = FakeKSeries(SALE, **{"A1.1": CHECK})
    engine = engine_with(kseries)
    stored(engine)
    calls_before = kseries.paths()
    sent = Sent()
    note_id = recorded(engine, ORDER_SUCCESS)

    sent.handoff(engine)(note_id)

    order = engine.store.get(BL, "shop-1")
    assert order is not None and order.status is Status.CONFIRMED
    assert order.account_identifier is None  # news, not truth: the worker's sale lookup says
    assert kseries.paths() == calls_before  # no K-Series call in the API
    assert sent.advances == [(BL, "shop-1")]
    assert sent.notifications == []
    assert timer_score(engine, f"n:{note_id}") is None  # applied: nothing to send again
    # Leased from now: no sweeper sends the same step while the message waits in line.
    lease_ms = engine.store._lease_ms
    expected = int(engine.clock().timestamp() * 1000) + lease_ms
    assert timer_score(engine, f"o:{BL}:shop-1") == expected


def test_news_that_needs_no_k_series_call_ends_here_with_nothing_sent() -> None:
    engine = engine_with(FakeKSeries())
    stored(engine)
    sent = Sent()
    failure = {**ORDER_SUCCESS, "status": "FAILURE", "reason": "No devices available"}

    sent.handoff(engine)(recorded(engine, failure))

    order = engine.store.get(BL, "shop-1")
    assert order is not None and order.status is Status.FAILED
    assert order.failure_reason == "No devices available"
    assert sent.advances == [] and sent.notifications == []
    assert timer_score(engine, f"o:{BL}:shop-1") is None  # ended: no timer


def test_news_that_leaves_the_order_waiting_sends_nothing_and_keeps_its_timer() -> None:
    clock = Clock()
    kseries = FakeKSeries(SALE, **{"A1.1": CHECK})
    engine = engine_with(kseries, clock)
    stored(engine)
    Sent().handoff(engine)(recorded(engine, ORDER_SUCCESS))
    paying = engine.advance(BL, "shop-1")  # the worker's step: the remainder is sent
    assert paying is not None and paying.status is Status.SETTLING
    calls, sent = kseries.paths(), Sent()

    sent.handoff(engine)(recorded(engine, ORDER_SUCCESS))  # K-Series says it again

    after = engine.store.get(BL, "shop-1")
    assert after is not None and after.status is Status.SETTLING
    assert after.wake_at is not None and after.wake_at > clock()
    assert sent.advances == [] and sent.notifications == []
    assert kseries.paths() == calls
    assert timer_score(engine, f"o:{BL}:shop-1") == int(after.wake_at.timestamp() * 1000)


def test_a_notification_no_order_claims_is_parked_here_with_nothing_sent() -> None:
    engine = engine_with(FakeKSeries())
    sent = Sent()

    sent.handoff(engine)(recorded(engine, {**ORDER_SUCCESS, "thirdPartyReference": "who"}))

    assert [d["payload"]["thirdPartyReference"] for d in engine.store.unmatched()] == ["who"]
    assert sent.advances == [] and sent.notifications == []


def test_a_notification_that_fails_here_goes_to_a_worker_untouched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = engine_with(FakeKSeries())
    stored(engine)
    note_id = recorded(engine, ORDER_SUCCESS)
    sent = Sent()

    def broken(_: str) -> None:
        raise ValueError("a bug")

    monkeypatch.setattr(engine, "apply_recorded", broken)
    sent.handoff(engine)(note_id)

    assert sent.notifications == [note_id]
    assert sent.advances == []
    assert timer_score(engine, f"n:{note_id}") is not None  # still due: its timer is leased
    assert engine.store.unmatched() == []  # the worker's task counts and parks, not this


def test_a_send_that_fails_is_raised_for_the_api_to_log_and_the_timer_to_cover() -> None:
    engine = engine_with(FakeKSeries(SALE, **{"A1.1": CHECK}))
    stored(engine)

    def broker_down(bl: int, ref: str) -> None:
        raise ConnectionError("broker down")

    handoff = WebhookHandoff(engine, lambda _: None, broker_down)
    with pytest.raises(ConnectionError):
        handoff(recorded(engine, ORDER_SUCCESS))
    # The step is leased, so a sweeper sends it when the lease runs out.
    assert timer_score(engine, f"o:{BL}:shop-1") is not None

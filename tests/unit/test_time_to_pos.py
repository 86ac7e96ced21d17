"""A location's usual time to the POS, learned from its orders, delays the first look for an
outcome: at a POS that takes 30 s, looking from 3 s on is only cost (issue 11)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import fakeredis
import pytest
import redis

from config.settings import Confirmation
from tests.builders import BL, T0, new_order, policy
from tests.kseries_fake import SALE, Clock, FakeKSeries, engine_with, stored
from worker import constants as k
from worker.events import PaymentAccepted, SubmitAccepted
from worker.lifecycle import apply
from worker.lifecycle.moves import LEARNED_WAIT_MAX, first_look
from worker.order import PaymentStatus, Status
from worker.store import OrderStore

S = timedelta(seconds=1)
ORDER_SUCCESS = {
    "type": "ORDER",
    "status": "SUCCESS",
    "thirdPartyReference": "shop-1",
    "businessLocationId": BL,
    "ikentooAccountIdentifier": "A1.1",
}
CHECK = {"ikaccountId": "A1.1", "currentAmount": "18.15", "paidAmount": "16.50"}


# --- the first look ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("learned", "wait"),
    [
        (None, 3 * S),  # unknown: the configured webhook wait
        (1 * S, 3 * S),  # quicker than the wait: the wait still
        (20 * S, 22 * S),  # slower: its usual time and a tenth
        (timedelta(minutes=10), LEARNED_WAIT_MAX),  # never more than two minutes
    ],
)
def test_hybrid_first_looks_after_the_wait_or_the_locations_usual_time_whichever_is_longer(
    learned: timedelta | None, wait: timedelta
) -> None:
    assert first_look(policy(), learned) == wait


def test_poll_mode_starts_from_the_poll_interval_instead_of_the_webhook_wait() -> None:
    p = policy(Confirmation.POLL)
    assert first_look(p, None) == 1 * S
    assert first_look(p, 2 * S) == timedelta(seconds=2.2)


def test_a_submit_accepted_first_looks_at_the_learned_time_but_never_past_its_deadline() -> None:
    order = new_order(ttl_ms=60_000)
    after = apply(order, SubmitAccepted(time_to_pos=30 * S), T0, policy())
    assert after.wake_at == T0 + 33 * S
    short = apply(new_order(ttl_ms=10_000), SubmitAccepted(time_to_pos=100 * S), T0, policy())
    assert short.confirm_deadline is not None
    assert short.wake_at == short.confirm_deadline  # 10 s + the confirm grace, not 110 s
    assert short.wake_at < T0 + 110 * S


def test_webhook_mode_waits_for_the_deadline_whatever_was_learned() -> None:
    after = apply(new_order(), SubmitAccepted(time_to_pos=5 * S), T0, policy(Confirmation.WEBHOOK))
    assert after.wake_at == after.confirm_deadline


def test_a_payment_accepted_first_looks_at_the_learned_time_too() -> None:
    clock = Clock()
    engine = engine_with(FakeKSeries(SALE, **{"A1.1": CHECK}), clock)
    stored(engine)
    engine.apply_notification(engine.store.record_notification(ORDER_SUCCESS, clock()))
    settling = engine.store.get(BL, "shop-1")
    assert settling is not None and settling.status is Status.SETTLING
    payment = settling.payments[-1]
    reverted = settling.model_copy(
        update={"payments": (payment.model_copy(update={"status": PaymentStatus.PENDING}),)}
    )
    after = apply(reverted, PaymentAccepted(payment.reference, time_to_pos=40 * S), T0, policy())
    assert after.wake_at == T0 + 44 * S


# --- learning it ------------------------------------------------------------------------------


def learned_ms(r: Any, bl: int = BL) -> int | None:
    raw = r.get(k.TIME_TO_POS.format(bl=bl))
    return int(raw) if raw else None


def test_an_order_seen_on_the_pos_teaches_the_location_how_long_it_took() -> None:
    clock = Clock()
    engine = engine_with(FakeKSeries(SALE, **{"A1.1": CHECK}), clock)
    stored(engine)  # accepted at T0
    clock.tick(30)
    engine.apply_notification(engine.store.record_notification(ORDER_SUCCESS, clock()))
    r = engine.store._r
    assert learned_ms(r) == 30_000
    ttl = r.pttl(k.TIME_TO_POS.format(bl=BL))
    assert k.TIME_TO_POS_TTL_S * 1000 - 1000 < ttl <= k.TIME_TO_POS_TTL_S * 1000


def test_each_new_order_moves_the_usual_time_three_tenths_of_the_way() -> None:
    clock = Clock()
    engine = engine_with(FakeKSeries(SALE, **{"A1.1": CHECK}), clock)
    for ref, took in (("shop-1", 30), ("shop-2", 10)):
        stored(engine, ref)
        clock.tick(took)
        engine.apply_notification(
            engine.store.record_notification({**ORDER_SUCCESS, "thirdPartyReference": ref}, clock())
        )
    assert learned_ms(engine.store._r) == 24_000  # 30 + (10 - 30) x 0.3


def test_the_next_order_of_the_location_first_looks_after_the_learned_time() -> None:
    clock = Clock()
    kseries = FakeKSeries(SALE, **{"A1.1": CHECK})
    engine = engine_with(kseries, clock)
    stored(engine)
    clock.tick(20)
    engine.apply_notification(engine.store.record_notification(ORDER_SUCCESS, clock()))
    second = stored(engine, "shop-2")
    assert second.accepted_at == clock()
    assert second.wake_at == clock() + 22 * S  # not the 3 s webhook wait


def test_an_order_that_reached_the_pos_without_being_simply_sent_teaches_nothing() -> None:
    store = OrderStore(fakeredis.FakeRedis(decode_responses=True))
    clock = Clock()
    engine = engine_with(FakeKSeries(), clock)
    engine.store = store
    engine.locations.store = store
    queued = new_order()
    unknown = queued.model_copy(
        update={"status": Status.SUBMITTED, "accepted_at": T0, "outcome_unknown": True}
    )
    confirmed = unknown.model_copy(update={"status": Status.CONFIRMED, "outcome_unknown": False})
    clock.tick(50)
    engine.locations.recorded(queued, confirmed.model_copy(update={"accepted_at": None}))
    engine.locations.recorded(unknown, confirmed)
    assert learned_ms(store._r) is None


def test_a_redis_that_fails_costs_the_learning_never_the_order() -> None:
    class Down(fakeredis.FakeRedis):
        def get(self, *_: Any, **__: Any) -> Any:
            raise redis.ConnectionError("down")

        def pipeline(self, *_: Any, **__: Any) -> Any:
            raise redis.ConnectionError("down")

    store = OrderStore(Down(decode_responses=True))
    store.reached_pos(BL, 1_000)  # raises nothing
    assert store.time_to_pos(BL) is None


@pytest.mark.parametrize("kept", ["soon", "-5", "1e30", str(10**20), "12.5"])
def test_a_kept_time_no_order_could_have_taught_is_unknown_never_an_error(kept: str) -> None:
    clock = Clock()
    engine = engine_with(FakeKSeries(SALE, **{"A1.1": CHECK}), clock)
    engine.store._r.set(k.TIME_TO_POS.format(bl=BL), kept)  # edited by hand
    assert engine.store.time_to_pos(BL) is None
    order = stored(engine)  # the submit reads it with the readiness: still sent
    assert order.status is Status.SUBMITTED
    assert order.wake_at == clock() + 3 * S  # the configured wait, as with nothing learned

"""Operator replay: a new reference for orders never on the POS, a fresh settlement otherwise."""

from __future__ import annotations

from decimal import Decimal

import fakeredis
import pytest

from tests.builders import BL, T0, new_order, policy
from worker.events import CheckRead, OrderNews, Snapshot, SubmitAccepted
from worker.lifecycle import Action, apply, next_action
from worker.order import Order, Status
from worker.replay import ReplayRefused, replay
from worker.store import OrderStore


def stored(order: Order) -> tuple[OrderStore, list[tuple[int, str]]]:
    store = OrderStore(fakeredis.FakeRedis(decode_responses=True))
    store.create(order, T0)
    store.transition(order.business_location_id, order.reference, lambda _: order)
    return store, []


def failed() -> Order:
    p = policy()
    order = apply(new_order("shop-9"), SubmitAccepted(), T0, p)
    return apply(
        order, OrderNews("k", "FAILURE", reason="Not processed before validity ended"), T0, p
    )


def above_max() -> Order:
    p = policy()
    order = apply(new_order("shop-9", settle="1.00"), SubmitAccepted(), T0, p)
    return apply(
        order,
        OrderNews("k", "SUCCESS", snapshot=Snapshot("A1.1", Decimal("20"), Decimal("10"))),
        T0,
        p,
    )


def test_a_failed_order_is_sent_again_under_a_new_reference_linked_both_ways() -> None:
    store, enqueued = stored(failed())
    fresh = replay(store, BL, "shop-9", now=T0, enqueue=lambda bl, ref: enqueued.append((bl, ref)))
    assert fresh.reference == "shop-9-r1"
    assert fresh.status is Status.QUEUED
    assert fresh.submission.order.thirdPartyReference == "shop-9-r1"
    assert fresh.replay_of == f"{BL}:shop-9"
    old = store.get(BL, "shop-9")
    assert old is not None
    assert old.status is Status.FAILED
    assert old.replayed_as == f"{BL}:shop-9-r1"
    assert old.history[-1].detail == "replayed as shop-9-r1"
    assert enqueued == [(BL, "shop-9-r1")]


def test_an_order_is_replayed_once() -> None:
    store, _ = stored(failed())
    replay(store, BL, "shop-9", now=T0, enqueue=lambda *_: None)
    with pytest.raises(ReplayRefused):
        replay(store, BL, "shop-9", now=T0, enqueue=lambda *_: None)


def test_a_replay_of_a_replay_counts_up() -> None:
    store, _ = stored(failed())
    replay(store, BL, "shop-9", now=T0, enqueue=lambda *_: None)
    store.transition(
        BL, "shop-9-r1", lambda o: apply(o, OrderNews("k", "FAILURE", "again"), T0, policy())
    )
    assert replay(store, BL, "shop-9-r1", now=T0, enqueue=lambda *_: None).reference == "shop-9-r2"


def test_an_active_or_completed_order_is_not_replayed() -> None:
    store, _ = stored(apply(new_order("shop-9"), SubmitAccepted(), T0, policy()))
    with pytest.raises(ReplayRefused):
        replay(store, BL, "shop-9", now=T0, enqueue=lambda *_: None)


def test_an_order_on_the_pos_is_settled_again_with_a_raised_max_amount() -> None:
    store, enqueued = stored(above_max())
    order = replay(
        store,
        BL,
        "shop-9",
        now=T0,
        enqueue=lambda bl, ref: enqueued.append((bl, ref)),
        max_amount=Decimal("20.00"),
    )
    assert order.status is Status.CONFIRMED
    assert order.failure_reason is None
    assert order.settle is not None and order.settle.maxAmount == Decimal("20.00")
    assert next_action(order, T0, policy()) is Action.READ_CHECK
    settled = apply(order, CheckRead(Snapshot("A1.1", Decimal("20"), Decimal("10"))), T0, policy())
    assert settled.status is Status.SETTLING
    assert settled.current_payment is not None and settled.current_payment.amount == Decimal(
        "10.00"
    )
    assert enqueued == [(BL, "shop-9")]

"""The order store's contract, on fakeredis and on a real redis-server."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import redis

from tests.builders import BL, T0, new_order
from worker.errors import OrderNotFound, StoreUnavailable
from worker.order import HistoryEntry, Order, Status
from worker.store import OrderStore


def store(client: redis.Redis) -> OrderStore:
    return OrderStore(client, lease_ms=5_000)


def test_an_order_is_created_once_and_the_second_create_returns_the_first(
    redis_client: redis.Redis,
) -> None:
    s = store(redis_client)
    first, created = s.create(new_order(), T0)
    again, created_again = s.create(new_order(settle=None), T0)
    assert created and not created_again
    assert again.fingerprint == first.fingerprint
    assert s.get(BL, "shop-1") == first


def test_create_leases_a_new_orders_timer_and_indexes_status_and_reference(
    redis_client: redis.Redis,
) -> None:
    s = store(redis_client)
    s.create(new_order(), T0)
    assert s.claim_due(T0, new=True) == []
    assert s.claim_due(T0 + timedelta(seconds=5)) == []  # not among the work under way
    assert s.claim_due(T0 + timedelta(seconds=5), new=True) == [f"o:{BL}:shop-1"]
    assert s.keys_with_status(Status.QUEUED) == [(BL, "shop-1")]
    assert s.locations_for("shop-1") == [BL]


def test_a_claimed_timer_is_leased_so_it_fires_again_only_after_the_lease(
    redis_client: redis.Redis,
) -> None:
    s = store(redis_client)
    s.create(new_order(), T0)
    due = T0 + timedelta(seconds=5)
    assert s.claim_due(due, new=True) == [f"o:{BL}:shop-1"]
    assert s.claim_due(due + timedelta(seconds=4), new=True) == []
    assert s.claim_due(due + timedelta(seconds=5), new=True) == [f"o:{BL}:shop-1"]


def test_the_first_write_moves_a_new_orders_timer_to_the_work_under_way(
    redis_client: redis.Redis,
) -> None:
    s = store(redis_client)
    s.create(new_order(), T0)
    s.lease(f"o:{BL}:shop-1", T0 + timedelta(seconds=3))  # a worker took it: leased to +8 s
    assert s.claim_due(T0 + timedelta(seconds=7), new=True) == []
    s.transition(BL, "shop-1", lambda o: _advance(o, Status.SUBMITTED, 60))
    assert s.claim_due(T0 + timedelta(hours=1), new=True) == []
    assert s.claim_due(T0 + timedelta(seconds=60)) == [f"o:{BL}:shop-1"]
    assert s.pending_timers() == 1


def _advance(order: Order, status: Status, wake: int | None) -> Order:
    entry = HistoryEntry(at=T0, status=status, event="test")
    return order.model_copy(
        update={
            "status": status,
            "wake_at": None if wake is None else T0 + timedelta(seconds=wake),
            "history": (*order.history, entry),
        }
    )


def test_a_transition_bumps_the_version_moves_the_timer_and_the_status_index(
    redis_client: redis.Redis,
) -> None:
    s = store(redis_client)
    s.create(new_order(), T0)
    after = s.transition(BL, "shop-1", lambda o: _advance(o, Status.SUBMITTED, 60))
    assert after.version == 1
    assert s.claim_due(T0 + timedelta(seconds=59)) == []
    assert s.claim_due(T0 + timedelta(seconds=60)) == [f"o:{BL}:shop-1"]
    assert s.keys_with_status(Status.QUEUED) == []
    assert s.keys_with_status(Status.SUBMITTED) == [(BL, "shop-1")]


def test_a_terminal_order_has_no_timer(redis_client: redis.Redis) -> None:
    s = store(redis_client)
    s.create(new_order(), T0)
    s.transition(BL, "shop-1", lambda o: _advance(o, Status.FAILED, None))
    assert s.pending_timers() == 0
    assert s.count_by_status()[Status.FAILED] == 1


def test_a_transition_of_an_unknown_order_raises(redis_client: redis.Redis) -> None:
    with pytest.raises(OrderNotFound):
        store(redis_client).transition(BL, "nope", lambda o: o)


def test_concurrent_transitions_are_serialised_and_none_is_lost(redis_client: redis.Redis) -> None:
    s = store(redis_client)
    s.create(new_order(), T0)

    def add_entry(order: Order) -> Order:
        entry = HistoryEntry(at=T0, status=order.status, event="concurrent")
        return order.model_copy(update={"history": (*order.history, entry)})

    threads = [
        threading.Thread(target=lambda: [s.transition(BL, "shop-1", add_entry) for _ in range(10)])
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = s.get(BL, "shop-1")
    assert final is not None
    assert final.version == 40
    assert sum(1 for h in final.history if h.event == "concurrent") == 40


def test_notifications_are_kept_with_a_leased_timer_and_unmatched_ones_are_listed(
    redis_client: redis.Redis,
) -> None:
    s = store(redis_client)
    note_id = s.record_notification(
        {"type": "ORDER", "thirdPartyReference": "x", "status": "SUCCESS"}, T0
    )
    assert s.claim_due(T0 + timedelta(seconds=5)) == [f"n:{note_id}"]
    s.notification_unmatched(note_id)
    assert s.pending_timers() == 0
    assert [d["payload"]["thirdPartyReference"] for d in s.unmatched()] == ["x"]


def test_redis_down_is_store_unavailable() -> None:
    s = OrderStore(redis.Redis(port=1, socket_connect_timeout=0.2, decode_responses=True))
    with pytest.raises(StoreUnavailable):
        s.get(BL, "x")


def test_reschedule_restores_a_leased_timer_unless_the_record_moved_on(
    redis_client: redis.Redis,
) -> None:
    s = store(redis_client)
    s.create(new_order(), T0)
    waiting = s.transition(BL, "shop-1", lambda o: _advance(o, Status.SUBMITTED, 60))
    s.lease(f"o:{BL}:shop-1", T0)  # a duplicate task leased it: due at +5 s
    s.reschedule(waiting)  # that task found nothing due: back to +60 s
    assert s.claim_due(T0 + timedelta(seconds=59)) == []
    s.lease(f"o:{BL}:shop-1", T0)
    s.transition(BL, "shop-1", lambda o: _advance(o, Status.CONFIRMED, 90))  # another writer: +90 s
    s.reschedule(waiting)  # stale: must not pull the timer to +60 s
    assert s.claim_due(T0 + timedelta(seconds=89)) == []
    assert s.claim_due(T0 + timedelta(seconds=90)) == [f"o:{BL}:shop-1"]


def test_a_lease_never_brings_back_the_timer_of_an_order_that_ended(
    redis_client: redis.Redis,
) -> None:
    s = store(redis_client)
    s.create(new_order(), T0)
    s.transition(BL, "shop-1", lambda o: _advance(o, Status.COMPLETED, None))  # timer removed
    s.lease(f"o:{BL}:shop-1", T0)  # a concurrent, late task renews its lease
    assert s.pending_timers() == 0

"""The sweeper: work under way before new orders, recovery never stopped by a backlog, any
number of sweepers at once (issue 9, items 13 and 15)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta

import fakeredis
import redis
from kombu.exceptions import OperationalError

from config.queues import EVENT_QUEUE, NEW_QUEUE, QUEUE
from tests.builders import BL, T0, new_order
from worker.order import HistoryEntry, Order, Status
from worker.store import OrderStore
from worker.sweeper import MAX_BACKLOG, RECOVERY_BATCH, Sweeper

LATER = T0 + timedelta(minutes=10)  # every timer below is due by then


class Broker:
    """Records what the sweeper sends; queue lengths are set by the test."""

    def __init__(self) -> None:
        self.waiting: Counter[str] = Counter()
        self.sent: list[tuple[str, str]] = []  # (queue, what)
        self.lock = threading.Lock()

    def send_advance(self, bl: int, ref: str, *, under_way: bool) -> None:
        with self.lock:
            self.sent.append((QUEUE if under_way else NEW_QUEUE, ref))

    def send_notification(self, note_id: str) -> None:
        with self.lock:
            self.sent.append((EVENT_QUEUE, note_id))

    def queue_length(self, queue: str) -> int:
        return self.waiting[queue]

    def sweeper(self, store: OrderStore, now: datetime = LATER) -> Sweeper:
        return Sweeper(
            store=store,
            send_advance=self.send_advance,
            send_notification=self.send_notification,
            queue_length=self.queue_length,
            clock=lambda: now,
        )


def _under_way(store: OrderStore, ref: str) -> None:
    """An order a worker has already taken: submitted, polling again in a minute."""
    store.create(new_order(ref), T0)

    def submitted(order: Order) -> Order:
        entry = HistoryEntry(at=T0, status=Status.SUBMITTED, event="test")
        return order.model_copy(
            update={
                "status": Status.SUBMITTED,
                "wake_at": T0 + timedelta(minutes=1),
                "history": (*order.history, entry),
            }
        )

    store.transition(BL, ref, submitted)


def test_work_under_way_is_sent_to_its_own_queue_however_many_new_orders_wait() -> None:
    store = OrderStore(fakeredis.FakeRedis(decode_responses=True))
    broker = Broker()
    for i in range(30):
        store.create(new_order(f"new-{i}"), T0)
    _under_way(store, "polling")
    note_id = store.record_notification(
        {"type": "ORDER", "thirdPartyReference": "polling", "status": "SUCCESS"}, T0
    )
    # Given the new-order queue is full (a burst of submissions)
    broker.waiting[NEW_QUEUE] = MAX_BACKLOG

    # When a sweeper passes
    sent = broker.sweeper(store).sweep()

    # Then the order under way and the webhook are sent, ahead of and apart from new orders,
    # and no new order is sent into the full queue
    assert sorted(broker.sent) == sorted([(EVENT_QUEUE, note_id), (QUEUE, "polling")])
    assert sent == 2

    # And once the new-order queue has room, their timers (lost messages) are sent to it
    broker.waiting[NEW_QUEUE] = MAX_BACKLOG - 10
    broker.sweeper(store).sweep()
    assert [q for q, _ in broker.sent[2:]] == [NEW_QUEUE] * 10


def test_a_backlog_never_stops_recovery_of_work_under_way() -> None:
    store = OrderStore(fakeredis.FakeRedis(decode_responses=True))
    broker = Broker()
    for i in range(RECOVERY_BATCH * 2):
        _under_way(store, f"lost-{i}")  # a killed worker's orders: their leases ran out
    # Given every queue far over the backlog limit
    broker.waiting.update({QUEUE: 10 * MAX_BACKLOG, NEW_QUEUE: 10 * MAX_BACKLOG})

    # When sweepers pass, each sends a bounded batch, and recovery proceeds pass after pass
    first = broker.sweeper(store).sweep()
    second = broker.sweeper(store).sweep()

    assert first == second == RECOVERY_BATCH
    assert len({ref for _, ref in broker.sent}) == RECOVERY_BATCH * 2


def test_a_sweeper_stops_sending_at_a_broken_broker_and_the_rest_fire_again() -> None:
    store = OrderStore(fakeredis.FakeRedis(decode_responses=True), lease_ms=5_000)
    for i in range(3):
        _under_way(store, f"o-{i}")
    calls: list[str] = []

    def broken(bl: int, ref: str, *, under_way: bool) -> None:
        calls.append(ref)
        raise ConnectionError("broker down")

    sweeper = Sweeper(
        store=store,
        send_advance=broken,
        send_notification=lambda note_id: None,
        queue_length=lambda queue: 0,
        clock=lambda: LATER,
    )
    assert sweeper.sweep() == 0
    assert len(calls) == 1  # no hammering of a broker that is down
    # every claimed timer is leased: all three fire again once the lease runs out
    assert len(store.claim_due(LATER + timedelta(seconds=5))) == 3


def test_two_sweepers_at_once_send_each_due_timer_exactly_once(redis_server: str) -> None:
    client = redis.Redis.from_url(redis_server, decode_responses=True)
    client.flushdb()
    store = OrderStore(client, lease_ms=60_000)
    members = {f"o:{BL}:ref-{i}": 0 for i in range(3_000)}
    client.zadd("orderflow:timers", members)  # 3,000 timers of work under way, all due
    broker = Broker()
    sweepers = [broker.sweeper(OrderStore(client, lease_ms=60_000)) for _ in range(2)]
    start = threading.Barrier(len(sweepers))

    def run(sweeper: Sweeper) -> None:
        start.wait()
        while sweeper.sweep():
            pass

    threads = [threading.Thread(target=run, args=(s,)) for s in sweepers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    refs = [ref for _, ref in broker.sent]
    assert len(refs) == 3_000
    assert len(set(refs)) == 3_000
    assert store.claim_due(LATER) == []  # every one is leased by the sweeper that sent it
    client.flushdb()


def test_a_sweeper_claims_nothing_while_the_broker_cannot_be_reached() -> None:
    store = OrderStore(fakeredis.FakeRedis(decode_responses=True))
    _under_way(store, "waiting")

    def unreachable(queue: str) -> int:
        raise OperationalError("broker down")

    broker = Broker()
    sweeper = Sweeper(
        store=store,
        send_advance=broker.send_advance,
        send_notification=broker.send_notification,
        queue_length=unreachable,
        clock=lambda: LATER,
    )
    assert sweeper.sweep() == 0
    assert broker.sent == []
    assert store.claim_due(LATER) == [f"o:{BL}:waiting"]  # not leased: due as before

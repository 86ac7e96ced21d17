"""Two producers creating the same order at the same moment, on a real redis-server: exactly one
wins, the other gets the winner's record (and so the producer's 409 for another body).

The race is forced, not hoped for: each create's read of the order key waits at a barrier until
the other create has read it too, so both have seen "no order" before either writes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from config.settings import Settings
from tests.builders import BL, T0, new_order, submission_body
from worker.errors import ReferenceConflict
from worker.order import Order
from worker.producer import Producer
from worker.store import OrderStore

KEY_FRAGMENT = f"{BL}:shop-1"


class BothReadFirst:
    """The first GET of the order key by each of the racing threads waits for the others' first
    GET; later reads (a retried transaction, the test's own checks) pass freely."""

    def __init__(self, parties: int = 2) -> None:
        self.parties = parties
        self.barrier = threading.Barrier(parties, timeout=10)
        self.waited: set[int] = set()
        self.lock = threading.Lock()

    def after(self, args: tuple[Any, ...]) -> None:
        if not (args and str(args[0]).upper() == "GET" and KEY_FRAGMENT in str(args[1])):
            return
        me = threading.get_ident()
        with self.lock:
            first = me not in self.waited and len(self.waited) < self.parties
            self.waited.add(me)
        if first:
            self.barrier.wait()


class GatedRedis(redis.Redis):
    """A real client whose reads of the order key, direct or inside a transaction, pass the gate."""

    gate: BothReadFirst

    def execute_command(self, *args: Any, **options: Any) -> Any:
        result = super().execute_command(*args, **options)
        self.gate.after(args)
        return result

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        pipe = super().pipeline(transaction, shard_hint)
        immediate = pipe.immediate_execute_command  # WATCHed reads run at once, through here
        gate = self.gate

        def gated(*args: Any, **options: Any) -> Any:
            result = immediate(*args, **options)
            gate.after(args)
            return result

        pipe.immediate_execute_command = gated
        return pipe


@pytest.fixture
def gated(redis_server: str) -> Iterator[GatedRedis]:
    client = GatedRedis.from_url(redis_server, decode_responses=True)
    client.gate = BothReadFirst()
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def race(*calls: Any) -> list[Any]:
    """Run the calls in threads at once; their results (or exceptions), in order."""
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_two_concurrent_creates_of_one_order_leave_exactly_one_winner(gated: GatedRedis) -> None:
    store = OrderStore(gated)
    ours, theirs = new_order(paid="10.00"), new_order(paid="11.00")
    assert ours.fingerprint != theirs.fingerprint
    results = race(lambda: store.create(ours, T0), lambda: store.create(theirs, T0))
    assert not any(isinstance(r, Exception) for r in results), results
    (a, a_created), (b, b_created) = results
    # exactly one created it; both were answered with the winner's record
    assert sorted([a_created, b_created]) == [False, True]
    winner: Order = a if a_created else b
    assert a.fingerprint == b.fingerprint == winner.fingerprint
    stored = store.get(BL, "shop-1")
    assert stored is not None and stored.fingerprint == winner.fingerprint
    # one timer and one status-index entry, not two writes' worth
    assert store.pending_timers() == 1
    assert store.count_by_status()[winner.status] == 1


def test_two_producers_racing_with_different_bodies_one_is_accepted_the_other_gets_a_conflict(
    gated: GatedRedis,
) -> None:
    enqueued: list[tuple[int, str]] = []
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    producer = Producer(
        store=OrderStore(gated), settings=settings, enqueue=lambda *k: enqueued.append(k)
    )
    results = race(
        lambda: producer.submit(submission_body("shop-1", paid="10.00")),
        lambda: producer.submit(submission_body("shop-1", paid="11.00")),
    )
    conflicts = [r for r in results if isinstance(r, ReferenceConflict)]
    accepted = [r for r in results if not isinstance(r, Exception)]
    assert len(conflicts) == 1, results
    assert len(accepted) == 1 and accepted[0].created
    assert enqueued == [(BL, "shop-1")]  # enqueued once, by the winner

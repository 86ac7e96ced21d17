"""A K-Series call slower than the timer lease: the lease is kept alive while the call runs,
so the sweeper never sends the same call a second time."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest

from tests.builders import BL
from tests.scripted_kseries import OK, Clock, Script, engine, queued

MEMBER = f"o:{BL}:shop-1"


def test_a_call_slower_than_the_lease_is_not_sent_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a 300 ms lease and a submit K-Series takes 10 s to answer
    clock = Clock()
    entered, answer = threading.Event(), threading.Event()

    def slow(_: object) -> tuple[object, ...]:
        entered.set()
        assert answer.wait(10)
        return (200, OK)

    script = Script(clock, order_local=[slow], saleByExternalReference=[(404, {})])
    e = engine(script, lease_ms=300)
    queued(e)
    clock.tick(1)
    assert e.store.claim_due(clock.now, new=True) == [MEMBER]  # the sweeper sends it
    ten_seconds_on = clock.now + timedelta(seconds=10)
    renewed = threading.Event()
    lease = e.store.lease

    def watched(member: str, now: datetime) -> None:
        lease(member, now)
        if member == MEMBER and now >= ten_seconds_on:
            renewed.set()

    monkeypatch.setattr(e.store, "lease", watched)
    worker = threading.Thread(target=e.advance, args=(BL, "shop-1"))
    worker.start()
    try:
        assert entered.wait(5)
        # When the call has been running for 10 s, far longer than the lease
        clock.tick(10)
        # Then the lease was renewed meanwhile: a sweep finds nothing due to send again
        assert renewed.wait(5), "the lease was not renewed while the call ran"
        assert e.store.claim_due(clock.now) == []
        assert e.store.claim_due(clock.now, new=True) == []
    finally:
        answer.set()
        worker.join(5)
    assert script.count("/order/local") == 1
    # and once the answer is recorded, the timer is where the record says, not leased on
    order = e.store.get(BL, "shop-1")
    assert order is not None and order.wake_at is not None
    assert e.store.claim_due(order.wake_at) == [MEMBER]

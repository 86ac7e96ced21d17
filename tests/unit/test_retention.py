"""Every key and index entry of an order ends with the order's record (issue 9, item 6).

fakeredis takes its clock from `time.time`, as the store does, so a month passes in a line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import fakeredis
import pytest
import redis
from pydantic import BaseModel, ValidationError

from tests.builders import BL, T0, new_order
from tests.kseries_examples import published_examples
from worker import constants as k
from worker.notifications import parse_notification
from worker.order import HistoryEntry, Order, Payment, Status
from worker.retention import kept_notification
from worker.store import OrderStore

DAY_S = 24 * 3600


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """`clock(seconds)` moves wall-clock time (the store's and fakeredis') forward."""
    offset = [0.0]
    real = time.time

    def fake_time() -> float:
        return real() + offset[0]

    monkeypatch.setattr(time, "time", fake_time)

    def advance(seconds: float) -> None:
        offset[0] += seconds

    return advance


def _settle(order: Order, status: Status = Status.SETTLING) -> Order:
    payment = Payment(
        reference="pay-1",
        amount=Decimal("5.00"),
        attempt=1,
        created_at=T0,
        deadline=T0 + timedelta(minutes=5),
    )
    entry = HistoryEntry(at=T0, status=status, event="test")
    return order.model_copy(
        update={
            "status": status,
            "payments": (payment,),
            "wake_at": None if status.terminal else T0 + timedelta(seconds=60),
            "history": (*order.history, entry),
        }
    )


def test_an_expired_order_is_neither_counted_nor_listed_nor_found_by_any_index(
    clock: Callable[[float], None],
) -> None:
    r = fakeredis.FakeRedis(decode_responses=True)
    s = OrderStore(r)
    s.create(new_order("old"), T0)
    s.transition(BL, "old", lambda o: _settle(o, Status.COMPLETED))
    clock(20 * DAY_S)
    s.create(new_order("young"), T0)
    s.transition(BL, "young", lambda o: _settle(o, Status.COMPLETED))
    assert s.count_by_status()[Status.COMPLETED] == 2

    clock(11 * DAY_S)  # "old" was last written 31 days ago, "young" 11 days ago

    assert s.get(BL, "old") is None
    assert s.count_by_status()[Status.COMPLETED] == 1
    assert s.keys_with_status(Status.COMPLETED) == [(BL, "young")]
    assert s.locations_for("old") == []
    assert s.order_by_payment("pay-1") == (BL, "young")
    # and the dead entry is gone from the index itself, not only filtered out
    assert r.zcard(k.STATUS_INDEX.format(status=Status.COMPLETED)) == 1


def test_every_index_entry_is_renewed_with_each_write_of_its_order(
    clock: Callable[[float], None],
) -> None:
    s = OrderStore(fakeredis.FakeRedis(decode_responses=True))
    s.create(new_order(), T0)
    s.transition(BL, "shop-1", _settle)
    clock(25 * DAY_S)
    s.transition(BL, "shop-1", lambda o: o)  # written again: a new month from now
    clock(25 * DAY_S)

    assert s.get(BL, "shop-1") is not None
    assert s.keys_with_status(Status.SETTLING) == [(BL, "shop-1")]
    assert s.locations_for("shop-1") == [BL]
    assert s.order_by_payment("pay-1") == (BL, "shop-1")


def test_a_notification_is_kept_trimmed_and_for_a_day_once_applied() -> None:
    r = fakeredis.FakeRedis(decode_responses=True)
    s = OrderStore(r)
    payload = {
        "type": "ORDER",
        "thirdPartyReference": "shop-1",
        "businessLocationId": BL,
        "status": "FAILURE",
        "reason": "x" * 100_000,
        "debugDump": {"huge": ["y" * 1000] * 1000},
        "account": {"ikaccountId": "A1.1", "currentAmount": "4.00", "lines": ["z"] * 500},
    }
    note_id = s.record_notification(payload, T0)
    stored = s.notification(note_id)
    assert stored is not None
    kept = stored["payload"]
    assert set(kept) == {
        "type",
        "thirdPartyReference",
        "businessLocationId",
        "status",
        "reason",
    } | {"account"}
    assert len(kept["reason"]) == 256
    assert kept["account"] == {"ikaccountId": "A1.1", "currentAmount": "4.00"}
    key = k.NOTIFICATION_KEY.format(id=note_id)
    assert len(r.get(key) or "") < 1_000
    assert r.ttl(key) > 7 * DAY_S  # not applied yet: kept for inspection

    s.notification_done(note_id)

    assert 0 < r.ttl(key) <= DAY_S


def test_every_key_an_order_writes_on_a_real_redis_expires_with_it(
    redis_server: str, clock: Callable[[float], None]
) -> None:
    r = redis.Redis.from_url(redis_server, decode_responses=True)
    r.flushdb()
    s = OrderStore(r)
    s.create(new_order(), T0)
    s.transition(BL, "shop-1", _settle)

    shared = {k.TIMERS, k.NEW_TIMERS}  # one per deployment, not per order
    per_order = [key for key in r.scan_iter("orderflow:*") if key not in shared]
    assert sorted(per_order) == sorted(
        [
            k.ORDER_KEY.format(bl=BL, ref="shop-1"),
            k.STATUS_INDEX.format(status=Status.SETTLING),  # QUEUED's, emptied, is gone
            k.REFERENCE_INDEX.format(ref="shop-1"),
            k.PAYMENT_INDEX.format(ref="pay-1"),
        ]
    )
    record_ttl = r.pttl(k.ORDER_KEY.format(bl=BL, ref="shop-1"))
    for key in per_order:
        if r.type(key) == "zset":
            for member, expires in r.zrange(key, 0, -1, withscores=True):
                assert abs(expires - (time.time() * 1000 + record_ttl)) < 5_000, (key, member)
        if not key.startswith(k.PREFIX + ":index:status:"):
            assert abs(r.pttl(key) - record_ttl) < 5_000, key

    clock(31 * DAY_S)  # the server's clock stays put; the index is read as a month later
    assert s.count_by_status()[Status.SETTLING] == 0
    assert r.zcard(k.STATUS_INDEX.format(status=Status.SETTLING)) == 0
    assert s.locations_for("shop-1") == []
    r.flushdb()


@pytest.mark.parametrize("name", sorted(published_examples()))
def test_a_published_notification_reads_the_same_once_trimmed(name: str) -> None:
    body = json.loads(json.dumps(published_examples()[name]), parse_float=Decimal)
    try:
        expected = parse_notification(body)
    except ValidationError:
        pytest.skip("not a notification orderflow reads: kept as a bounded sketch")
    kept = parse_notification(kept_notification(body))
    # what orderflow reads of it: the same model, the same lifecycle event (and dedup key)
    assert type(kept) is type(expected)
    assert _declared(kept) == _declared(expected)


def _declared(value: Any) -> Any:
    """A parsed model's declared fields at every depth (extra fields are what trimming drops)."""
    if isinstance(value, BaseModel):
        return {name: _declared(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, list | tuple):
        return [_declared(item) for item in value]
    return value

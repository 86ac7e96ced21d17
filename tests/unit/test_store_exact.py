"""The order store's exact keys, boundaries and failure handling: counts, parked items, rate
limits and timers (mutation testing, issue 10)."""

from __future__ import annotations

import base64
import json
import time
import zlib
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import fakeredis
import pytest
import redis

from tests.builders import BL, T0, new_order
from worker import constants as k
from worker.errors import OrderNotFound
from worker.order import HistoryEntry, Order, Payment, Status
from worker.record_codec import Z1
from worker.store import OrderStore


def _fake() -> tuple[OrderStore, fakeredis.FakeRedis, fakeredis.FakeServer]:
    server = fakeredis.FakeServer()
    client = fakeredis.FakeRedis(server=server, decode_responses=True)
    return OrderStore(client, lease_ms=5_000), client, server


def _now_ms() -> int:
    return int(time.time() * 1000)


def _with(order: Order, status: Status, *, wake_s: int | None = 60, pay: str = "") -> Order:
    payments = () if not pay else (_payment(pay),)
    entry = HistoryEntry(at=T0, status=status, event="test")
    return order.model_copy(
        update={
            "status": status,
            "wake_at": None if wake_s is None else T0 + timedelta(seconds=wake_s),
            "payments": payments,
            "history": (*order.history, entry),
        }
    )


def _payment(reference: str) -> Payment:
    return Payment(
        reference=reference,
        amount=Decimal("5.00"),
        attempt=1,
        created_at=T0,
        deadline=T0 + timedelta(minutes=5),
    )


# --- orders -----------------------------------------------------------------------------------


def test_a_transition_of_an_unknown_order_names_its_location_and_reference() -> None:
    store, _, _ = _fake()
    with pytest.raises(OrderNotFound) as raised:
        store.transition(BL, "nope", lambda o: o)
    assert (raised.value.business_location_id, raised.value.reference) == (BL, "nope")
    assert str(raised.value) == f"no order {BL}/nope"


def test_references_holding_colons_are_found_by_status_payment_and_location() -> None:
    store, _, _ = _fake()
    store.create(new_order("a:b"), T0)
    store.transition(BL, "a:b", lambda o: _with(o, Status.SETTLING, pay="pay:1"))
    assert store.keys_with_status(Status.SETTLING) == [(BL, "a:b")]
    assert store.order_by_payment("pay:1") == (BL, "a:b")
    assert store.order_by_payment("pay:2") is None
    assert store.locations_for("a:b") == [BL]


def test_orders_are_counted_per_status_with_every_status_listed() -> None:
    store, _, _ = _fake()
    for ref in ("one", "two", "three"):
        store.create(new_order(ref), T0)
    store.transition(BL, "three", lambda o: _with(o, Status.SUBMITTED))
    counts = store.count_by_status()
    assert counts == {s: {Status.QUEUED: 2, Status.SUBMITTED: 1}.get(s, 0) for s in Status}
    assert list(counts) == list(Status)


def test_put_many_leaves_each_order_as_a_create_and_its_first_write_would() -> None:
    store, client, _ = _fake()
    waiting = _with(new_order("w"), Status.SUBMITTED, wake_s=60, pay="pay-w")
    ended = _with(new_order("e"), Status.COMPLETED, wake_s=None)
    store.put_many([waiting, ended])
    assert (store.get(BL, "w"), store.get(BL, "e")) == (waiting, ended)
    assert client.zrange(k.TIMERS, 0, -1, withscores=True) == [
        (f"o:{BL}:w", float((T0 + timedelta(seconds=60)).timestamp() * 1000))
    ]
    assert client.zcard(k.NEW_TIMERS) == 0
    assert store.keys_with_status(Status.SUBMITTED) == [(BL, "w")]
    assert store.keys_with_status(Status.COMPLETED) == [(BL, "e")]
    assert store.order_by_payment("pay-w") == (BL, "w")
    assert store.locations_for("e") == [BL]


# --- the call log and counters: best effort ---------------------------------------------------


def test_a_call_is_logged_with_any_value_as_text_and_a_lost_redis_fails_nothing() -> None:
    store, _, server = _fake()
    store.record_call(BL, "r", {"at": T0, "amount": Decimal("1.50"), "status": 200})
    assert store.calls(BL, "r") == [
        {"at": "2026-11-22 12:00:00+00:00", "amount": "1.50", "status": 200}
    ]
    server.connected = False
    store.record_call(BL, "r", {"status": 500})
    store.count("orders", "created")


def test_counts_add_up_per_label() -> None:
    store, _, _ = _fake()
    store.count("orders", "created")
    store.count("orders", "created", 2)
    store.count("orders", "failed")
    assert store.counters("orders") == {"created": 3, "failed": 1}


# --- items a task keeps failing on ------------------------------------------------------------


def test_failures_are_counted_per_item_over_a_window_from_the_first() -> None:
    store, client, _ = _fake()
    assert store.count_failure("o:1:a") == 1
    assert client.ttl(k.FAILURES.format(member="o:1:a")) == k.FAILURE_WINDOW_S
    client.expire(k.FAILURES.format(member="o:1:a"), 100)  # the window is running out
    assert store.count_failure("o:1:a") == 2
    assert client.ttl(k.FAILURES.format(member="o:1:a")) == 100  # not renewed
    assert store.count_failure("o:1:b") == 1
    assert sorted(client.keys("orderflow:failures:*")) == [
        "orderflow:failures:o:1:a",
        "orderflow:failures:o:1:b",
    ]


def _needs_attention(client: redis.Redis) -> list[tuple[str, float]]:
    index = k.STATUS_INDEX.format(status=Status.NEEDS_ATTENTION)
    entries: list[tuple[str, float]] = client.zrange(index, 0, -1, withscores=True)  # type: ignore[assignment]
    return entries


def test_a_set_aside_order_is_listed_until_its_record_expires_and_loses_its_timers() -> None:
    store, client, _ = _fake()
    store.create(new_order(), T0)
    client.pexpire(k.ORDER_KEY.format(bl=BL, ref="shop-1"), 50_000)
    store.set_aside(BL, "shop-1")
    [(member, until)] = _needs_attention(client)
    assert member == f"{BL}:shop-1"
    assert abs(until - (_now_ms() + 50_000)) < 1_000
    assert store.keys_with_status(Status.QUEUED) == []
    assert store.pending_timers() == 0


def test_a_set_aside_record_without_a_ttl_is_listed_for_the_record_lifetime() -> None:
    store, client, _ = _fake()
    client.set(k.ORDER_KEY.format(bl=BL, ref="by-hand"), "{not json")
    store.set_aside(BL, "by-hand")
    [(_, until)] = _needs_attention(client)
    assert abs(until - (_now_ms() + k.RECORD_TTL_S * 1000)) < 1_000


class _Left(fakeredis.FakeRedis):
    """A client on which the order record has exactly `left` ms to live."""

    left = 0

    def pttl(self, name: Any) -> Any:
        return self.left


@pytest.mark.parametrize(("left", "listed"), [(-2, False), (0, False), (1, True)])
def test_a_set_aside_order_is_listed_only_while_its_record_lives(left: int, listed: bool) -> None:
    client = _Left(decode_responses=True)
    client.left = left
    OrderStore(client).set_aside(BL, "gone")
    assert bool(_needs_attention(client)) is listed


# --- rate limits ------------------------------------------------------------------------------


class _Recording(fakeredis.FakeRedis):
    sets: list[tuple[Any, ...]]

    def set(self, name: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        self.sets.append((name, value, kwargs))
        return super().set(name, value, *args, **kwargs)


def test_a_throttle_holds_the_location_for_its_seconds_and_at_least_a_millisecond() -> None:
    client = _Recording(decode_responses=True)
    client.sets = []
    store = OrderStore(client)
    assert store.throttled_for(BL) == 0
    store.throttle(BL, 2.5)
    assert 2.4 < store.throttled_for(BL) <= 2.5
    assert store.throttled_for(BL + 1) == 0
    store.throttle(BL, 0.0001)
    assert client.sets[-1][2] == {"px": 1}


# --- timers -----------------------------------------------------------------------------------


def test_at_most_five_hundred_timers_are_claimed_at_once_by_default() -> None:
    store, client, _ = _fake()
    client.zadd(k.TIMERS, {f"n:{i}": i for i in range(501)})
    assert len(store.claim_due(T0)) == 500
    assert store.claim_due(T0) == ["n:500"]


def test_the_timer_lateness_is_how_overdue_the_oldest_timer_is() -> None:
    store, client, _ = _fake()
    assert store.timer_lateness_ms(T0) == 0
    due = int(T0.timestamp() * 1000)
    client.zadd(k.TIMERS, {"o:1:later": due + 10_000})
    assert store.timer_lateness_ms(T0) == 0  # nothing due yet
    client.zadd(k.TIMERS, {"o:1:old": due - 1_500, "o:1:newer": due - 500})
    assert store.timer_lateness_ms(T0) == 1_500
    assert store.timer_lateness_ms(T0 + timedelta(seconds=1)) == 2_500


def test_a_timer_is_dropped_from_both_sets_and_pending_timers_counts_both() -> None:
    store, client, _ = _fake()
    client.zadd(k.TIMERS, {"o:1:a": 1, "o:1:b": 1})
    client.zadd(k.NEW_TIMERS, {"o:1:a": 1, "o:1:c": 1})
    assert store.pending_timers() == 4
    store.drop_timer("o:1:a")
    assert (client.zrange(k.TIMERS, 0, -1), client.zrange(k.NEW_TIMERS, 0, -1)) == (
        ["o:1:b"],
        ["o:1:c"],
    )


# --- round trips: MULTI only where all-or-nothing matters (what a real Redis counts) ----------


@pytest.fixture
def real(redis_server: str) -> Iterator[tuple[OrderStore, redis.Redis]]:
    client = redis.Redis.from_url(redis_server, decode_responses=True)
    client.flushdb()
    yield OrderStore(client), client
    client.flushdb()
    client.close()


def _multis(client: redis.Redis) -> int:
    stats: dict[str, Any] = client.info("commandstats")
    return int(stats.get("cmdstat_multi", {}).get("calls", 0))


def test_reads_and_standalone_writes_take_no_multi_and_counting_failures_does(
    real: tuple[OrderStore, redis.Redis],
) -> None:
    store, client = real
    order = _with(new_order(), Status.SUBMITTED)
    client.config_resetstat()
    store.put_many([order])
    store.keys_with_status(Status.SUBMITTED)
    store.count_by_status()
    store.record_call(BL, "shop-1", {"status": 200})
    store.lease(f"o:{BL}:shop-1", T0)
    store.drop_timer(f"o:{BL}:shop-1")
    assert store.pending_timers() == 0
    assert _multis(client) == 0
    store.count_failure("o:1:a")
    assert _multis(client) == 1
    store.set_aside(BL, "shop-1")
    assert _multis(client) == 2
    assert json.loads(client.lrange(k.CALLS_KEY.format(bl=BL, ref="shop-1"), 0, -1)[0]) == {
        "status": 200
    }


def test_a_new_orders_timer_is_leased_for_eight_seconds_by_default() -> None:
    store = OrderStore(fakeredis.FakeRedis(decode_responses=True))
    store.create(new_order(), T0)
    assert store.claim_due(T0 + timedelta(milliseconds=7_999), new=True) == []
    assert store.claim_due(T0 + timedelta(seconds=8), new=True) == [f"o:{BL}:shop-1"]


def test_the_stored_record_is_compressed_without_nulls_or_defaults_and_reads_back() -> None:
    store, client, _ = _fake()
    order, _ = store.create(new_order(), T0)
    raw = client.get(k.ORDER_KEY.format(bl=BL, ref="shop-1"))
    assert isinstance(raw, str) and raw.startswith("z1:")
    inflated = zlib.decompressobj(zdict=Z1).decompress(base64.b64decode(raw.removeprefix("z1:")))
    assert json.loads(inflated) == {  # no null, no `"status":"queued"`, `"version":0`, `[]`, 0
        "business_location_id": BL,
        "reference": "shop-1",
        "submission": {
            "settleRemaining": {"paymentMethod": "OOPAYMENT", "maxAmount": "5.00"},
            "order": {
                "businessLocationId": BL,
                "thirdPartyReference": "shop-1",
                "customerInfo": {"firstName": "Jane", "email": "jane@example.com"},
                "payment": {"paymentMethod": "OOPAYMENT", "paymentAmount": "10.00"},
                "items": [{"quantity": 1, "sku": "BURGER"}],
            },
        },
        "fingerprint": order.fingerprint,
        "created_at": "2026-11-22T12:00:00Z",
        "delivery_ttl_ms": 60000,
        "submit_deadline": "2026-11-22T12:01:00Z",
        "history": [{"at": "2026-11-22T12:00:00Z", "status": "queued", "event": "submitted"}],
    }
    assert store.get(BL, "shop-1") == order


@pytest.mark.parametrize(("left_ms", "seconds"), [(2_500, 2.5), (1, 0.001), (-1, 0), (-2, 0)])
def test_the_throttle_left_is_its_ttl_in_seconds_and_none_without_one(
    left_ms: int, seconds: float
) -> None:
    client = _Left(decode_responses=True)
    client.left = left_ms
    assert OrderStore(client).throttled_for(BL) == seconds

"""The order store: every Redis key orderflow owns, behind one repository.

Each order is one JSON record with a `version`; a transition is a compare-and-set
(WATCH/MULTI) that also moves the order's durable timer and status index in the same
transaction, so state, timer and index can never disagree. Timers live in one sorted set and
are claimed by a Lua script that leases them: a claimed timer whose worker dies fires again
when its lease runs out.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any, cast

import redis

from worker import constants as k
from worker.errors import OrderNotFound, StoreUnavailable
from worker.order import Order, Status

__all__ = ["OrderStore", "TimerKind", "dump_order"]

TimerKind = str  # "o" (order) or "n" (notification)

# Claim due timers: return them and push each one's score to now + lease, atomically.
_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, member in ipairs(due) do
  redis.call('ZADD', KEYS[1], ARGV[2], member)
end
return due
"""


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def dump_order(order: Order) -> str:
    """The stored record. Nulls are left out (every nullable field defaults to None, so the
    record reads back equal): a waiting order's record is ~1.2 KB instead of ~1.9 KB."""
    return order.model_dump_json(exclude_none=True)


@contextmanager
def _redis_errors() -> Iterator[None]:
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise StoreUnavailable(f"Redis unavailable: {exc}") from exc


class OrderStore:
    """Orders, timers and notifications in Redis (an injected client, decode_responses=True)."""

    def __init__(self, client: redis.Redis, *, lease_ms: int = 8_000) -> None:
        self._r = client
        self._lease_ms = lease_ms
        self._claim = client.register_script(_CLAIM)

    # --- orders -------------------------------------------------------------------------------

    @staticmethod
    def order_key(bl: int, ref: str) -> str:
        return k.ORDER_KEY.format(bl=bl, ref=ref)

    def ping(self) -> bool:
        with _redis_errors():
            return bool(self._r.ping())

    def get(self, bl: int, ref: str) -> Order | None:
        with _redis_errors():
            raw = self._r.get(self.order_key(bl, ref))
        return Order.model_validate_json(raw) if raw else None

    def create(self, order: Order, now: datetime) -> tuple[Order, bool]:
        """Store a new order with its timer leased from `now`; an existing one is returned."""
        key = self.order_key(order.business_location_id, order.reference)

        def txn(pipe: Any) -> tuple[Order, bool]:
            existing = pipe.get(key)
            if existing:
                return Order.model_validate_json(existing), False
            pipe.multi()
            pipe.set(key, dump_order(order), ex=k.RECORD_TTL_S)
            pipe.zadd(k.TIMERS, {self._member(order): _ms(now) + self._lease_ms})
            pipe.sadd(k.STATUS_INDEX.format(status=order.status), order.key)
            ref_index = k.REFERENCE_INDEX.format(ref=order.reference)
            pipe.sadd(ref_index, order.business_location_id)
            pipe.expire(ref_index, k.RECORD_TTL_S)
            return order, True

        with _redis_errors():
            result = self._r.transaction(txn, key, value_from_callable=True)  # type: ignore[arg-type]
        return cast(tuple[Order, bool], result)

    def transition(self, bl: int, ref: str, change: Callable[[Order], Order]) -> Order:
        """Apply `change` to the current record atomically; retried when another writer won."""
        key = self.order_key(bl, ref)

        def txn(pipe: Any) -> Order:
            raw = pipe.get(key)
            if not raw:
                raise OrderNotFound(bl, ref)
            before = Order.model_validate_json(raw)
            after = change(before).model_copy(update={"version": before.version + 1})
            pipe.multi()
            pipe.set(key, dump_order(after), ex=k.RECORD_TTL_S)
            self._index(pipe, before, after)
            return after

        with _redis_errors():
            result = self._r.transaction(txn, key, value_from_callable=True)  # type: ignore[arg-type]
        return cast(Order, result)

    def _index(self, pipe: Any, before: Order, after: Order) -> None:
        member = self._member(after)
        if after.status.terminal or after.wake_at is None:
            pipe.zrem(k.TIMERS, member)
        else:
            pipe.zadd(k.TIMERS, {member: _ms(after.wake_at)})
        if before.status is not after.status:
            pipe.srem(k.STATUS_INDEX.format(status=before.status), after.key)
            pipe.sadd(k.STATUS_INDEX.format(status=after.status), after.key)
        known = {p.reference for p in before.payments}
        for payment in after.payments:
            if payment.reference not in known:
                pipe.set(
                    k.PAYMENT_INDEX.format(ref=payment.reference), after.key, ex=k.RECORD_TTL_S
                )

    def order_by_payment(self, payment_reference: str) -> tuple[int, str] | None:
        with _redis_errors():
            raw = self._r.get(k.PAYMENT_INDEX.format(ref=payment_reference))
        if not raw:
            return None
        bl, _, ref = str(raw).partition(":")
        return int(bl), ref

    def locations_for(self, reference: str) -> list[int]:
        """Business locations holding an order with this reference (webhooks may omit it)."""
        with _redis_errors():
            members = self._r.smembers(k.REFERENCE_INDEX.format(ref=reference))
        return sorted(int(m) for m in members)

    def keys_with_status(self, status: Status) -> list[tuple[int, str]]:
        with _redis_errors():
            members = self._r.smembers(k.STATUS_INDEX.format(status=status))
        keys = []
        for member in sorted(members):
            bl, _, ref = str(member).partition(":")
            keys.append((int(bl), ref))
        return keys

    def count_by_status(self) -> dict[Status, int]:
        with _redis_errors():
            pipe = self._r.pipeline(transaction=False)
            for status in Status:
                pipe.scard(k.STATUS_INDEX.format(status=status))
            counts = pipe.execute()
        return dict(zip(Status, (int(c) for c in counts), strict=True))

    # --- counters (Prometheus reads them through the API, whichever process counted) -----------

    def count(self, name: str, label: str, amount: int = 1) -> None:
        """Best effort: a lost count must never fail an order."""
        with suppress(redis.RedisError):
            self._r.hincrby(k.METRICS.format(name=name), label, amount)

    def counters(self, name: str) -> dict[str, int]:
        with _redis_errors():
            raw = self._r.hgetall(k.METRICS.format(name=name))
        return {str(label): int(value) for label, value in raw.items()}

    # --- rate limits --------------------------------------------------------------------------

    def throttle(self, bl: int, seconds: float) -> None:
        """K-Series answered 429 for this location: hold its calls for `seconds`."""
        with _redis_errors():
            self._r.set(k.THROTTLE.format(bl=bl), "1", px=max(1, int(seconds * 1000)))

    def throttled_for(self, bl: int) -> float:
        """Seconds left before calls for this location may resume (0 when not throttled)."""
        with _redis_errors():
            left = self._r.pttl(k.THROTTLE.format(bl=bl))
        return max(0, int(left)) / 1000

    # --- timers -------------------------------------------------------------------------------

    @staticmethod
    def _member(order: Order) -> str:
        return f"o:{order.key}"

    def reschedule(self, order: Order) -> None:
        """Put an order's timer back at its `wake_at`, unless the record changed meanwhile
        (then its writer set the timer). Cheaper than a transition: nothing is rewritten."""
        key = self.order_key(order.business_location_id, order.reference)

        def txn(pipe: Any) -> None:
            raw = pipe.get(key)
            if not raw or Order.model_validate_json(raw).version != order.version:
                return
            pipe.multi()
            self._index(pipe, order, order)

        with _redis_errors():
            self._r.transaction(txn, key)

    def queue_length(self, queue: str) -> int:
        """Messages waiting in a Celery queue on this Redis (kombu keeps a list per queue)."""
        with _redis_errors():
            return int(self._r.llen(queue))

    def lease(self, member: str, now: datetime) -> None:
        """Push a live timer to now + lease before working on it. `XX`: a timer that a
        concurrent task removed (its order ended) is not brought back."""
        with _redis_errors():
            self._r.zadd(k.TIMERS, {member: _ms(now) + self._lease_ms}, xx=True)

    def drop_timer(self, member: str) -> None:
        """An ended order's timer: nothing is due for it any more."""
        with _redis_errors():
            self._r.zrem(k.TIMERS, member)

    def claim_due(self, now: datetime, limit: int = 500) -> list[str]:
        """Timers due at `now`, each leased for `lease_ms` so a lost task fires again."""
        with _redis_errors():
            due = self._claim(keys=[k.TIMERS], args=[_ms(now), _ms(now) + self._lease_ms, limit])
        return [str(m) for m in due]

    def timer_lateness_ms(self, now: datetime) -> int:
        """How overdue the oldest due timer is (0 when none is due): the sweeper's lag."""
        with _redis_errors():
            oldest = self._r.zrange(k.TIMERS, 0, 0, withscores=True)
        if not oldest:
            return 0
        return max(0, _ms(now) - int(oldest[0][1]))

    def pending_timers(self) -> int:
        with _redis_errors():
            return int(self._r.zcard(k.TIMERS))

    # --- notifications ------------------------------------------------------------------------

    def record_notification(self, payload: dict[str, Any], now: datetime) -> str:
        """Keep a received notification durably and lease its timer; returns its id."""
        note_id = uuid.uuid4().hex
        document = json.dumps({"received_at": now.isoformat(), "payload": payload}, default=str)
        with _redis_errors():
            pipe = self._r.pipeline(transaction=True)
            pipe.set(k.NOTIFICATION_KEY.format(id=note_id), document, ex=k.NOTIFICATION_TTL_S)
            pipe.zadd(k.TIMERS, {f"n:{note_id}": _ms(now) + self._lease_ms})
            pipe.execute()
        return note_id

    def notification(self, note_id: str) -> dict[str, Any] | None:
        with _redis_errors():
            raw = self._r.get(k.NOTIFICATION_KEY.format(id=note_id))
        if not raw:
            return None
        document: dict[str, Any] = json.loads(raw)
        return document

    def notification_done(self, note_id: str) -> None:
        """Applied to its order: the timer goes; the document expires with its TTL."""
        with _redis_errors():
            self._r.zrem(k.TIMERS, f"n:{note_id}")

    def notification_unmatched(self, note_id: str) -> None:
        """No order claims it: keep it for inspection (`orderflow unmatched`)."""
        with _redis_errors():
            pipe = self._r.pipeline(transaction=True)
            pipe.zrem(k.TIMERS, f"n:{note_id}")
            pipe.lpush(k.UNMATCHED, note_id)
            pipe.ltrim(k.UNMATCHED, 0, 9_999)
            pipe.expire(k.UNMATCHED, k.NOTIFICATION_TTL_S)
            pipe.execute()

    def unmatched(self, limit: int = 100) -> list[dict[str, Any]]:
        with _redis_errors():
            ids = self._r.lrange(k.UNMATCHED, 0, limit - 1)
        return [doc for i in ids if (doc := self.notification(str(i))) is not None]

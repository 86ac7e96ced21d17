"""The order store: every Redis key orderflow owns, behind one repository.

Each order is one record with a `version` (JSON, stored compressed: `worker.record_codec`); a
transition is a compare-and-set (WATCH/MULTI) that also moves the order's durable timer and
status index in the same transaction, so state, timer and index can never disagree. Timers
live in sorted sets and are claimed by a Lua script that leases them: a claimed timer whose
worker dies fires again when its lease runs out.

Retention: every key and index entry of an order ends with the order's record
(`RECORD_TTL_S` after its last write). Indexes are sorted sets scored by that expiry; readers
count only live entries and writers trim the dead ones, so nothing grows without bound.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any, cast

import redis

from worker import constants as k
from worker.errors import OrderNotFound, StoreUnavailable
from worker.inbox import NotificationInbox
from worker.location_store import LocationStore
from worker.order import Order, Status
from worker.record_codec import decode, encode
from worker.replication import NO_REPLICAS, ReplicatedWrites, Replication

__all__ = ["OrderStore", "TimerKind"]

TimerKind = str  # "o" (order), "n" (notification) or "e" (status events)

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


def _now_ms() -> int:
    """Wall-clock now, as the index scores use it (Redis' own TTLs use its clock, the same)."""
    return int(time.time() * 1000)


@contextmanager
def _redis_errors() -> Iterator[None]:
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise StoreUnavailable(f"Redis unavailable: {exc}") from exc


class OrderStore(NotificationInbox, LocationStore, ReplicatedWrites):
    """Orders, timers and notifications in Redis (an injected client, decode_responses=True);
    notifications and readiness are `worker.inbox`'s part of it, per-location keys
    `worker.location_store`'s, confirming writes on replicas `worker.replication`'s."""

    _errors = staticmethod(_redis_errors)

    def __init__(
        self,
        client: redis.Redis,
        *,
        lease_ms: int = 8_000,
        on_status: Callable[[Any, Order | None, Order], None] | None = None,
        replication: Replication = NO_REPLICAS,
    ) -> None:
        self._r = client
        self._lease_ms = lease_ms
        self._replication = replication
        # Called inside the transaction of every write that creates an order or changes its
        # status (the status events' outbox): what it queues commits with the write or not at all.
        self._on_status = on_status
        self._claim = client.register_script(_CLAIM)

    def _batch(self) -> Any:
        """A pipeline without MULTI: one round trip for commands that each stand alone."""
        return self._r.pipeline(transaction=False)

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
        return decode(raw) if raw else None

    def create(self, order: Order, now: datetime) -> tuple[Order, bool]:
        """Store a new order with its timer leased from `now`; an existing one is returned.

        The timer goes to the new orders' set until a worker first writes the order."""
        key = self.order_key(order.business_location_id, order.reference)

        def txn(pipe: Any) -> tuple[Order, bool]:
            existing = pipe.get(key)
            if existing:
                return decode(existing), False
            pipe.multi()
            self._put(pipe, order, None)
            pipe.zadd(k.NEW_TIMERS, {self._member(order): _ms(now) + self._lease_ms})
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
            before = decode(raw)
            after = change(before).model_copy(update={"version": before.version + 1})
            pipe.multi()
            self._put(pipe, after, before)
            self._timer(pipe, after)
            return after

        with _redis_errors():
            result = self._r.transaction(txn, key, value_from_callable=True)  # type: ignore[arg-type]
        return cast(Order, result)

    def _put(self, pipe: Any, order: Order, before: Order | None) -> None:
        """Write the record and renew every index entry of it to the record's expiry."""
        if self._on_status is not None and (before is None or before.status is not order.status):
            self._on_status(pipe, before, order)
        now = _now_ms()
        expires = now + k.RECORD_TTL_S * 1000
        pipe.set(
            self.order_key(order.business_location_id, order.reference),
            encode(order),
            px=k.RECORD_TTL_S * 1000,
        )
        status_index = k.STATUS_INDEX.format(status=order.status)
        if before is not None and before.status is not order.status:
            pipe.zrem(k.STATUS_INDEX.format(status=before.status), order.key)
        pipe.zadd(status_index, {order.key: expires})
        pipe.zremrangebyscore(status_index, "-inf", now)
        ref_index = k.REFERENCE_INDEX.format(ref=order.reference)
        pipe.zadd(ref_index, {str(order.business_location_id): expires})
        pipe.zremrangebyscore(ref_index, "-inf", now)
        pipe.pexpireat(ref_index, expires)  # this entry is the last to expire
        for payment in order.payments:
            pipe.set(k.PAYMENT_INDEX.format(ref=payment.reference), order.key, pxat=expires)

    def _timer(self, pipe: Any, order: Order) -> None:
        """Put the order's timer at its `wake_at` (none once it ended); it is no longer new."""
        member = self._member(order)
        pipe.zrem(k.NEW_TIMERS, member)
        if order.status.terminal or order.wake_at is None:
            pipe.zrem(k.TIMERS, member)
        else:
            pipe.zadd(k.TIMERS, {member: _ms(order.wake_at)})

    def put_many(self, orders: list[Order]) -> None:
        """What `create` and later writes leave for each order, pipelined without the
        compare-and-set: for loading many records at once (the capacity benchmark)."""
        with _redis_errors():
            pipe = self._batch()
            for order in orders:
                self._put(pipe, order, None)
                self._timer(pipe, order)
            pipe.execute()

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
            members = self._r.zrangebyscore(
                k.REFERENCE_INDEX.format(ref=reference), _now_ms(), "+inf"
            )
        return sorted(int(str(m)) for m in members)

    def keys_with_status(self, status: Status) -> list[tuple[int, str]]:
        """Orders in `status` whose records have not expired, trimming those that have."""
        index, now = k.STATUS_INDEX.format(status=status), _now_ms()
        with _redis_errors():
            pipe = self._batch()
            pipe.zremrangebyscore(index, "-inf", now)
            pipe.zrangebyscore(index, now, "+inf")
            members = pipe.execute()[1]
        keys = []
        for member in sorted(members):
            bl, _, ref = str(member).partition(":")
            keys.append((int(bl), ref))
        return keys

    def count_by_status(self) -> dict[Status, int]:
        """Live orders per status (expired ones are trimmed, never counted)."""
        now = _now_ms()
        with _redis_errors():
            pipe = self._batch()
            for status in Status:
                index = k.STATUS_INDEX.format(status=status)
                pipe.zremrangebyscore(index, "-inf", now)
                pipe.zcount(index, now, "+inf")
            counts = pipe.execute()[1::2]
        return dict(zip(Status, (int(c) for c in counts), strict=True))

    # --- the order's K-Series calls (the ops page's timeline) ----------------------------------

    def record_call(self, bl: int, ref: str, entry: dict[str, Any]) -> None:
        """Best effort, like a count: a lost line in the call log must never fail an order."""
        key = k.CALLS_KEY.format(bl=bl, ref=ref)
        with suppress(redis.RedisError):
            pipe = self._batch()
            pipe.rpush(key, json.dumps(entry, default=str))
            pipe.ltrim(key, -k.CALLS_KEEP, -1)
            pipe.expire(key, k.RECORD_TTL_S)
            pipe.execute()

    def calls(self, bl: int, ref: str) -> list[dict[str, Any]]:
        """The order's recorded K-Series calls, oldest first (the newest `CALLS_KEEP`)."""
        with _redis_errors():
            raw = self._r.lrange(k.CALLS_KEY.format(bl=bl, ref=ref), 0, -1)
        return [json.loads(line) for line in raw]

    # --- items a task keeps failing on (worker.parking) ------------------------------------------

    def count_failure(self, member: str) -> int:
        """One more unexpected error of a task on this item (timer member); the count so far
        within `FAILURE_WINDOW_S` of the first."""
        key = k.FAILURES.format(member=member)
        with _redis_errors():
            pipe = self._r.pipeline()  # MULTI: all or nothing
            pipe.incr(key)
            pipe.expire(key, k.FAILURE_WINDOW_S, nx=True)
            count, _ = pipe.execute()
        return int(count)

    def set_aside(self, bl: int, ref: str) -> None:
        """An order whose record no code can read any more: its timer goes, and it is listed
        as `needs_attention` (until the record expires) for a person to look at."""
        key, member = self.order_key(bl, ref), f"{bl}:{ref}"
        with _redis_errors():
            left_ms = int(self._r.pttl(key))  # -1: no TTL (written by hand), -2: gone
            left_ms = k.RECORD_TTL_S * 1000 if left_ms == -1 else left_ms
            pipe = self._r.pipeline()  # MULTI: all or nothing
            pipe.zrem(k.TIMERS, f"o:{member}")
            pipe.zrem(k.NEW_TIMERS, f"o:{member}")
            for status in Status:
                pipe.zrem(k.STATUS_INDEX.format(status=status), member)
            if left_ms > 0:
                index = k.STATUS_INDEX.format(status=Status.NEEDS_ATTENTION)
                pipe.zadd(index, {member: _now_ms() + left_ms})
            pipe.execute()

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

    def next_turn(self, bl: int, member: str, now: datetime, spacing_ms: int) -> float:
        """Seconds `member`'s call for this location must wait: 0 while K-Series does not
        rate-limit it and nobody waits; else a turn after the throttle and every turn given
        before, `spacing_ms` apart, so held calls go one by one, never all at once. A member
        whose turn has come goes, even if a newer 429 arrived: the line always moves."""
        script = """
        local now, spacing, keep = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
        local mine = redis.call('ZSCORE', KEYS[2], ARGV[1])
        if mine and tonumber(mine) <= now then
          redis.call('ZREM', KEYS[2], ARGV[1])
          return 0
        end
        redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - keep)
        if mine then return tonumber(mine) - now end
        local left = math.max(0, redis.call('PTTL', KEYS[1]))
        local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
        local tail = #last > 0 and tonumber(last[2]) or 0
        if left == 0 and tail < now then return 0 end
        local at = math.max(now + left, tail + spacing)
        redis.call('ZADD', KEYS[2], at, ARGV[1])
        redis.call('PEXPIRE', KEYS[2], at - now + keep)
        return at - now
        """
        keys = (k.THROTTLE.format(bl=bl), k.THROTTLE_TURNS.format(bl=bl))
        args = (member, _ms(now), spacing_ms, k.TURN_KEEP_MS)
        with _redis_errors():
            wait = self._r.eval(script, 2, *keys, *args)
        return int(wait) / 1000

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
            if not raw or decode(raw).version != order.version:
                return
            pipe.multi()
            self._timer(pipe, order)

        with _redis_errors():
            self._r.transaction(txn, key)

    def lease(self, member: str, now: datetime) -> None:
        """Push a live timer to now + lease before working on it. `XX`: a timer that a
        concurrent task removed (its order ended) is not brought back."""
        leased = {member: _ms(now) + self._lease_ms}
        with _redis_errors():
            pipe = self._batch()
            pipe.zadd(k.TIMERS, leased, xx=True)
            pipe.zadd(k.NEW_TIMERS, leased, xx=True)
            pipe.execute()

    def drop_timer(self, member: str) -> None:
        """An ended order's timer: nothing is due for it any more."""
        with _redis_errors():
            pipe = self._batch()
            pipe.zrem(k.TIMERS, member)
            pipe.zrem(k.NEW_TIMERS, member)
            pipe.execute()

    def claim_due(self, now: datetime, limit: int = 500, *, new: bool = False) -> list[str]:
        """Timers due at `now`, each leased for `lease_ms` so a lost task fires again.

        `new`: from new orders' timers (no worker wrote the order yet) instead of work under
        way. Atomic: any number of sweepers may claim at once, each timer goes to one of them."""
        timers = k.NEW_TIMERS if new else k.TIMERS
        with _redis_errors():
            due = self._claim(keys=[timers], args=[_ms(now), _ms(now) + self._lease_ms, limit])
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
            pipe = self._batch()
            pipe.zcard(k.TIMERS)
            pipe.zcard(k.NEW_TIMERS)
            return sum(int(n) for n in pipe.execute())

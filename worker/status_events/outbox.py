"""The status events' Redis keys: each order's outbox, its delivery lock, and two indexes.

An order's events are appended (RPUSH) inside the store's own transaction for the write that
changed its status, together with its delivery timer (`e:{bl}:{ref}` in `orderflow:timers`,
`ZADD NX`): a process dying right after a transition cannot lose the event, and the sweeper
finds it like any other timer. Deliveries update their item in place (LSET); only the one
deliverer holding the order's lock writes a pending item, so one order's events go out in
order while every other order's go out independently.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis
import structlog

from worker import constants as k
from worker.errors import StoreUnavailable
from worker.order import Order
from worker.status_events.message import Delivery, DeliveryState, View, deliveries_for

__all__ = ["EventOutbox", "OrderEvents", "member"]

log = structlog.get_logger(__name__)

# Extend the lock's expiry only while this deliverer still holds it.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def member(bl: int, ref: str) -> str:
    """The order's delivery timer in `orderflow:timers`."""
    return f"e:{bl}:{ref}"


@contextmanager
def _redis_errors() -> Iterator[None]:
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise StoreUnavailable(f"Redis unavailable: {exc}") from exc


@dataclass(frozen=True)
class OrderEvents:
    """One order's deliveries, oldest first."""

    business_location_id: int
    reference: str
    deliveries: tuple[Delivery, ...]

    @property
    def key(self) -> str:
        return f"{self.business_location_id}:{self.reference}"

    def head(self) -> tuple[int, Delivery] | None:
        """The first pending delivery: nothing after it goes out before it."""
        for index, delivery in enumerate(self.deliveries):
            if delivery.state is DeliveryState.PENDING:
                return index, delivery
        return None


class EventOutbox:
    """Status events in Redis (an injected client, decode_responses=True)."""

    def __init__(self, client: redis.Redis, *, view: View, lease_ms: int = 5_000) -> None:
        self._r = client
        self._view = view
        self._lease_ms = lease_ms
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    @staticmethod
    def _key(bl: int, ref: str) -> str:
        return k.STATUS_EVENTS.format(bl=bl, ref=ref)

    # --- written by the store, inside the transaction that changed the status ----------------

    def record(self, pipe: Any, before: Order | None, after: Order) -> None:
        """Queue `after`'s status events and make sure its delivery timer exists (`NX`: one
        already set, e.g. for a retry backoff, is kept: the new event waits behind that one)."""
        try:
            deliveries = deliveries_for(before, after, self._view)
        except Exception as exc:  # a bug here must never stop the order's own write
            log.error("status_events.not_recorded", error=type(exc).__name__, status=after.status)
            return
        if not deliveries:
            return
        key = self._key(after.business_location_id, after.reference)
        pipe.rpush(key, *(d.dump() for d in deliveries))
        pipe.expire(key, k.RECORD_TTL_S)
        due = deliveries[-1].since_ms
        pipe.zadd(k.TIMERS, {member(after.business_location_id, after.reference): due}, nx=True)
        pipe.zadd(k.STATUS_EVENTS_RECENT, {after.key: due})
        pipe.zremrangebyrank(k.STATUS_EVENTS_RECENT, 0, -(k.STATUS_EVENTS_RECENT_KEEP + 1))
        pipe.expire(k.STATUS_EVENTS_RECENT, k.RECORD_TTL_S)

    # --- reading ------------------------------------------------------------------------------

    def events(self, bl: int, ref: str) -> OrderEvents:
        with _redis_errors():
            raw = self._r.lrange(self._key(bl, ref), 0, -1)
        deliveries = tuple(Delivery.model_validate_json(item) for item in raw)
        return OrderEvents(bl, ref, deliveries)

    def recent(self, limit: int = 50) -> list[OrderEvents]:
        """The orders whose status changed last, newest first."""
        with _redis_errors():
            keys = self._r.zrevrange(k.STATUS_EVENTS_RECENT, 0, limit - 1)
        return [self.events(*_split(str(key))) for key in keys]

    def undelivered(self) -> list[tuple[OrderEvents, Delivery]]:
        """Every delivery given up on, with its order (stale index entries are dropped)."""
        with _redis_errors():
            index = self._r.hgetall(k.STATUS_EVENTS_UNDELIVERED)
        found = []
        for event, key in sorted(index.items(), key=lambda item: str(item[1])):
            events = self.events(*_split(str(key)))
            match = [d for d in events.deliveries if d.id == event]
            if match and match[0].state is DeliveryState.UNDELIVERED:
                found.append((events, match[0]))
            else:
                with _redis_errors():
                    self._r.hdel(k.STATUS_EVENTS_UNDELIVERED, event)
        return found

    # --- delivering ---------------------------------------------------------------------------

    def lock(self, bl: int, ref: str, ms: int) -> str | None:
        """Become the order's only deliverer for `ms` (renewable); None when another is."""
        token = uuid.uuid4().hex
        with _redis_errors():
            taken = self._r.set(k.STATUS_EVENTS_LOCK.format(bl=bl, ref=ref), token, nx=True, px=ms)
        return token if taken else None

    def renew(self, bl: int, ref: str, token: str, ms: int) -> bool:
        with _redis_errors():
            return bool(
                self._renew(keys=[k.STATUS_EVENTS_LOCK.format(bl=bl, ref=ref)], args=[token, ms])
            )

    def unlock(self, bl: int, ref: str, token: str) -> None:
        with _redis_errors():
            self._release(keys=[k.STATUS_EVENTS_LOCK.format(bl=bl, ref=ref)], args=[token])

    def lease(self, bl: int, ref: str, now_ms: int) -> None:
        """Keep the sweeper from sending the order again while a delivery is under way."""
        with _redis_errors():
            self._r.zadd(k.TIMERS, {member(bl, ref): now_ms + self._lease_ms}, xx=True)

    def sooner(self, bl: int, ref: str, at_ms: int) -> None:
        """Bring a leased timer forward to `at_ms` (never later than it is, never re-created)."""
        with _redis_errors():
            self._r.zadd(k.TIMERS, {member(bl, ref): at_ms}, xx=True, lt=True)

    def postpone(self, bl: int, ref: str, until_ms: int) -> None:
        """Nothing can be sent from here now (events are off in this process): look again later."""
        with _redis_errors():
            self._r.zadd(k.TIMERS, {member(bl, ref): until_ms}, xx=True)

    def save(self, events: OrderEvents, index: int, delivery: Delivery) -> None:
        """Write one delivery back in place (the lock holder's item); index it if given up."""
        with _redis_errors():
            pipe = self._r.pipeline(transaction=True)
            pipe.lset(
                self._key(events.business_location_id, events.reference), index, delivery.dump()
            )
            if delivery.state is DeliveryState.UNDELIVERED:
                pipe.hset(k.STATUS_EVENTS_UNDELIVERED, delivery.id, events.key)
                pipe.expire(k.STATUS_EVENTS_UNDELIVERED, k.RECORD_TTL_S)
            pipe.execute()

    def reschedule(self, bl: int, ref: str, now_ms: int) -> int | None:
        """Put the timer where the head says (not before now), or remove it when nothing is
        pending; watched, so an event recorded meanwhile is never left without a timer.
        Returns when it is due (epoch ms), None when nothing is pending."""
        key = self._key(bl, ref)
        timer = member(bl, ref)

        def txn(pipe: Any) -> int | None:
            raw = pipe.lrange(key, 0, -1)
            head = OrderEvents(bl, ref, tuple(Delivery.model_validate_json(i) for i in raw)).head()
            pipe.multi()
            if head is None:
                pipe.zrem(k.TIMERS, timer)
                return None
            due = max(head[1].next_ms, now_ms)
            pipe.zadd(k.TIMERS, {timer: due})
            return due

        with _redis_errors():
            due = self._r.transaction(txn, key, value_from_callable=True)  # type: ignore[arg-type]
        return due if isinstance(due, int) else None

    # --- the operator -------------------------------------------------------------------------

    def redeliver(self, event: str, now_ms: int) -> bool:
        """Send an undelivered event again, with a fresh retry window; False if there is none."""
        with _redis_errors():
            key = self._r.hget(k.STATUS_EVENTS_UNDELIVERED, event)
        if key is None:
            return False
        bl, ref = _split(str(key))
        list_key = self._key(bl, ref)

        def txn(pipe: Any) -> bool:
            raw = pipe.lrange(list_key, 0, -1)
            pipe.multi()
            pipe.hdel(k.STATUS_EVENTS_UNDELIVERED, event)
            for index, item in enumerate(raw):
                delivery = Delivery.model_validate_json(item)
                if delivery.id == event and delivery.state is DeliveryState.UNDELIVERED:
                    again = delivery.model_copy(
                        update={
                            "state": DeliveryState.PENDING,
                            "attempts": 0,
                            "since_ms": now_ms,
                            "next_ms": now_ms,
                            "done_ms": None,
                        }
                    )
                    pipe.lset(list_key, index, again.dump())
                    pipe.zadd(k.TIMERS, {member(bl, ref): now_ms}, lt=True)
                    return True
            return False

        with _redis_errors():
            found = self._r.transaction(txn, list_key, value_from_callable=True)  # type: ignore[arg-type]
        return bool(found)


def _split(key: str) -> tuple[int, str]:
    bl, _, ref = key.partition(":")
    return int(bl), ref

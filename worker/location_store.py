"""Per-location keys: the orders held while K-Series says a location is not ready, the
locations with a kept readiness, and the orders a location failed to deliver in a row.

Part of the order store (`OrderStore` mixes it in), so every Redis key is still written in one
place (`worker.constants`). Every key is bounded: a held entry ends at its order's submit
deadline, a location's failure count is deleted when it returns to 0, and the indexes are
trimmed by score on every read. Writes are best effort, like a count: a lost one never fails an
order (a held order still looks again on its own; a gauge is off until the next write).
"""

from __future__ import annotations

import json
import time
from contextlib import AbstractContextManager, suppress
from datetime import datetime
from typing import Any

import redis

from worker import constants as k

__all__ = ["LocationStore"]

MAX_TIME_TO_POS_MS = 86_400_000  # a day: longer is no time to the POS orderflow measured
_WEIGHT = 0.3  # of each new observation in the moving average (the last ~5 orders count most)
# Move a location's average time to the POS towards one observation (the first one sets it).
_AVERAGE = """
local old, seen = tonumber(redis.call('GET', KEYS[1])), tonumber(ARGV[1])
local new = seen
if old then new = math.floor(old + (seen - old) * tonumber(ARGV[2]) + 0.5) end
redis.call('SET', KEYS[1], new, 'PX', ARGV[3])
return new
"""


def _took_ms(raw: Any) -> int | None:
    """A kept time to the POS, or None: absent, or not a duration orderflow could have written
    (the key edited by hand): unknown, never an order's failure."""
    try:
        took = int(str(raw)) if raw else None
    except ValueError:
        return None
    return took if took is not None and 0 <= took <= MAX_TIME_TO_POS_MS else None


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


class LocationStore:
    """`OrderStore`'s per-location part; the store provides the client and `_errors`."""

    _r: redis.Redis

    def _errors(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    # --- orders held while the location is not ready ------------------------------------------

    def hold_order(self, bl: int, key: str, until: datetime) -> None:
        """List a queued order ("{bl}:{ref}") as held for its location until `until` (its
        submit deadline: past it the order fails, so the entry means nothing any more)."""
        held = k.HELD_ORDERS.format(bl=bl)
        with suppress(redis.RedisError):
            pipe = self._r.pipeline(transaction=True)
            pipe.zadd(held, {key: _ms(until)})
            pipe.expire(held, k.RECORD_TTL_S)
            pipe.zadd(k.HELD_LOCATIONS, {str(bl): _ms(until)}, gt=True)
            pipe.expire(k.HELD_LOCATIONS, k.RECORD_TTL_S)
            pipe.execute()

    def release_order(self, bl: int, key: str) -> None:
        """The order is no longer held (sent, ended, or held for another reason)."""
        with suppress(redis.RedisError):
            self._r.zrem(k.HELD_ORDERS.format(bl=bl), key)

    def held_orders(self, bl: int, now: datetime, limit: int) -> list[tuple[int, str]]:
        """Up to `limit` orders held for this location whose deadline is ahead, soonest first."""
        with self._errors():
            members = self._r.zrangebyscore(
                k.HELD_ORDERS.format(bl=bl), _ms(now), "+inf", start=0, num=limit
            )
        held = []
        for member in members:
            location, _, ref = str(member).partition(":")
            held.append((int(location), ref))
        return held

    def held_by_location(self, now: datetime) -> dict[int, int]:
        """Orders held per location (entries past their deadline are trimmed, never counted)."""
        stamp = _ms(now)
        with self._errors():
            self._r.zremrangebyscore(k.HELD_LOCATIONS, "-inf", stamp)
            locations = [int(str(bl)) for bl in self._r.zrange(k.HELD_LOCATIONS, 0, -1)]
            pipe = self._r.pipeline(transaction=False)
            for bl in locations:
                pipe.zremrangebyscore(k.HELD_ORDERS.format(bl=bl), "-inf", stamp)
                pipe.zcard(k.HELD_ORDERS.format(bl=bl))
            counts = pipe.execute()[1::2]
        return dict(zip(locations, (int(c) for c in counts), strict=True))

    # --- kept readiness, by location -------------------------------------------------------------

    def readiness_by_location(self) -> dict[int, dict[str, Any]]:
        """The kept readiness of every location K-Series sent one for (within its retention)."""
        oldest = int(time.time() * 1000) - k.NOTIFICATION_TTL_S * 1000
        with self._errors():
            self._r.zremrangebyscore(k.READINESS_LOCATIONS, "-inf", oldest)
            locations = [int(str(bl)) for bl in self._r.zrange(k.READINESS_LOCATIONS, 0, -1)]
            if not locations:
                return {}
            raw = self._r.mget([k.READINESS_KEY.format(bl=bl) for bl in locations])
        return {bl: json.loads(doc) for bl, doc in zip(locations, raw, strict=True) if doc}

    # --- orders a location failed to deliver in a row ---------------------------------------------

    def count_undelivered(self, bl: int) -> None:
        """One more order of this location ended undelivered (no device took it)."""
        with suppress(redis.RedisError):
            pipe = self._r.pipeline(transaction=True)
            pipe.hincrby(k.UNDELIVERED_IN_A_ROW, str(bl), 1)
            pipe.expire(k.UNDELIVERED_IN_A_ROW, k.RECORD_TTL_S)
            pipe.execute()

    # --- how long a location's orders take to reach the POS ---------------------------------------

    def reached_pos(self, bl: int, took_ms: int | None) -> None:
        """An order of this location got onto the POS (`took_ms` after K-Series' 200, when
        known): the run of failures is over, and the usual time to the POS moves towards it."""
        with suppress(redis.RedisError):
            pipe = self._r.pipeline(transaction=False)
            pipe.hdel(k.UNDELIVERED_IN_A_ROW, str(bl))
            if took_ms is not None:
                key = k.TIME_TO_POS.format(bl=bl)
                pipe.eval(_AVERAGE, 1, key, took_ms, _WEIGHT, k.TIME_TO_POS_TTL_S * 1000)
            pipe.execute()

    def readiness_and_time_to_pos(self, bl: int) -> tuple[dict[str, Any] | None, int | None]:
        """The location's kept readiness (`readiness`) and usual time to the POS in ms
        (`time_to_pos`), in one round trip: a submit reads both.

        Raises:
            StoreUnavailable: Redis cannot be reached (the readiness read always said so).
        """
        with self._errors():
            kept, took = self._r.mget(k.READINESS_KEY.format(bl=bl), k.TIME_TO_POS.format(bl=bl))
        readiness: dict[str, Any] | None = json.loads(kept) if kept else None
        return readiness, _took_ms(took)

    def time_to_pos(self, bl: int) -> int | None:
        """The location's usual time to the POS (ms), or None: none of its orders got there
        today. Best effort: unknown when Redis cannot say."""
        try:
            raw = self._r.get(k.TIME_TO_POS.format(bl=bl))
        except redis.RedisError:
            return None
        return _took_ms(raw)

    def undelivered_in_a_row(self) -> dict[int, int]:
        with self._errors():
            raw = self._r.hgetall(k.UNDELIVERED_IN_A_ROW)
        return {int(str(bl)): int(count) for bl, count in raw.items()}

"""The webhook inbox: recorded K-Series notifications, their timers, the ones no order claimed,
and each location's latest readiness. Part of the order store (`OrderStore` mixes it in), so
every Redis key is still written in one place: these keys are `worker.constants`' too.

A notification is stored before the webhook answers 200 and leased like an order's timer, so a
lost task is sent again; one that cannot be read, claims no order, or keeps failing is parked
in the unmatched list with the reason, never retried for its whole retention.
"""

from __future__ import annotations

import json
import time
import uuid
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import redis

from worker import constants as k
from worker.retention import kept_notification

__all__ = ["NotificationInbox"]

UNMATCHED_KEEP = 10_000
REASON_CHARS = 300


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


class NotificationInbox:
    """Notification and readiness keys; `OrderStore` provides the client and `_errors` (Redis
    failures as `StoreUnavailable`)."""

    _r: redis.Redis
    _lease_ms: int

    def _errors(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def record_notification(self, payload: dict[str, Any], now: datetime) -> str:
        """Keep a received notification durably and lease its timer; returns its id.

        Only what orderflow reads of it is kept, every string bounded (`kept_notification`)."""
        note_id = uuid.uuid4().hex
        kept = kept_notification(payload)
        document = json.dumps({"received_at": now.isoformat(), "payload": kept}, default=str)
        with self._errors():
            pipe = self._r.pipeline(transaction=True)
            pipe.set(k.NOTIFICATION_KEY.format(id=note_id), document, ex=k.NOTIFICATION_TTL_S)
            pipe.zadd(k.TIMERS, {f"n:{note_id}": _ms(now) + self._lease_ms})
            pipe.execute()
        return note_id

    def notification(self, note_id: str) -> dict[str, Any] | None:
        with self._errors():
            raw = self._r.get(k.NOTIFICATION_KEY.format(id=note_id))
        if not raw:
            return None
        document: dict[str, Any] = json.loads(raw)
        return document

    def notification_done(self, note_id: str) -> None:
        """Applied (or recorded and ignored): the timer goes; the document is kept a day."""
        with self._errors():
            pipe = self._r.pipeline(transaction=True)
            pipe.zrem(k.TIMERS, f"n:{note_id}")
            pipe.expire(k.NOTIFICATION_KEY.format(id=note_id), k.APPLIED_NOTIFICATION_TTL_S)
            pipe.delete(k.FAILURES.format(member=f"n:{note_id}"))
            pipe.execute()

    def notification_failed(self, note_id: str) -> int:
        """Count one unexpected error applying this notification; returns the count so far
        (within `FAILURE_WINDOW_S` of the first). Its timer stays leased: it is tried again."""
        key = k.FAILURES.format(member=f"n:{note_id}")
        with self._errors():
            pipe = self._r.pipeline(transaction=True)
            pipe.incr(key)
            pipe.expire(key, k.FAILURE_WINDOW_S, nx=True)  # counted from the first error
            count, _ = pipe.execute()
        return int(count)

    def notification_unmatched(self, note_id: str, reason: str = "no order claims it") -> None:
        """Parked for inspection (`orderflow unmatched`) with why: no order claims it, it
        cannot be read, or applying it kept failing. Never tried again."""
        key = k.NOTIFICATION_KEY.format(id=note_id)
        with self._errors():
            raw = self._r.get(key)
            pipe = self._r.pipeline(transaction=True)
            if raw:
                document = {**json.loads(raw), "reason": reason[:REASON_CHARS]}
                pipe.set(key, json.dumps(document), ex=k.NOTIFICATION_TTL_S)
            pipe.zrem(k.TIMERS, f"n:{note_id}")
            pipe.delete(k.FAILURES.format(member=f"n:{note_id}"))
            pipe.lpush(k.UNMATCHED, note_id)
            pipe.ltrim(k.UNMATCHED, 0, UNMATCHED_KEEP - 1)
            pipe.expire(k.UNMATCHED, k.NOTIFICATION_TTL_S)
            pipe.execute()

    def unmatched(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._errors():
            ids = self._r.lrange(k.UNMATCHED, 0, limit - 1)
        return [doc for i in ids if (doc := self.notification(str(i))) is not None]

    # --- location readiness (ORDER_API notifications) -------------------------------------------

    def record_readiness(self, bl: int, readiness: dict[str, Any], updated_at: datetime) -> bool:
        """Keep a location's readiness (`status` READY / NOT_READY, `posStatus`, ...) unless a
        newer one is already kept: notifications may arrive out of order. True when kept."""
        key = k.READINESS_KEY.format(bl=bl)
        stamp = _ms(updated_at)

        def txn(pipe: Any) -> bool:
            raw = pipe.get(key)
            if raw and int(json.loads(raw).get("updated_ms", 0)) > stamp:
                return False
            pipe.multi()
            document = {**readiness, "updated_ms": stamp}
            pipe.set(key, json.dumps(document, default=str), ex=k.NOTIFICATION_TTL_S)
            # the locations `/metrics` reports readiness for (`LocationStore`), trimmed by age
            pipe.zadd(k.READINESS_LOCATIONS, {str(bl): int(time.time() * 1000)})
            pipe.expire(k.READINESS_LOCATIONS, k.NOTIFICATION_TTL_S)
            return True

        with self._errors():
            kept = self._r.transaction(txn, key, value_from_callable=True)  # type: ignore[arg-type]
        return bool(kept)

    def readiness(self, bl: int) -> dict[str, Any] | None:
        """The latest readiness K-Series pushed for this location, or None (never, or expired)."""
        with self._errors():
            raw = self._r.get(k.READINESS_KEY.format(bl=bl))
        if not raw:
            return None
        document: dict[str, Any] = json.loads(raw)
        return document

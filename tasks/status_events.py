"""The status events task: take the order's ids, bind log context, deliver its due events."""

from __future__ import annotations

import time

import redis
import structlog

from config.queues import DELIVER_EVENTS_TASK
from tasks.orders import runtime, task_context
from worker.celery import app
from worker.errors import StoreUnavailable
from worker.parking import describe

__all__ = ["deliver_events"]

log = structlog.get_logger(__name__)
# How long an order's events wait when this process cannot send them: events off here, or an
# unexpected error (kept in the outbox either way, never dropped, never retried in a hot loop).
LOOK_AGAIN_S = 300


@app.task(name=DELIVER_EVENTS_TASK, ignore_result=True)
def deliver_events(business_location_id: int, reference: str) -> str | None:
    """Send the order's due status events, in order (sent by the sweeper for `e:` timers)."""
    with task_context(business_location_id=business_location_id, reference=reference):
        wiring = runtime()
        try:
            deliverer = wiring.status_events_deliverer
            if deliverer is not None:
                return deliverer.deliver(business_location_id, reference)
            log.error("status_events.not_configured", hint="set ORDERFLOW_EVENTS_URL here too")
        except (StoreUnavailable, redis.RedisError) as exc:
            log.error("store.unavailable", error=type(exc).__name__)  # the timer fires again
            return None
        except Exception as exc:
            log.error("status_events.failed", error=describe(exc), retry_in_s=LOOK_AGAIN_S)
        until = int((time.time() + LOOK_AGAIN_S) * 1000)
        try:
            wiring.status_events.postpone(business_location_id, reference, until)
        except StoreUnavailable as exc:
            log.error("store.unavailable", error=type(exc).__name__)
        return None

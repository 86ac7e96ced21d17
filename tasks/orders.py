"""Thin Celery tasks: take ids, bind log context, call one engine function.

Tasks are acked on receipt and carry no state: if a worker dies, the order's durable timer
(leased in Redis) fires again within `ORDERFLOW_TIMER_LEASE_MS` and a sweeper
(`orderflow sweeper`, a process, not a task) sends it again.

Every task starts and ends with an empty log context: a thread-pool worker runs many tasks on
one thread, and no line of one may carry another's order. An item a task keeps failing on is
parked after a few tries (`worker.parking`), never retried for its whole retention.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis
import structlog
from celery.signals import worker_process_init

from config.queues import ADVANCE_TASK, NOTIFICATION_TASK
from config.settings import get_settings
from worker.celery import app
from worker.engine import utcnow
from worker.errors import StoreUnavailable
from worker.parking import notification_failed, order_failed
from worker.runtime import Runtime

__all__ = ["advance", "apply_notification", "reset_runtime", "runtime", "task_context"]

log = structlog.get_logger(__name__)
_runtime: Runtime | None = None


def runtime() -> Runtime:
    global _runtime  # noqa: PLW0603 -- one wiring per worker process, rebuilt after fork
    if _runtime is None:
        _runtime = Runtime(get_settings())
    return _runtime


@worker_process_init.connect
def reset_runtime(**_: object) -> None:
    """Prefork children must not share the parent's sockets: each builds its own wiring."""
    global _runtime  # noqa: PLW0603
    _runtime = None


@contextmanager
def task_context(**context: object) -> Iterator[None]:
    """The task's log context alone: whatever an earlier task on this thread bound (or a
    callee bound and never unbound) is cleared before and after."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(**context)
    try:
        yield
    finally:
        structlog.contextvars.clear_contextvars()


@app.task(name=ADVANCE_TASK, ignore_result=True)
def advance(business_location_id: int, reference: str) -> str | None:
    """Do what is due for one order (submit, poll, read the check, pay)."""
    with task_context(business_location_id=business_location_id, reference=reference):
        store = runtime().store
        try:
            order = runtime().engine.advance(business_location_id, reference)
        except (StoreUnavailable, redis.RedisError) as exc:
            # Not this order's fault: its timer fires again when Redis is back.
            log.error("store.unavailable", error=type(exc).__name__)
            return None
        except Exception as exc:
            try:
                order_failed(store, business_location_id, reference, exc, utcnow())
            except (StoreUnavailable, redis.RedisError) as down:
                log.error("store.unavailable", error=type(down).__name__)
            return None
        return str(order.status) if order else None


@app.task(name=NOTIFICATION_TASK, ignore_result=True)
def apply_notification(notification_id: str) -> str | None:
    """Apply one recorded K-Series notification to its order."""
    with task_context(notification_id=notification_id):
        store = runtime().store
        try:
            order = runtime().engine.apply_notification(notification_id)
        except (StoreUnavailable, redis.RedisError) as exc:
            log.error("store.unavailable", error=type(exc).__name__)
            return None
        except Exception as exc:
            try:
                notification_failed(store, notification_id, exc)
            except (StoreUnavailable, redis.RedisError) as down:
                log.error("store.unavailable", error=type(down).__name__)
            return None
        return str(order.status) if order else None

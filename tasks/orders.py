"""Thin Celery tasks: take ids, bind log context, call one engine function.

Tasks are acked on receipt and carry no state: if a worker dies, the order's durable timer
(leased in Redis) fires again within `ORDERFLOW_TIMER_LEASE_MS` and the sweeper re-sends it.
"""

from __future__ import annotations

import structlog
from celery.signals import worker_process_init

from config.queues import ADVANCE_TASK, NOTIFICATION_TASK, QUEUE, SWEEP_TASK
from config.settings import get_settings
from worker.celery import app
from worker.engine import utcnow
from worker.errors import StoreUnavailable
from worker.runtime import Runtime

__all__ = ["advance", "apply_notification", "reset_runtime", "sweep_timers"]

log = structlog.get_logger(__name__)
_runtime: Runtime | None = None
SWEEP_BATCH = 500
SWEEP_ROUNDS = 20
MAX_BACKLOG = 1_000


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


@app.task(name=ADVANCE_TASK, ignore_result=True)
def advance(business_location_id: int, reference: str) -> str | None:
    """Do what is due for one order (submit, poll, read the check, pay)."""
    with structlog.contextvars.bound_contextvars(
        business_location_id=business_location_id, reference=reference
    ):
        try:
            order = runtime().engine.advance(business_location_id, reference)
        except StoreUnavailable as exc:
            log.error(
                "store.unavailable", error=str(exc)
            )  # the timer fires again when Redis is back
            return None
        return str(order.status) if order else None


@app.task(name=NOTIFICATION_TASK, ignore_result=True)
def apply_notification(notification_id: str) -> str | None:
    """Apply one recorded K-Series notification to its order."""
    with structlog.contextvars.bound_contextvars(notification_id=notification_id):
        try:
            order = runtime().engine.apply_notification(notification_id)
        except StoreUnavailable as exc:
            log.error("store.unavailable", error=str(exc))
            return None
        return str(order.status) if order else None


@app.task(name=SWEEP_TASK, ignore_result=True)
def sweep_timers() -> int:
    """Send a task for every durable timer that is due; each is leased while its task runs."""
    store = runtime().store
    sent = 0
    for _ in range(SWEEP_ROUNDS):
        # Backpressure: work queued but not started would only be leased again and sent twice.
        room = MAX_BACKLOG - store.queue_length(QUEUE)
        if room <= 0:
            break
        due = store.claim_due(utcnow(), min(SWEEP_BATCH, room))
        for member in due:
            kind, _, rest = member.partition(":")
            if kind == "o":
                bl, _, ref = rest.partition(":")
                advance.apply_async((int(bl), ref))
            elif kind == "n":
                apply_notification.apply_async((rest,))
        sent += len(due)
        if len(due) < min(SWEEP_BATCH, room):
            break
    return sent

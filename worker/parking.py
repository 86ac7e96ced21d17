"""An item a task keeps failing on is parked where a person looks, not retried for a month.

An unexpected error (a bug, a record or notification no code can read) would make its task raise
on every lease of the item's timer for the item's whole retention. Each such error is counted
per item in Redis (over `FAILURE_WINDOW_S`); the task that reaches `MAX_FAILURES` parks it: an
order goes to `needs_attention` with the error's type in its history and its timer dropped, a
notification goes to the unmatched list with the reason. Errors of Redis itself are not the
item's fault and are never counted (the timer simply fires again).

Only the exception's type and where it was raised are kept: its message may quote a customer's
data (a validation error echoes its input).
"""

from __future__ import annotations

import traceback
from datetime import datetime
from pathlib import Path

import structlog

from worker.errors import StoreUnavailable
from worker.lifecycle.moves import move
from worker.order import Order, Status
from worker.store import OrderStore

__all__ = ["MAX_FAILURES", "PARKED_EVENT", "describe", "notification_failed", "order_failed"]

log = structlog.get_logger(__name__)

MAX_FAILURES = 5
ROOT = Path(__file__).resolve().parent.parent  # frames below it are ours, not a library's
PARKED_EVENT = "task.parked"


def describe(exc: BaseException) -> str:
    """`ValueError at money.py:46`: the error's type and the innermost frame of our own code
    (not of a library it called)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if _ours(Path(f.filename).resolve())]
    where = (ours or frames)[-1:] if frames else []
    if not where:
        return type(exc).__name__
    return f"{type(exc).__name__} at {Path(where[0].filename).name}:{where[0].lineno}"


def _ours(path: Path) -> bool:
    return path.is_relative_to(ROOT) and "site-packages" not in path.parts


def order_failed(store: OrderStore, bl: int, ref: str, exc: BaseException, now: datetime) -> bool:
    """Count one unexpected error advancing this order; park it at MAX_FAILURES. True: parked."""
    failures = store.count_failure(f"o:{bl}:{ref}")
    what = describe(exc)
    log.error("task.failed", error=what, failures=failures, parks_at=MAX_FAILURES)
    if failures < MAX_FAILURES:
        return False
    reason = f"stopped after {failures} unexpected errors: {what}"

    def park(order: Order) -> Order:
        if order.status.terminal:
            return order.model_copy(update={"wake_at": None})
        return move(order, Status.NEEDS_ATTENTION, now, PARKED_EVENT, reason, failure_reason=reason)

    try:
        store.transition(bl, ref, park)
    except StoreUnavailable:
        raise
    except Exception as unreadable:  # the record itself is what fails: set it aside as it is
        log.error("task.record_unreadable", error=describe(unreadable))
        store.set_aside(bl, ref)
    log.error("task.parked", reason=reason)
    return True


def notification_failed(store: OrderStore, note_id: str, exc: BaseException) -> bool:
    """Count one unexpected error applying this notification; park it at MAX_FAILURES."""
    failures = store.notification_failed(note_id)
    what = describe(exc)
    log.error("task.failed", error=what, failures=failures, parks_at=MAX_FAILURES)
    if failures < MAX_FAILURES:
        return False
    store.notification_unmatched(note_id, f"stopped after {failures} unexpected errors: {what}")
    log.error("task.parked", notification_id=note_id)
    return True

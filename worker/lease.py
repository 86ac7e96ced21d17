"""Keeping an order's timer leased while a K-Series call runs.

A claimed timer fires again one lease (`ORDERFLOW_TIMER_LEASE_MS`) after it was last pushed; a
K-Series call may take longer than that (timeouts, a token refresh). The keeper renews the lease
every third of a lease until the call returns, so the sweeper never sends a slow call a second
time, and a worker that dies mid-call still has its order sent again one lease later.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import redis
import structlog

from worker.errors import StoreUnavailable
from worker.store import OrderStore

__all__ = ["kept_leased"]

log = structlog.get_logger(__name__)


@contextmanager
def kept_leased(
    store: OrderStore, member: str, *, lease: timedelta, clock: Callable[[], datetime]
) -> Iterator[None]:
    """Lease `member`'s timer now and keep it leased until the block ends."""
    store.lease(member, clock())
    done = threading.Event()

    def renew() -> None:
        while not done.wait(lease.total_seconds() / 3):
            try:
                store.lease(member, clock())
            except (StoreUnavailable, redis.RedisError) as exc:  # the next renewal may work
                log.warning("timer.lease_not_renewed", error=type(exc).__name__)

    context = contextvars.copy_context()  # the task's log context, for the warning above
    keeper = threading.Thread(
        target=context.run, args=(renew,), name="orderflow-lease", daemon=True
    )
    keeper.start()
    try:
        yield
    finally:
        done.set()
        keeper.join()

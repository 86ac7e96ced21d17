"""The ceiling: bare Celery no-op tasks on the same broker, pool and concurrency.

Default Celery settings (acks on receipt, prefetch 4, no task events), queue `noop`, its own
Redis database. Started as `celery -A bench.noop worker --pool threads ...`; the broker
comes from NOOP_BROKER_URL.
"""

from __future__ import annotations

import os

from celery import Celery

__all__ = ["QUEUE", "TASK", "app", "noop"]

QUEUE = "noop"
TASK = "noop.noop"

app = Celery("noop", broker=os.environ.get("NOOP_BROKER_URL", "redis://127.0.0.1:6379/2"))
app.conf.update(
    task_default_queue=QUEUE,
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task(name=TASK)  # type: ignore[untyped-decorator]
def noop() -> None:
    """Nothing: what a task costs Celery and the broker, and no more."""

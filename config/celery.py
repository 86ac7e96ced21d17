"""The Celery configuration, derived from Settings (read by `worker.celery`)."""

from __future__ import annotations

from typing import Any

from config.queues import EVENT_QUEUE, NOTIFICATION_TASK, QUEUE, SWEEP_TASK, TIMER_QUEUE
from config.settings import Settings

__all__ = ["celery_config"]


def celery_config(settings: Settings) -> dict[str, Any]:
    """Tasks are acked on receipt: a lost message is recovered by its durable timer's lease
    (seconds), not by the broker's visibility_timeout (an hour), and never runs twice by design."""
    return {
        "broker_url": settings.broker,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "broker_transport_options": {
            "visibility_timeout": 3600,
            "socket_timeout": 5,
            # Read queues in the order the worker lists them (WORKER_QUEUES), not round-robin.
            "queue_order_strategy": "priority",
        },
        "task_default_queue": QUEUE,
        "task_routes": {
            SWEEP_TASK: {"queue": TIMER_QUEUE},
            NOTIFICATION_TASK: {"queue": EVENT_QUEUE},
        },
        "task_ignore_result": True,
        "task_acks_late": False,
        "task_serializer": "json",
        "accept_content": ["json"],
        # Few reserved messages: a killed worker strands little, a busy one hoards nothing.
        "worker_prefetch_multiplier": 1,
        "worker_hijack_root_logger": False,
        # Task events cost every task three publishes (and every send one more); Flower turns
        # them on in the workers while it runs (`enable_events`), so nothing pays when no one looks.
        "worker_send_task_events": False,
        "task_send_sent_event": False,
        "beat_scheduler": "celery.beat:Scheduler",
        "beat_schedule": {
            "sweep-timers": {
                "task": SWEEP_TASK,
                "schedule": settings.sweep_interval_s,
                "options": {
                    "queue": TIMER_QUEUE,
                    "expires": max(2.0, settings.sweep_interval_s * 4),
                },
            }
        },
        "timezone": "UTC",
    }

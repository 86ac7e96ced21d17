"""The Celery configuration, derived from Settings (read by `worker.celery`)."""

from __future__ import annotations

from typing import Any

from config.queues import EVENT_QUEUE, NOTIFICATION_TASK, QUEUE, WORKER_QUEUES
from config.settings import Settings

__all__ = [
    "broker_kind_options",
    "celery_config",
    "is_amqp",
    "rank",
    "send_options",
    "sentinel_options",
]

AMQP_SCHEMES = frozenset({"amqp", "amqps", "pyamqp"})


def celery_config(settings: Settings) -> dict[str, Any]:
    """Tasks are acked on receipt: a lost message is recovered by its durable timer's lease
    (seconds), not by the broker's visibility_timeout (an hour), and never runs twice by design."""
    config: dict[str, Any] = {
        "broker_url": settings.broker,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "task_default_queue": QUEUE,
        # `orderflow.advance` goes to QUEUE (under way) or NEW_QUEUE by who sends it
        # (`worker.celery.send_advance`): no route could tell a new order from one under way.
        "task_routes": {NOTIFICATION_TASK: {"queue": EVENT_QUEUE}},
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
        "timezone": "UTC",
    }
    options = config | broker_kind_options(settings.broker, config["task_routes"])
    if settings.broker.partition("://")[0].lower() == "sentinel":
        # kombu asks the sentinels for the primary on every (re)connection: after a failover
        # workers and the API find the promoted replica by themselves.
        transport = options["broker_transport_options"]
        options["broker_transport_options"] = transport | sentinel_options(settings)
    return options


def sentinel_options(settings: Settings) -> dict[str, Any]:
    """kombu's `sentinel://` transport options: the monitored name; a sentinel that does not
    answer within a second is passed over for the next."""
    return {
        "master_name": settings.redis_sentinel_master,
        "sentinel_kwargs": {"socket_timeout": 1.0, "socket_connect_timeout": 1.0},
    }


def send_options(broker_url: str, queue: str) -> dict[str, Any]:
    """`send_task` options that put a message in one of WORKER_QUEUES on this kind of broker."""
    if not is_amqp(broker_url):
        return {"queue": queue}
    return {"queue": QUEUE, "priority": rank(queue)}


def rank(queue: str) -> int:
    """A queue's message priority on RabbitMQ: the first of WORKER_QUEUES ranks highest."""
    return WORKER_QUEUES[::-1].index(queue)


def is_amqp(broker_url: str) -> bool:
    """RabbitMQ (`amqp://`, `amqps://`, `pyamqp://`); anything else is a Redis-family broker."""
    return broker_url.partition("://")[0].lower() in AMQP_SCHEMES


def broker_kind_options(broker_url: str, routes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """How webhooks and work under way go ahead of new submissions on this kind of broker.

    Redis: one list per queue, and kombu's "priority" strategy reads the lists in the order the
    worker names them (WORKER_QUEUES). RabbitMQ delivers from several queues round-robin, so
    there the logical queues share QUEUE and carry their rank as a message priority
    (`x-max-priority`): a waiting webhook is the next message any worker gets, whatever backlog
    of submissions waits (tests/integration/test_rabbitmq.py).
    """
    if not is_amqp(broker_url):
        return {
            "broker_transport_options": {
                "visibility_timeout": 3600,
                "socket_timeout": 5,
                # Read queues in the order the worker lists them (WORKER_QUEUES), not round-robin.
                "queue_order_strategy": "priority",
            },
            "task_routes": routes,
        }
    return {
        # The broker confirms each publish before `send_task` returns, as a Redis LPUSH does: a
        # publish lost with its connection raises (and is logged) instead of vanishing silently
        # until the order's timer lease sends it again.
        "broker_transport_options": {"confirm_publish": True},
        "task_queue_max_priority": rank(WORKER_QUEUES[0]),
        "task_routes": {
            **{task: send_options(broker_url, route["queue"]) for task, route in routes.items()},
            # Tasks sent by name with no route (to the default queue) keep its rank.
            "*": send_options(broker_url, QUEUE),
        },
    }

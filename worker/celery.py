"""The Celery app (`celery -A worker ...` finds it here)."""

from __future__ import annotations

from celery import Celery
from celery.signals import after_setup_logger
from kombu.exceptions import ChannelError

from config.celery import celery_config, is_amqp, send_options
from config.logging import configure_logging
from config.queues import (
    ADVANCE_TASK,
    DELIVER_EVENTS_TASK,
    EVENT_QUEUE,
    NEW_QUEUE,
    NOTIFICATION_TASK,
    QUEUE,
)
from config.settings import Settings, get_settings

__all__ = [
    "app",
    "create_app",
    "queue_length",
    "send_advance",
    "send_deliver_events",
    "send_notification",
]


def create_app(settings: Settings) -> Celery:
    celery = Celery("orderflow", include=["tasks.orders", "tasks.status_events"])
    celery.conf.update(celery_config(settings))
    return celery


app = create_app(get_settings())


@after_setup_logger.connect
def _logging(**_: object) -> None:
    configure_logging()


def send_advance(
    business_location_id: int,
    reference: str,
    *,
    retry: bool = True,
    under_way: bool = False,
    after_webhook: bool = False,
) -> None:
    """Send `orderflow.advance` by name: a new order to the new-order queue (read last); with
    `under_way` (the sweeper's timer-driven steps) to the queue read before it; with
    `after_webhook` (what a webhook the API applied made due) to the events queue, read first."""
    queue = EVENT_QUEUE if after_webhook else QUEUE if under_way else NEW_QUEUE
    app.send_task(
        ADVANCE_TASK,
        args=(business_location_id, reference),
        retry=retry,
        **send_options(app.conf.broker_url, queue),
    )


def send_notification(notification_id: str, *, retry: bool = True) -> None:
    """Send `orderflow.apply_notification` by name (to the events queue, read first)."""
    app.send_task(
        NOTIFICATION_TASK,
        args=(notification_id,),
        retry=retry,
        **send_options(app.conf.broker_url, EVENT_QUEUE),
    )


def queue_length(queue: str) -> int:
    """Messages waiting in one of WORKER_QUEUES (on RabbitMQ they share one queue: its length).

    Raises:
        kombu.exceptions.OperationalError: the broker cannot be reached.
    """
    name = QUEUE if is_amqp(app.conf.broker_url) else queue
    with app.pool.acquire(block=True) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)  # a broker that is down: say so now
        try:
            return int(conn.default_channel.queue_declare(queue=name, passive=True).message_count)
        except (ChannelError, *conn.channel_errors):
            return 0  # no such queue yet (Redis drops an empty list): nothing waits


def send_deliver_events(business_location_id: int, reference: str, *, retry: bool = True) -> None:
    """Send `orderflow.deliver_events` by name: the order's status events to the producer. To
    the queue of work under way, whose backlog the sweeper counts before it claims more."""
    app.send_task(
        DELIVER_EVENTS_TASK,
        args=(business_location_id, reference),
        retry=retry,
        **send_options(app.conf.broker_url, QUEUE),
    )

"""The Celery app (`celery -A worker ...` finds it here)."""

from __future__ import annotations

from celery import Celery
from celery.signals import after_setup_logger

from config.celery import celery_config
from config.logging import configure_logging
from config.queues import ADVANCE_TASK, NOTIFICATION_TASK
from config.settings import Settings, get_settings

__all__ = ["app", "create_app", "send_advance", "send_notification"]


def create_app(settings: Settings) -> Celery:
    celery = Celery("orderflow", include=["tasks.orders"])
    celery.conf.update(celery_config(settings))
    return celery


app = create_app(get_settings())


@after_setup_logger.connect
def _logging(**_: object) -> None:
    configure_logging()


def send_advance(business_location_id: int, reference: str, *, retry: bool = True) -> None:
    """Send `orderflow.advance` by name (its queue comes from `task_routes`)."""
    app.send_task(ADVANCE_TASK, args=(business_location_id, reference), retry=retry)


def send_notification(notification_id: str, *, retry: bool = True) -> None:
    """Send `orderflow.apply_notification` by name (routed to the events queue)."""
    app.send_task(NOTIFICATION_TASK, args=(notification_id,), retry=retry)

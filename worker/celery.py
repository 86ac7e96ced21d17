"""The Celery app (`celery -A worker ...` finds it here)."""

from __future__ import annotations

from celery import Celery
from celery.signals import after_setup_logger, worker_process_init

from config.celery import celery_config
from config.logging import configure_logging
from config.settings import Settings, get_settings

__all__ = ["app", "create_app"]


def create_app(settings: Settings) -> Celery:
    celery = Celery("orderflow", include=["tasks.orders"])
    celery.conf.update(celery_config(settings))
    return celery


app = create_app(get_settings())


@after_setup_logger.connect
def _logging(**_: object) -> None:
    configure_logging()


@worker_process_init.connect
def _fresh_connections(**_: object) -> None:
    """Prefork children must not share the parent's sockets."""
    from tasks import orders

    orders.reset_runtime()

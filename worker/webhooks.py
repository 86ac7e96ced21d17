"""Registering where K-Series sends notifications (`orderflow webhook register|show|delete`)."""

from __future__ import annotations

from typing import Any, Literal

import httpx

from config.logging import REDACTED
from config.settings import Settings
from worker.kseries.auth import auth_for
from worker.kseries.client import KSeriesClient, default_timeout
from worker.kseries.models import WebhookRegistration

__all__ = ["delete", "register", "registration", "show"]


def registration(settings: Settings) -> WebhookRegistration:
    """Our endpoint: account data included, Basic credentials when configured."""
    basic = bool(settings.webhook_username and settings.webhook_password)
    return WebhookRegistration(
        endpointId=settings.endpoint_id,
        url=settings.webhook_url,
        withBasicAuth=basic,
        username=settings.webhook_username if basic else None,
        password=settings.webhook_password.get_secret_value()
        if basic and settings.webhook_password
        else None,
        provideAccount=True,
    )


def _client(settings: Settings) -> tuple[KSeriesClient, httpx.Client]:
    import redis

    r = redis.Redis.from_url(settings.redis_url, decode_responses=True, socket_connect_timeout=2)
    http = httpx.Client(
        base_url=settings.kseries_base_url,
        timeout=default_timeout(settings.kseries_timeout_s),
        auth=auth_for(settings, r),
    )
    return KSeriesClient(http), http


def register(settings: Settings) -> Literal["created", "updated"]:
    client, http = _client(settings)
    with http:
        return client.register_webhook(registration(settings))


def show(settings: Settings) -> dict[str, Any] | None:
    client, http = _client(settings)
    with http:
        found = client.get_webhook(settings.endpoint_id)
    if found and "password" in found:
        found["password"] = REDACTED
    return found


def delete(settings: Settings) -> bool:
    client, http = _client(settings)
    with http:
        return client.delete_webhook(settings.endpoint_id)

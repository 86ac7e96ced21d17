"""Sends K-Series notifications to registered webhooks, with the faults real delivery has.

K-Series documents no retry policy, ordering or event id, so by default each notification is
POSTed once; `webhook_retries` adds retries for runs that want them. Drop, duplicate and delay
faults are applied here; reordering is decided by the engine, which knows the sequence.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from typing import Any

import httpx
import structlog

from sandbox.config import SandboxConfig
from sandbox.formats import Clock, dumps
from sandbox.ledger import Ledger, NotificationRecord
from sandbox.webhooks import WebhookEndpoint, WebhookRegistry

__all__ = ["Notifier"]

log = structlog.get_logger("sandbox.notifier")
MAX_BACKOFF_S = 30.0


class Notifier:
    """Delivers sequences of notifications to the endpoint registered for an endpointId by the
    business that owns the notification's location."""

    def __init__(
        self,
        config: SandboxConfig,
        *,
        rng: random.Random,
        ledger: Ledger,
        clock: Clock,
        endpoints: WebhookRegistry,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._config = config
        self._rng = rng
        self._ledger = ledger
        self._clock = clock
        self._endpoints = endpoints
        self._http = httpx.AsyncClient(transport=transport, follow_redirects=False)

    async def aclose(self) -> None:
        await self._http.aclose()

    def _roll(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate

    async def deliver(self, notifications: list[tuple[str, dict[str, Any]]]) -> None:
        """Send (endpointId, payload) pairs one after the other, in the given order, each
        after its own random delay."""
        for endpoint_id, payload in notifications:
            await self._one(endpoint_id, payload)

    async def _one(self, endpoint_id: str, payload: dict[str, Any]) -> None:
        if self._config.webhook_delay_s > 0:
            await asyncio.sleep(self._rng.uniform(0, self._config.webhook_delay_s))
        endpoint = self._endpoints.route(endpoint_id, payload.get("businessLocationId"))
        if endpoint is None:
            self._record(endpoint_id, None, payload, error="no webhook registered")
            log.warning("sandbox.notification.unroutable", endpoint_id=endpoint_id)
            return
        body = endpoint.shape(payload)
        if self._roll(self._config.webhook_drop_rate):
            self._record(endpoint_id, endpoint.url, body, fault="dropped")
            log.info("sandbox.notification.dropped", **_summary(body))
            return
        await self._post(endpoint, body, fault=None)
        if self._roll(self._config.webhook_duplicate_rate):
            await self._post(endpoint, body, fault="duplicate")

    async def _post(
        self, endpoint: WebhookEndpoint, body: dict[str, Any], fault: str | None
    ) -> None:
        auth = (
            httpx.BasicAuth(endpoint.username or "", endpoint.password or "")
            if endpoint.with_basic_auth
            else None
        )
        attempts = 1 + self._config.webhook_retries
        for attempt in range(1, attempts + 1):
            record = NotificationRecord(
                self._clock.now(),
                endpoint.endpoint_id,
                endpoint.url,
                body,
                attempt=attempt,
                fault=fault,
            )
            try:
                response = await self._http.post(
                    endpoint.url,
                    content=dumps(body),
                    headers={"Content-Type": "application/json"},
                    auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
                    timeout=self._config.webhook_timeout_s,
                )
                record.status = response.status_code
            except httpx.HTTPError as exc:
                record.error = f"{type(exc).__name__}: {exc}"
            self._ledger.notifications.append(record)
            log.info(
                "sandbox.notification.sent",
                attempt=attempt,
                http_status=record.status,
                error=record.error,
                fault=fault,
                **_summary(body),
            )
            if record.status is not None and 200 <= record.status < 300:
                return
            if attempt < attempts:
                await asyncio.sleep(min(MAX_BACKOFF_S, 0.5 * 2 ** (attempt - 1)))

    def _record(
        self,
        endpoint_id: str,
        url: str | None,
        payload: dict[str, Any],
        *,
        error: str | None = None,
        fault: str | None = None,
    ) -> None:
        self._ledger.notifications.append(
            NotificationRecord(
                self._clock.now(), endpoint_id, url, payload, error=error, fault=fault
            )
        )


def _summary(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Log fields that identify a notification without any personal data."""
    return {
        "type": payload.get("type"),
        "status": payload.get("status"),
        "reference": payload.get("thirdPartyReference"),
        "business_location_id": payload.get("businessLocationId"),
    }

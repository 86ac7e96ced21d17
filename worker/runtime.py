"""Builds the process's collaborators from Settings once: Redis, store, K-Series client, engine."""

from __future__ import annotations

from functools import cached_property

import httpx
import redis

from config.settings import Settings
from worker.engine import Engine
from worker.kseries.auth import TokenStore
from worker.kseries.call_log import RecordingTransport
from worker.kseries.client import KSeriesClient, default_timeout, route_of
from worker.kseries.logins import Logins
from worker.kseries.routing import BusinessAuth, default_configured
from worker.lifecycle import Policy
from worker.redis_client import redis_for
from worker.replication import Replication
from worker.status_events import Deliverer, EventOutbox
from worker.store import OrderStore
from worker.web.views import order_view

__all__ = ["Runtime"]


class Runtime:
    """The wiring of one process (API, worker or CLI); tests build their own."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def redis(self) -> redis.Redis:
        return redis_for(self.settings)  # through Sentinel when ORDERFLOW_REDIS_SENTINELS is set

    @cached_property
    def store(self) -> OrderStore:
        # With status events on, every status change queues its event in the same transaction.
        on_status = self.status_events.record if self.settings.events_url else None
        return OrderStore(
            self.redis,
            lease_ms=self.settings.timer_lease_ms,
            on_status=on_status,
            replication=Replication.from_settings(self.settings),
        )

    @cached_property
    def status_events(self) -> EventOutbox:
        """The status events' outbox (readable even while sending is off)."""
        return EventOutbox(self.redis, view=order_view, lease_ms=self.settings.timer_lease_ms)

    @cached_property
    def status_events_deliverer(self) -> Deliverer | None:
        """Sends status events; None unless ORDERFLOW_EVENTS_URL is set."""
        if self.settings.events_url is None:
            return None
        return Deliverer.from_settings(self.settings, outbox=self.status_events, store=self.store)

    @cached_property
    def tokens(self) -> TokenStore:
        """The default K-Series token pair (business unknown: configured, or an older login)."""
        return TokenStore(self.redis)

    @cached_property
    def logins(self) -> Logins:
        """Every business logged in, the locations each covers (the API's 422), their state."""
        return Logins(self.redis, default_configured=default_configured(self.settings))

    @cached_property
    def auth(self) -> BusinessAuth:
        """K-Series bearer auth per business (by location); the sweepers call `keep_alive`."""
        return BusinessAuth(self.settings, self.redis, logins=self.logins)

    @cached_property
    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.settings.kseries_base_url,
            timeout=default_timeout(self.settings.kseries_timeout_s),
            auth=self.auth.default,  # calls about a location: that business's (`client`)
            # Every call made for an order goes to its call log (the ops page's timeline).
            transport=RecordingTransport(
                httpx.HTTPTransport(
                    limits=httpx.Limits(max_connections=50, max_keepalive_connections=20)
                ),
                self.store,
            ),
            event_hooks={"response": [self._count_response]},
        )

    def _count_response(self, response: httpx.Response) -> None:
        label = f"{response.request.method} {route_of(response.request.url.path)} {response.status_code}"
        self.store.count("kseries_calls", label)

    @cached_property
    def client(self) -> KSeriesClient:
        return KSeriesClient(self.http, auth_for=self.auth.for_location)

    @cached_property
    def engine(self) -> Engine:
        return Engine(
            store=self.store,
            client=self.client,
            policy=Policy.from_settings(self.settings),
            endpoint_id=self.settings.endpoint_id,
            readiness_check=self.settings.readiness_check,
            tokens_refused=self.auth.refused_for,
        )

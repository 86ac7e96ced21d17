"""Builds the process's collaborators from Settings once: Redis, store, K-Series client, engine."""

from __future__ import annotations

from functools import cached_property

import httpx
import redis

from config.settings import Settings
from worker.engine import Engine
from worker.kseries.auth import auth_for
from worker.kseries.client import KSeriesClient, default_timeout, route_of
from worker.lifecycle import Policy
from worker.store import OrderStore

__all__ = ["Runtime"]


class Runtime:
    """The wiring of one process (API, worker or CLI); tests build their own."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(
            self.settings.redis_url,
            decode_responses=True,
            socket_timeout=5,
            socket_connect_timeout=3,
            health_check_interval=30,
        )

    @cached_property
    def store(self) -> OrderStore:
        return OrderStore(self.redis, lease_ms=self.settings.timer_lease_ms)

    @cached_property
    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.settings.kseries_base_url,
            timeout=default_timeout(self.settings.kseries_timeout_s),
            auth=auth_for(self.settings, self.redis),
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
            event_hooks={"response": [self._count_response]},
        )

    def _count_response(self, response: httpx.Response) -> None:
        label = f"{response.request.method} {route_of(response.request.url.path)} {response.status_code}"
        self.store.count("kseries_calls", label)

    @cached_property
    def client(self) -> KSeriesClient:
        return KSeriesClient(self.http)

    @cached_property
    def engine(self) -> Engine:
        return Engine(
            store=self.store,
            client=self.client,
            policy=Policy.from_settings(self.settings),
            endpoint_id=self.settings.endpoint_id,
            readiness_check=self.settings.readiness_check,
        )

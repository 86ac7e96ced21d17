"""Every Redis client orderflow makes, from Settings: one address, or the primary Sentinel names.

With ORDERFLOW_REDIS_SENTINELS set, each new connection asks the sentinels where the primary is
now. A connection to a primary that died fails and is retried (jittered backoff) on a new one;
one to a primary that was demoted answers READONLY, is dropped and reconnects the same way. So
after a failover every process (API, workers, sweepers, CLI) writes to the promoted replica
without a restart. The database, username and password still come from ORDERFLOW_REDIS_URL.
"""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.connection import parse_url
from redis.retry import Retry
from redis.sentinel import Sentinel

from config.settings import Settings

__all__ = ["FAILOVER_RETRY", "SENTINEL_TIMEOUT_S", "redis_for"]

# The options of every client: text in and out, bounded waits, idle connections checked.
OPTIONS: dict[str, Any] = {
    "decode_responses": True,
    "socket_timeout": 5,
    "socket_connect_timeout": 3,
    "health_check_interval": 30,
}
# Through Sentinel: a command that lost its connection is sent again on a new one (to whichever
# node the sentinels name then), up to 6 times over at most 7 s (3.5 s on average), so a quick
# failover is ridden through; a longer one surfaces as `StoreUnavailable` (the API answers 503,
# tasks leave the work to its timer).
FAILOVER_RETRY = Retry(ExponentialWithJitterBackoff(cap=2.0, base=0.1), retries=6)
# Asking a sentinel is quick or that sentinel is gone: the next one is asked at once.
SENTINEL_TIMEOUT_S = 1.0
SENTINEL_OPTIONS: dict[str, Any] = {
    "socket_timeout": SENTINEL_TIMEOUT_S,
    "socket_connect_timeout": SENTINEL_TIMEOUT_S,
    "retry": Retry(NoBackoff(), retries=0),
}
# What ORDERFLOW_REDIS_URL contributes through Sentinel (the sentinels give host and port).
FROM_URL = ("db", "username", "password")


def redis_for(settings: Settings) -> redis.Redis:
    """A client of orderflow's Redis: ORDERFLOW_REDIS_URL, or the Sentinel-monitored primary."""
    if not settings.sentinels:
        return redis.Redis.from_url(settings.redis_url, **OPTIONS)
    given = parse_url(settings.redis_url)  # type: ignore[no-untyped-call]
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        settings.sentinels,
        sentinel_kwargs=SENTINEL_OPTIONS,
        **{key: given[key] for key in FROM_URL if key in given},
    )
    client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        settings.redis_sentinel_master, retry=FAILOVER_RETRY, **OPTIONS
    )
    return client

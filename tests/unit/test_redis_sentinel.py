"""Redis through Sentinel, as configured: the settings, every client from one factory, the Celery
broker on kombu's sentinel transport, and the API's answer when no replica confirmed an order
(the real thing: tests/integration/test_sentinel_failover.py, test_replicated_writes.py)."""

from __future__ import annotations

from typing import Any

import fakeredis
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from redis.sentinel import SentinelConnectionPool

from config.celery import celery_config
from config.settings import Settings
from tests.builders import submission_body
from worker.api import create_app
from worker.errors import NotReplicated
from worker.order import Order
from worker.redis_client import FAILOVER_RETRY, redis_for
from worker.runtime import Runtime
from worker.store import OrderStore

SENTINELS = "10.0.0.1:26379, 10.0.0.2:26380,sentinel-3:26381"


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_sentinels_are_read_as_host_port_pairs_and_turn_replica_waits_on() -> None:
    given = settings(redis_sentinels=SENTINELS)
    assert given.sentinels == [("10.0.0.1", 26379), ("10.0.0.2", 26380), ("sentinel-3", 26381)]
    assert given.redis_sentinel_master == "orderflow"
    assert given.wait_replicas == 1
    assert settings().sentinels == []
    assert settings().wait_replicas == 0
    assert settings(redis_sentinels=SENTINELS, redis_wait_replicas=0).wait_replicas == 0
    assert settings(redis_wait_replicas=2).wait_replicas == 2


@pytest.mark.parametrize("bad", ["10.0.0.1", "10.0.0.1:port", ":26379", "a:1,,b:2", "h:70000"])
def test_a_malformed_sentinel_address_stops_the_process_naming_the_variable(bad: str) -> None:
    with pytest.raises(ValidationError, match="ORDERFLOW_REDIS_SENTINELS"):
        settings(redis_sentinels=bad)


@pytest.mark.parametrize("url", ["rediss://redis:6380/0", "unix:///run/redis.sock?db=0"])
def test_sentinel_mode_refuses_a_redis_url_it_could_not_honour(url: str) -> None:
    # TLS or a socket path would be silently dropped for the address Sentinel names.
    with pytest.raises(ValidationError, match="must be redis://"):
        settings(redis_sentinels=SENTINELS, redis_url=url)


def test_without_sentinels_the_client_goes_to_the_configured_address() -> None:
    client = redis_for(settings(redis_url="redis://10.1.1.1:6390/3"))
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("10.1.1.1", 6390, 3)
    assert kwargs["decode_responses"] is True


def test_with_sentinels_the_client_asks_them_for_the_primary_and_retries_through_a_failover() -> (
    None
):
    client = redis_for(
        settings(
            redis_sentinels=SENTINELS,
            redis_sentinel_master="shop",
            redis_url="redis://:s3cret@ignored:1/2",
        )
    )
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "shop"
    assert pool.is_master
    kwargs = pool.connection_kwargs
    # the database and password come from ORDERFLOW_REDIS_URL, the address from the sentinels
    assert (kwargs["db"], kwargs["password"]) == (2, "s3cret")
    assert "host" not in kwargs
    assert kwargs["decode_responses"] is True
    assert (kwargs["socket_timeout"], kwargs["health_check_interval"]) == (5, 30)
    assert kwargs["retry"] == FAILOVER_RETRY
    sentinels = pool.sentinel_manager.sentinels
    addresses = [
        (s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
        for s in sentinels
    ]
    assert addresses == settings(redis_sentinels=SENTINELS).sentinels


def test_every_process_builds_its_redis_client_through_the_factory() -> None:
    runtime = Runtime(settings(redis_sentinels=SENTINELS))
    assert isinstance(runtime.redis.connection_pool, SentinelConnectionPool)
    assert runtime.store._replication.replicas == 1


def test_the_broker_goes_through_the_same_sentinels_keeping_the_queue_order() -> None:
    given = settings(redis_sentinels=SENTINELS, redis_url="redis://:s3cret@ignored:1/2")
    assert given.broker == (
        "sentinel://:s3cret@10.0.0.1:26379/2;sentinel://:s3cret@10.0.0.2:26380/2;"
        "sentinel://:s3cret@sentinel-3:26381/2"
    )
    options = celery_config(given)["broker_transport_options"]
    assert options["master_name"] == "orderflow"
    assert options["queue_order_strategy"] == "priority"
    assert options["visibility_timeout"] == 3600
    # an explicit broker is used as given
    assert settings(redis_sentinels=SENTINELS, broker_url="amqp://r//").broker == "amqp://r//"
    assert "master_name" not in celery_config(settings())["broker_transport_options"]


class _UnconfirmedStore(OrderStore):
    def confirm_replicated(self, order: Order) -> None:
        raise NotReplicated(f"0 of 1 replicas confirmed order {order.key} within 500 ms")


def test_an_order_no_replica_confirmed_is_a_503_with_retry_after_naming_the_cause() -> None:
    store = _UnconfirmedStore(fakeredis.FakeRedis(decode_responses=True))
    app = create_app(
        settings=settings(api_token="t"),
        store=store,
        enqueue=lambda *_: None,
        enqueue_notification=lambda _: None,
    )
    response = TestClient(app, headers={"Authorization": "Bearer t"}).post(
        "/orders", json=submission_body("unconfirmed")
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json() == {
        "detail": "stored, but not yet on a replica; send the same body again"
    }

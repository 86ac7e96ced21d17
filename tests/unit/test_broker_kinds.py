"""The Celery configuration per kind of broker: Redis reads queues in order, RabbitMQ ranks
messages by priority in one queue (the real broker: tests/integration/test_rabbitmq.py)."""

from __future__ import annotations

import pytest

from config.celery import celery_config, is_amqp, send_options
from config.queues import EVENT_QUEUE, NEW_QUEUE, NOTIFICATION_TASK, QUEUE
from config.settings import Settings

AMQP = "amqp://guest:guest@rabbit:5672//"


@pytest.mark.parametrize(
    ("url", "amqp"),
    [
        (AMQP, True),
        ("amqps://u:p@rabbit//", True),
        ("pyamqp://rabbit//", True),
        ("redis://127.0.0.1:6379/0", False),
        ("rediss://redis:6380/0", False),
        ("redis+socket:///tmp/redis.sock?virtual_host=1", False),
        ("sentinel://s1:26379;sentinel://s2:26379", False),
    ],
)
def test_amqp_urls_are_told_from_redis_family_ones(url: str, amqp: bool) -> None:
    assert is_amqp(url) is amqp


def test_on_rabbitmq_every_queue_shares_one_priority_queue_ranked_like_the_worker_reads() -> None:
    config = celery_config(Settings(broker_url=AMQP))
    assert config["task_queue_max_priority"] == 2
    assert config["task_routes"][NOTIFICATION_TASK] == {"queue": QUEUE, "priority": 2}
    assert config["task_routes"]["*"] == {"queue": QUEUE, "priority": 1}
    assert send_options(AMQP, EVENT_QUEUE) == {"queue": QUEUE, "priority": 2}
    assert send_options(AMQP, QUEUE) == {"queue": QUEUE, "priority": 1}
    assert send_options(AMQP, NEW_QUEUE) == {"queue": QUEUE, "priority": 0}
    assert config["broker_transport_options"] == {"confirm_publish": True}


def test_on_redis_the_queues_stay_apart_and_are_read_in_order() -> None:
    config = celery_config(Settings())
    assert "task_queue_max_priority" not in config
    assert config["task_routes"] == {NOTIFICATION_TASK: {"queue": EVENT_QUEUE}}
    assert send_options("redis://x:6379/0", NEW_QUEUE) == {"queue": NEW_QUEUE}
    assert config["broker_transport_options"]["queue_order_strategy"] == "priority"

"""Webhooks, then work under way, then new submissions: on the real broker (redis-server)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from celery import Celery
from kombu import Connection, Consumer, Message, Queue

import worker.celery
from config.celery import celery_config
from config.queues import EVENT_QUEUE, NEW_QUEUE, QUEUE, WORKER_QUEUES
from config.settings import Settings
from tests.redis_urls import broker_url, with_db
from worker.celery import create_app, queue_length, send_advance, send_notification


@pytest.fixture
def broker(redis_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """`worker.celery`'s app on an empty database of the test redis-server."""
    state, url = with_db(redis_server, 7), broker_url(redis_server, 7)
    redis.Redis.from_url(state).flushdb()
    app: Celery = create_app(Settings(redis_url=state, broker_url=url))
    monkeypatch.setattr(worker.celery, "app", app)
    yield url
    app.pool.force_close_all()
    redis.Redis.from_url(state).flushdb()


def test_webhooks_then_work_under_way_then_new_orders_and_no_sweep_task() -> None:
    config = celery_config(Settings())
    assert config["task_routes"] == {"orderflow.apply_notification": {"queue": EVENT_QUEUE}}
    assert config["broker_transport_options"]["queue_order_strategy"] == "priority"
    assert WORKER_QUEUES == (EVENT_QUEUE, QUEUE, NEW_QUEUE)
    # The sweep is a process loop, not a task: nothing but order work in Flower's task list.
    assert "beat_schedule" not in config
    app = create_app(Settings())
    app.loader.import_default_modules()
    assert {name for name in app.tasks if name.startswith("orderflow.")} == {
        "orderflow.advance",
        "orderflow.apply_notification",
        "orderflow.deliver_events",
    }


def _take(broker: str, count: int) -> list[tuple[str, str]]:
    """The next `count` messages a consumer configured like a worker takes: (task, argsrepr)."""
    taken: list[tuple[str, str]] = []

    def on_message(body: object, message: Message) -> None:
        taken.append((message.headers["task"], message.headers["argsrepr"]))
        message.ack()

    options = celery_config(Settings())["broker_transport_options"]
    with Connection(broker, transport_options=options) as conn:
        queues = [Queue(name, routing_key=name) for name in WORKER_QUEUES]
        with Consumer(conn, queues=queues, callbacks=[on_message], accept=["json"]) as consumer:
            consumer.qos(prefetch_count=1)
            while len(taken) < count:
                conn.drain_events(timeout=5)
    return taken


def test_a_burst_of_new_orders_delays_neither_webhooks_nor_work_under_way(broker: str) -> None:
    # Given 20 new orders waiting, then a poll of an order under way, then a webhook
    for i in range(20):
        send_advance(1, f"new-{i}")
    send_advance(2, "under-way", under_way=True)
    send_notification("note-1")
    assert queue_length(NEW_QUEUE) == 20
    assert queue_length(QUEUE) == 1
    assert queue_length(EVENT_QUEUE) == 1

    # When a worker takes the next three messages
    taken = _take(broker, 3)

    # Then the webhook, then the order under way, then the oldest new order, with their
    # order arguments as Flower shows them
    assert taken == [
        ("orderflow.apply_notification", "('note-1',)"),
        ("orderflow.advance", "(2, 'under-way')"),
        ("orderflow.advance", "(1, 'new-0')"),
    ]
    assert queue_length(QUEUE) == 0  # an emptied queue (Redis drops the list) waits for nothing

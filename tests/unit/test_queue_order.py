"""A worker reads recorded webhooks before new submissions, on the real broker (redis-server)."""

from __future__ import annotations

import redis
from kombu import Connection, Consumer, Message, Queue

from config.celery import celery_config
from config.queues import EVENT_QUEUE, QUEUE, TIMER_QUEUE, WORKER_QUEUES
from config.settings import Settings
from worker.celery import create_app


def _app(broker: str) -> object:
    return create_app(Settings(redis_url=broker, broker_url=broker))


def test_webhooks_and_the_sweep_have_their_own_queues_read_first() -> None:
    config = celery_config(Settings())
    assert config["task_routes"]["orderflow.apply_notification"] == {"queue": EVENT_QUEUE}
    assert config["task_routes"]["orderflow.sweep_timers"] == {"queue": TIMER_QUEUE}
    assert config["broker_transport_options"]["queue_order_strategy"] == "priority"
    assert WORKER_QUEUES == (EVENT_QUEUE, TIMER_QUEUE, QUEUE)


def test_a_backlog_of_submissions_does_not_delay_a_webhook(redis_server: str) -> None:
    broker = redis_server.rsplit("/", 1)[0] + "/7"
    redis.Redis.from_url(broker).flushdb()
    app = _app(broker)
    # Given 20 submissions waiting, then two webhooks
    for i in range(20):
        app.send_task("orderflow.advance", args=(1, f"ref-{i}"))  # type: ignore[attr-defined]
    for note in ("note-1", "note-2"):
        app.send_task("orderflow.apply_notification", args=(note,))  # type: ignore[attr-defined]

    # When a consumer configured like a worker takes the next message
    taken: list[str] = []

    def on_message(body: object, message: Message) -> None:
        taken.append(message.headers["task"])
        message.ack()

    options = celery_config(Settings())["broker_transport_options"]
    with Connection(broker, transport_options=options) as conn:
        queues = [Queue(name, routing_key=name) for name in WORKER_QUEUES]
        with Consumer(conn, queues=queues, callbacks=[on_message], accept=["json"]) as consumer:
            consumer.qos(prefetch_count=1)
            while len(taken) < 3:
                conn.drain_events(timeout=5)

    # Then both webhooks come first (round-robin would take a submission second), then a submission
    assert taken == [
        "orderflow.apply_notification",
        "orderflow.apply_notification",
        "orderflow.advance",
    ]

"""The Celery tasks, run in this thread as a thread-pool worker runs them (issue 9, items 7, 16)."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import fakeredis
import httpx
import pytest
import structlog
from structlog.testing import capture_logs

import tasks.orders
from tests.builders import BL, T0, new_order, policy
from worker import constants as k
from worker.engine import Engine
from worker.kseries.client import KSeriesClient
from worker.order import HistoryEntry, Order, Status
from worker.parking import MAX_FAILURES
from worker.store import OrderStore


@pytest.fixture
def store() -> OrderStore:
    return OrderStore(fakeredis.FakeRedis(decode_responses=True))


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """`wire(store, engine)`: the tasks' runtime for this test."""

    def set_runtime(store: OrderStore, engine: Any) -> None:
        monkeypatch.setattr(tasks.orders, "_runtime", SimpleNamespace(store=store, engine=engine))

    yield set_runtime
    structlog.contextvars.clear_contextvars()


def _engine(store: OrderStore) -> Engine:
    never = httpx.MockTransport(lambda request: httpx.Response(500))
    client = KSeriesClient(httpx.Client(base_url="https://k.example", transport=never))
    return Engine(store=store, client=client, policy=policy(), clock=lambda: T0)


def _completed(order: Order) -> Order:
    entry = HistoryEntry(at=T0, status=Status.COMPLETED, event="test")
    return order.model_copy(
        update={"status": Status.COMPLETED, "wake_at": None, "history": (*order.history, entry)}
    )


def test_a_tasks_log_lines_carry_no_key_of_the_task_before_it_on_the_thread(
    store: OrderStore, wire: Any
) -> None:
    wire(store, _engine(store))
    store.create(new_order("first-order"), T0)
    store.transition(BL, "first-order", _completed)
    matched = store.record_notification(
        {"type": "ORDER", "thirdPartyReference": "first-order", "status": "SUCCESS"}, T0
    )
    unmatched = store.record_notification(
        {"type": "ORDER", "thirdPartyReference": "nobody-s-order", "status": "SUCCESS"}, T0
    )

    # Given a task that applied a notification to one order on this thread
    tasks.orders.apply_notification(matched)

    # When the next task on the same thread logs
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as lines:
        tasks.orders.apply_notification(unmatched)

    # Then its lines carry its own keys and none of the first task's
    assert lines, "the second task logged nothing"
    for line in lines:
        assert line["notification_id"] == unmatched
        assert "business_location_id" not in line
        assert "reference" not in line
    assert structlog.contextvars.get_contextvars() == {}


class Exploding:
    """An engine that raises, as a bug or an unreadable item would; its message holds data
    that must not reach the history or a log."""

    def advance(self, bl: int, ref: str) -> None:
        raise ValueError("customer jane@example.com has a bad field")

    def apply_notification(self, note_id: str) -> None:
        raise ValueError("customer jane@example.com has a bad field")


def test_an_order_its_task_keeps_failing_on_is_parked_after_a_few_tries(
    store: OrderStore, wire: Any
) -> None:
    wire(store, Exploding())
    store.create(new_order(), T0)

    with capture_logs() as lines:
        for _ in range(MAX_FAILURES - 1):
            assert tasks.orders.advance(BL, "shop-1") is None
        before = store.get(BL, "shop-1")
        tasks.orders.advance(BL, "shop-1")

    assert before is not None and before.status is Status.QUEUED  # tried again meanwhile
    parked = store.get(BL, "shop-1")
    assert parked is not None
    assert parked.status is Status.NEEDS_ATTENTION
    assert parked.history[-1].event == "task.parked"
    assert parked.failure_reason is not None
    assert parked.failure_reason.startswith(f"stopped after {MAX_FAILURES} unexpected errors")
    assert "ValueError at test_tasks.py:" in parked.failure_reason
    assert store.pending_timers() == 0
    assert store.keys_with_status(Status.NEEDS_ATTENTION) == [(BL, "shop-1")]
    assert "jane@example.com" not in repr(lines) + repr(parked.history)


@pytest.mark.parametrize(
    "unreadable",
    [
        '{"status": "queued", "amount": 1e27}',  # plain JSON, as records were once written
        "z1:bm90IGRlZmxhdGU=",  # the current prefix, but no deflate stream behind it
        "z1:***",  # not base64
        "z9:eJzLSM3JyVcozy/KSQEAGgQEXQ==",  # a prefix no version of orderflow wrote
    ],
)
def test_an_order_whose_record_no_longer_reads_is_set_aside_not_retried_for_a_month(
    store: OrderStore, wire: Any, unreadable: str
) -> None:
    wire(store, _engine(store))
    store.create(new_order(), T0)
    key = k.ORDER_KEY.format(bl=BL, ref="shop-1")
    store._r.set(key, unreadable, keepttl=True)

    for _ in range(MAX_FAILURES):
        tasks.orders.advance(BL, "shop-1")

    assert store.pending_timers() == 0
    assert store.keys_with_status(Status.NEEDS_ATTENTION) == [(BL, "shop-1")]
    assert store.keys_with_status(Status.QUEUED) == []


def test_a_notification_its_task_keeps_failing_on_is_parked_with_the_reason(
    store: OrderStore, wire: Any
) -> None:
    wire(store, Exploding())
    note_id = store.record_notification(
        {"type": "ORDER", "thirdPartyReference": "shop-1", "status": "SUCCESS"}, T0
    )

    for _ in range(MAX_FAILURES):
        tasks.orders.apply_notification(note_id)

    (parked,) = store.unmatched()
    assert parked["reason"].startswith(f"stopped after {MAX_FAILURES} unexpected errors")
    assert "jane" not in parked["reason"]
    assert store.pending_timers() == 0

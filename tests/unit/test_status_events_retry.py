"""Status events that fail: backoff, giving up after the window, redelivery, one deliverer."""

from __future__ import annotations

import threading
from datetime import timedelta

import httpx
import pytest
from click.testing import CliRunner

from tests.builders import BL
from tests.status_events_kit import Kit
from worker import events_cli
from worker.cli import main
from worker.order import Status
from worker.status_events import DeliveryState, RetryPolicy


def test_failures_retry_after_one_second_doubling_up_to_five_minutes() -> None:
    kit = Kit()
    kit.receiver.answer = lambda _: httpx.Response(503)
    kit.create()
    delays = []
    for _ in range(11):
        kit.deliverer.deliver(BL, "shop-1")
        due = kit.timer()
        assert due is not None
        delays.append((due - kit.ms()) / 1000)
        kit.clock.advance(delays[-1])
    assert delays == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    (delivery,) = kit.outbox.events(BL, "shop-1").deliveries
    assert delivery.attempts == 11 and delivery.error == "HTTP 503"
    assert kit.store.counters("status_events") == {"retried": 11}


def test_the_backoff_is_jittered_into_the_upper_half() -> None:
    low = RetryPolicy(rand=lambda: 0.0)
    high = RetryPolicy(rand=lambda: 1.0)
    assert low.delay(1) == timedelta(seconds=0.5) and high.delay(1) == timedelta(seconds=1)
    assert low.delay(20) == timedelta(minutes=2.5) and high.delay(20) == timedelta(minutes=5)


def test_an_event_not_due_yet_is_not_sent() -> None:
    kit = Kit()
    kit.receiver.answer = lambda _: httpx.Response(503)
    kit.create()
    kit.deliverer.deliver(BL, "shop-1")
    assert kit.deliverer.deliver(BL, "shop-1") == "waiting"  # a duplicate task, 1 s too early
    assert len(kit.receiver.requests) == 1


@pytest.mark.parametrize(
    ("error", "recorded"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), "could not connect"),
        (httpx.ReadTimeout("timed out"), "timed out"),
        (httpx.RemoteProtocolError("Server disconnected"), "RemoteProtocolError"),
    ],
)
def test_a_refused_connection_or_a_timeout_is_a_failure_retried_later(
    error: httpx.HTTPError, recorded: str
) -> None:
    kit = Kit()

    def fail(_: httpx.Request) -> httpx.Response:
        raise error

    kit.receiver.answer = fail
    kit.create()
    assert kit.deliverer.deliver(BL, "shop-1") == "waiting"
    (delivery,) = kit.outbox.events(BL, "shop-1").deliveries
    assert delivery.error == recorded and delivery.state is DeliveryState.PENDING


def test_a_redirect_is_not_followed_and_counts_as_a_failure() -> None:
    kit = Kit()
    kit.receiver.answer = lambda _: httpx.Response(302, headers={"location": "https://elsewhere"})
    kit.create()
    kit.deliverer.deliver(BL, "shop-1")
    assert len(kit.receiver.requests) == 1
    assert kit.outbox.events(BL, "shop-1").deliveries[0].error == "HTTP 302"


def test_after_the_retry_window_an_event_is_kept_undelivered_and_the_next_one_goes() -> None:
    kit = Kit(window=timedelta(minutes=10))
    kit.receiver.answer = lambda r: httpx.Response(
        503 if b'"type":"order.queued"' in r.content else 200
    )
    kit.create()
    kit.move("shop-1", Status.SUBMITTED)
    # Given the first event failing for its whole window
    while (
        kit.clock.now.timestamp() * 1000
        < kit.outbox.events(BL, "shop-1").deliveries[0].since_ms + 600_000
    ):
        kit.deliverer.deliver(BL, "shop-1")
        kit.clock.advance((kit.timer() or kit.ms()) / 1000 - kit.clock.now.timestamp())
    # When it fails once more, past the window
    assert kit.deliverer.deliver(BL, "shop-1") == "done"
    # Then it is kept as undelivered, and the next event of the order went out after it
    first, second = kit.outbox.events(BL, "shop-1").deliveries
    assert first.state is DeliveryState.UNDELIVERED and first.error == "HTTP 503"
    assert first.payload is not None  # kept for `orderflow events redeliver`
    assert second.state is DeliveryState.DELIVERED and second.payload is None
    assert kit.receiver.types[-1] == "order.submitted"
    assert kit.store.counters("status_events")["undelivered"] == 1
    assert [d.id for _, d in kit.outbox.undelivered()] == [first.id]


def test_redelivery_sends_an_undelivered_event_again_with_a_fresh_window() -> None:
    kit = Kit(window=timedelta(seconds=1))
    kit.receiver.answer = lambda _: httpx.Response(503)
    kit.create()
    kit.clock.advance(2)
    kit.deliverer.deliver(BL, "shop-1")  # one attempt, past its window: given up
    (given_up,) = kit.outbox.events(BL, "shop-1").deliveries
    assert given_up.state is DeliveryState.UNDELIVERED and kit.timer() is None

    # When an operator redelivers it and the receiver is back
    assert kit.outbox.redeliver(given_up.id, kit.ms())
    assert kit.timer() == kit.ms()
    kit.receiver.answer = lambda _: httpx.Response(200)
    kit.deliverer.deliver(BL, "shop-1")

    # Then it is delivered under the same id, and no longer listed as undelivered
    (delivered,) = kit.outbox.events(BL, "shop-1").deliveries
    assert delivered.state is DeliveryState.DELIVERED
    assert [r.headers["webhook-id"] for r in kit.receiver.requests] == [given_up.id] * 2
    assert kit.outbox.undelivered() == []
    assert not kit.outbox.redeliver(given_up.id, kit.ms())  # nothing left to redeliver


def test_a_second_deliverer_for_the_same_order_stands_aside() -> None:
    kit = Kit()
    kit.create()
    token = kit.outbox.lock(BL, "shop-1", 10_000)
    assert token is not None
    assert kit.deliverer.deliver(BL, "shop-1") == "locked"
    assert kit.receiver.requests == []
    kit.outbox.unlock(BL, "shop-1", token)
    assert kit.deliverer.deliver(BL, "shop-1") == "done"


def test_deliveries_beyond_the_process_limit_wait_for_the_next_sweep() -> None:
    kit = Kit(concurrency=1)
    kit.create("a")
    kit.create("b")
    inside, release = threading.Event(), threading.Event()

    def slow(_: httpx.Request) -> httpx.Response:
        inside.set()
        release.wait(5)
        return httpx.Response(200)

    kit.receiver.answer = slow
    first = threading.Thread(target=kit.deliverer.deliver, args=(BL, "a"))
    first.start()
    assert inside.wait(5)
    # While the one slot is on a slow receiver, another order's task returns at once, its
    # timer (leased by the sweeper's claim) brought back to a second from now
    kit.redis.zadd("orderflow:timers", {f"e:{BL}:b": kit.ms(5)})
    assert kit.deliverer.deliver(BL, "b") == "busy"
    assert kit.timer("b") == kit.ms(1)
    release.set()
    first.join(5)
    assert kit.deliverer.deliver(BL, "b") == "done"


# --- the command ---------------------------------------------------------------------------


@pytest.fixture
def cli_kit(monkeypatch: pytest.MonkeyPatch) -> Kit:
    kit = Kit(window=timedelta(seconds=1))
    monkeypatch.setattr(events_cli, "_outbox", lambda: kit.outbox)
    return kit


def test_orderflow_events_lists_each_delivery_and_undelivered_only_the_given_up(
    cli_kit: Kit,
) -> None:
    kit = cli_kit
    kit.receiver.answer = lambda r: httpx.Response(
        503 if b'"thirdPartyReference":"down"' in r.content else 200
    )
    kit.create("up")
    kit.create("down")
    kit.clock.advance(2)
    kit.deliverer.deliver(BL, "up")
    kit.deliverer.deliver(BL, "down")

    everything = CliRunner().invoke(main, ["events"])
    assert everything.exit_code == 0, everything.output
    lines = everything.output.splitlines()
    assert lines[0].split("\t") == ["id", "order", "type", "attempts", "state", "last error"]
    rows = sorted(line.split("\t")[1:] for line in lines[1:])
    assert rows == [
        [f"{BL}/down", "order.queued", "1", "undelivered", "HTTP 503"],
        [f"{BL}/up", "order.queued", "1", "delivered", ""],
    ]
    undelivered = CliRunner().invoke(main, ["events", "--undelivered"])
    assert [line.split("\t")[1] for line in undelivered.output.splitlines()[1:]] == [f"{BL}/down"]


def test_orderflow_events_redeliver_requeues_one_or_all_and_refuses_an_unknown_id(
    cli_kit: Kit,
) -> None:
    kit = cli_kit
    kit.receiver.answer = lambda _: httpx.Response(503)
    for ref in ("a", "b"):
        kit.create(ref)
    kit.clock.advance(2)
    for ref in ("a", "b"):
        kit.deliverer.deliver(BL, ref)
    first = kit.outbox.events(BL, "a").deliveries[0].id

    one = CliRunner().invoke(main, ["events", "redeliver", first])
    assert one.exit_code == 0 and "re-queued 1 event(s)" in one.output
    assert kit.outbox.events(BL, "a").deliveries[0].state is DeliveryState.PENDING
    assert kit.timer("a") is not None and kit.timer("b") is None

    rest = CliRunner().invoke(main, ["events", "redeliver", "--all"])
    assert "re-queued 1 event(s)" in rest.output
    assert kit.timer("b") is not None

    unknown = CliRunner().invoke(main, ["events", "redeliver", "evt_nope"])
    assert unknown.exit_code == 1 and "no undelivered event evt_nope" in unknown.output
    neither = CliRunner().invoke(main, ["events", "redeliver"])
    assert neither.exit_code == 2 and "one event ID or --all" in neither.output
    both = CliRunner().invoke(main, ["events", "redeliver", first, "--all"])
    assert both.exit_code == 2 and "one event ID or --all" in both.output

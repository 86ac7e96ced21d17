"""Status events: recorded with the transition, signed per Standard Webhooks, sent in order."""

from __future__ import annotations

import json

import httpx
import pytest
from prometheus_client import generate_latest
from pydantic import ValidationError
from standardwebhooks import Webhook, WebhookVerificationError

from config.settings import Settings
from tests.builders import BL, new_order
from tests.status_events_kit import SECRET, URL, Kit
from worker.order import Status
from worker.status_events import DeliveryState, EventOutbox, OrderEvents, event_id
from worker.store import OrderStore
from worker.web.metrics import build_registry
from worker.web.views import order_view


def test_every_status_an_order_enters_is_recorded_as_one_event_with_the_view_of_that_moment() -> (
    None
):
    kit = Kit()
    # Given an order created, then moved through three statuses
    created = kit.create()
    submitted = kit.move("shop-1", Status.SUBMITTED)
    kit.note("shop-1")  # a write that changes no status
    confirmed = kit.move("shop-1", Status.CONFIRMED)

    # Then one event per status entered, oldest first, each carrying the view of its record
    deliveries = kit.outbox.events(BL, "shop-1").deliveries
    assert [d.type for d in deliveries] == ["order.queued", "order.submitted", "order.confirmed"]
    assert [d.payload["data"] for d in deliveries if d.payload] == [
        order_view(created),
        order_view(submitted),
        order_view(confirmed),
    ]
    assert deliveries[1].timestamp == submitted.history[-1].at.isoformat()
    assert all(d.state is DeliveryState.PENDING for d in deliveries)


def test_a_write_passing_through_a_status_records_it_too() -> None:
    kit = Kit()
    kit.create()
    kit.move("shop-1", Status.SUBMITTED, Status.CONFIRMED)
    types = [d.type for d in kit.outbox.events(BL, "shop-1").deliveries]
    assert types == ["order.queued", "order.submitted", "order.confirmed"]


def test_the_delivery_timer_is_set_in_the_same_transaction_and_an_existing_one_is_kept() -> None:
    kit = Kit()
    kit.create()
    # Then the order's delivery timer is due at the status change
    assert kit.timer() == kit.ms()
    # When it is pushed out (a retry's backoff) and the status changes again
    kit.redis.zadd("orderflow:timers", {f"e:{BL}:shop-1": kit.ms(60)})
    kit.clock.advance(1)
    kit.move("shop-1", Status.SUBMITTED)
    # Then the timer stays where it was: the new event waits behind the one backing off
    assert kit.timer() == kit.ms(59)


def test_a_failed_transition_records_no_event() -> None:
    kit = Kit()
    kit.create()

    def boom(_: object) -> object:
        raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        kit.store.transition(BL, "shop-1", boom)  # type: ignore[arg-type]
    assert len(kit.outbox.events(BL, "shop-1").deliveries) == 1


def test_an_event_that_cannot_be_built_never_stops_the_orders_own_write() -> None:
    kit = Kit()

    def broken_view(_: object) -> dict[str, object]:
        raise ValueError("a bug in the view")

    outbox = EventOutbox(kit.redis, view=broken_view)
    store = OrderStore(kit.redis, lease_ms=5_000, on_status=outbox.record)
    created, is_new = store.create(new_order("odd"), kit.clock.now)
    assert is_new and store.get(BL, "odd") == created
    assert outbox.events(BL, "odd").deliveries == ()


def test_without_events_configured_the_store_records_nothing() -> None:
    kit = Kit()
    plain = OrderStore(kit.redis, lease_ms=5_000)
    plain.create(new_order("quiet"), kit.clock.now)
    assert kit.outbox.events(BL, "quiet").deliveries == ()
    assert kit.timer("quiet") is None


def test_a_delivered_event_verifies_with_standardwebhooks_as_a_receiver_would() -> None:
    kit = Kit()
    kit.create()
    assert kit.deliverer.deliver(BL, "shop-1") == "done"

    (request,) = kit.receiver.requests
    assert request.method == "POST"
    assert str(request.url) == URL
    assert request.headers["content-type"] == "application/json"
    # The receiver's side: the library checks id, timestamp (within 5 minutes) and signature
    payload = Webhook(SECRET).verify(request.content, dict(request.headers))
    assert payload["type"] == "order.queued"
    assert payload["data"]["thirdPartyReference"] == "shop-1"
    assert payload["data"]["status"] == "queued"
    assert request.headers["webhook-id"] == kit.outbox.events(BL, "shop-1").deliveries[0].id
    assert request.headers["webhook-signature"].startswith("v1,")
    # No customer data leaves: the builder's customer is Jane, jane@example.com
    assert b"Jane" not in request.content and b"jane@example.com" not in request.content


def test_a_tampered_body_or_another_secret_fails_verification() -> None:
    kit = Kit()
    kit.create()
    kit.deliverer.deliver(BL, "shop-1")
    (request,) = kit.receiver.requests
    headers = dict(request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(request.content.replace(b"queued", b"failed"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB").verify(request.content, headers)


def test_the_webhook_id_is_the_same_on_every_attempt_and_differs_per_status_change() -> None:
    kit = Kit()
    answers = iter([httpx.Response(503), httpx.Response(200), httpx.Response(200)])
    kit.receiver.answer = lambda _: next(answers)
    kit.create()
    kit.deliverer.deliver(BL, "shop-1")  # 503
    kit.clock.advance(1)
    kit.deliverer.deliver(BL, "shop-1")  # 200
    kit.move("shop-1", Status.SUBMITTED)
    kit.deliverer.deliver(BL, "shop-1")

    ids = [r.headers["webhook-id"] for r in kit.receiver.requests]
    assert ids[0] == ids[1] != ids[2]
    assert kit.receiver.requests[0].content == kit.receiver.requests[1].content
    assert ids[0] == event_id(BL, "shop-1", "queued", 0)


def test_a_status_revisited_by_an_operator_replay_gets_a_new_id() -> None:
    kit = Kit()
    kit.create()
    kit.move("shop-1", Status.CONFIRMED)
    kit.move("shop-1", Status.NEEDS_ATTENTION)
    kit.move("shop-1", Status.CONFIRMED)  # as `orderflow replay` reopens a needs_attention order
    deliveries = kit.outbox.events(BL, "shop-1").deliveries
    confirmed = [d.id for d in deliveries if d.type == "order.confirmed"]
    assert len(confirmed) == 2 and confirmed[0] != confirmed[1]


def test_one_orders_events_go_out_in_order_and_wait_behind_a_failing_one() -> None:
    kit = Kit()
    kit.receiver.answer = lambda r: httpx.Response(
        503 if json.loads(r.content)["type"] == "order.queued" else 200
    )
    kit.create()
    kit.move("shop-1", Status.SUBMITTED)
    kit.move("shop-1", Status.CONFIRMED)

    # When the first event fails
    assert kit.deliverer.deliver(BL, "shop-1") == "waiting"
    # Then nothing after it was sent, and the timer is at the retry
    assert kit.receiver.types == ["order.queued"]
    assert kit.timer() == kit.ms(1)

    # When the receiver takes it at the retry, everything follows in order
    kit.receiver.answer = lambda _: httpx.Response(200)
    kit.clock.advance(1)
    assert kit.deliverer.deliver(BL, "shop-1") == "done"
    assert kit.receiver.types == [
        "order.queued",
        "order.queued",
        "order.submitted",
        "order.confirmed",
    ]
    assert kit.timer() is None
    states = {d.state for d in kit.outbox.events(BL, "shop-1").deliveries}
    assert states == {DeliveryState.DELIVERED}


def test_an_order_whose_events_fail_does_not_hold_another_order() -> None:
    kit = Kit()
    kit.receiver.answer = lambda r: httpx.Response(
        500 if b'"thirdPartyReference":"slow"' in r.content else 200
    )
    kit.create("slow")
    kit.create("fine")
    kit.deliverer.deliver(BL, "slow")
    kit.deliverer.deliver(BL, "fine")
    assert kit.receiver.orders() == ["slow", "fine"]
    assert kit.outbox.events(BL, "fine").deliveries[0].state is DeliveryState.DELIVERED
    assert kit.outbox.events(BL, "slow").deliveries[0].state is DeliveryState.PENDING


def test_an_event_recorded_while_its_predecessor_is_on_the_wire_goes_out_in_the_same_run() -> None:
    kit = Kit()
    kit.create()
    moved = []

    def answer(_: httpx.Request) -> httpx.Response:
        if not moved:  # the order moves on while its previous event is being delivered
            moved.append(kit.move("shop-1", Status.SUBMITTED))
        return httpx.Response(200)

    kit.receiver.answer = answer
    assert kit.deliverer.deliver(BL, "shop-1") == "done"
    assert kit.receiver.types == ["order.queued", "order.submitted"]
    assert kit.timer() is None


def test_an_event_recorded_just_as_a_run_ends_is_not_left_without_a_timer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kit = Kit()
    kit.create()
    original = OrderEvents.head
    calls = []

    def head(self: OrderEvents) -> object:
        calls.append(1)
        if len(calls) == 3:
            # The run found nothing more to send (call 2) and is putting its timer away (call
            # 3): the order moves on right now, between that read and the timer's removal.
            kit.move("shop-1", Status.SUBMITTED)
        return original(self)

    monkeypatch.setattr(OrderEvents, "head", head)
    kit.deliverer.deliver(BL, "shop-1")
    assert kit.receiver.types == ["order.queued"]
    assert kit.timer() == kit.ms()  # the new event is due, not forgotten


def test_the_metrics_count_delivered_and_retried() -> None:
    kit = Kit()
    answers = iter([httpx.Response(503), httpx.Response(204)])
    kit.receiver.answer = lambda _: next(answers)
    kit.create()
    kit.deliverer.deliver(BL, "shop-1")
    kit.clock.advance(1)
    kit.deliverer.deliver(BL, "shop-1")
    assert kit.store.counters("status_events") == {"retried": 1, "delivered": 1}


@pytest.mark.parametrize(
    ("secret", "ok"),
    [
        (None, False),
        ("not-prefixed", False),
        ("whsec_not base64!", False),
        ("whsec_", False),
        (SECRET, True),
    ],
)
def test_an_events_url_needs_a_whsec_secret(secret: str | None, ok: bool) -> None:
    values = {"events_url": URL} | ({"events_secret": secret} if secret is not None else {})
    if ok:
        assert Settings(**values).events_url == URL  # type: ignore[arg-type]
    else:
        with pytest.raises(ValidationError, match="ORDERFLOW_EVENTS_SECRET"):
            Settings(**values)  # type: ignore[arg-type]


def test_the_api_exports_the_counts_as_orderflow_status_events_total() -> None:
    kit = Kit()
    for outcome, amount in (("delivered", 3), ("retried", 2), ("undelivered", 1)):
        kit.store.count("status_events", outcome, amount)
    registry, _ = build_registry(kit.store)
    registry.refresh()  # type: ignore[attr-defined]
    text = generate_latest(registry).decode()
    assert 'orderflow_status_events_total{outcome="delivered"} 3.0' in text
    assert 'orderflow_status_events_total{outcome="retried"} 2.0' in text
    assert 'orderflow_status_events_total{outcome="undelivered"} 1.0' in text

"""The engine against fakeredis and a scripted K-Series (httpx.MockTransport): faults injected."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import fakeredis
import httpx
import pytest

from tests.builders import BL, T0, new_order, policy
from tests.kseries_fake import SALE, Clock
from worker.engine import Engine
from worker.kseries.client import KSeriesClient
from worker.order import Order, PaymentStatus, Status
from worker.store import OrderStore

OK = {"status": "ok"}
Handler = Callable[[httpx.Request], httpx.Response]


class Script:
    """Answers per path, in order; the last answer repeats. Records every request."""

    def __init__(self, **answers: list[Any]) -> None:
        self.answers = answers
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        key = next(k for k in self.answers if k.replace("_", "/") in path)
        queue = self.answers[key]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        status, body, *headers = answer
        return httpx.Response(status, json=body, headers=headers[0] if headers else None)

    def count(self, fragment: str) -> int:
        return sum(1 for r in self.requests if fragment in r.url.path)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def engine(script: Script, clock: Clock) -> Engine:
    http = httpx.Client(base_url="https://k.example", transport=httpx.MockTransport(script))
    store = OrderStore(fakeredis.FakeRedis(decode_responses=True))
    return Engine(store=store, client=KSeriesClient(http), policy=policy(), clock=clock)


def queued(e: Engine, ref: str = "shop-1", **kwargs: Any) -> Order:
    order, _ = e.store.create(new_order(ref, **kwargs), T0)
    return order


def run_until_settled(e: Engine, clock: Clock, ref: str = "shop-1", limit: int = 60) -> Order:
    """Advance whenever the order's timer is due, as the sweeper would."""
    order = e.advance(BL, ref)
    for _ in range(limit):
        assert order is not None
        if order.status.terminal:
            return order
        if order.wake_at is not None and order.wake_at > clock.now:
            clock.now = order.wake_at
        order = e.advance(BL, ref)
    raise AssertionError(f"did not settle: {order}")


def test_server_errors_and_timeouts_are_retried_then_the_order_goes_through(clock: Clock) -> None:
    script = Script(
        order_local=[(503, {}), httpx.ReadTimeout("slow"), (502, {}), (200, OK)],
        saleByExternalReference=[(200, SALE)],
        pay=[(200, OK)],
        accounts=[
            (
                200,
                {
                    "ikaccountId": "A1.1",
                    "currentAmount": "18.15",
                    "paidAmount": "18.15",
                    "paymentEntries": [{"externalReference": "pay-1"}],
                },
            )
        ],
    )
    e = engine(script, clock)
    queued(e)
    order = run_until_settled(e, clock)
    assert order.status is Status.COMPLETED
    assert script.count("/order/local") == 4
    assert script.count("/pay") == 1
    assert [h.event for h in order.history].count("retry") == 3


def test_a_lost_answer_on_the_order_is_a_409_on_the_retry_and_the_order_is_submitted_once(
    clock: Clock,
) -> None:
    script = Script(
        order_local=[
            httpx.RemoteProtocolError("reset"),
            (409, {"status": "fail", "msg": "reference has already been used shop-1"}),
        ],
        saleByExternalReference=[(404, {})],
    )
    e = engine(script, clock)
    queued(e)
    e.advance(BL, "shop-1")
    clock.tick(5)
    order = e.advance(BL, "shop-1")
    assert order is not None
    assert order.status is Status.SUBMITTED
    assert "409" in order.history[-1].detail or "409" in order.history[-2].detail


def test_a_lost_payment_answer_is_retried_under_the_same_reference(clock: Clock) -> None:
    script = Script(
        order_local=[(200, OK)],
        saleByExternalReference=[(200, SALE)],
        pay=[(502, {}), (400, {"status": 400, "message": "reference has already been used pay-1"})],
        accounts=[
            (
                200,
                {
                    "ikaccountId": "A1.1",
                    "currentAmount": "18.15",
                    "paidAmount": "18.15",
                    "paymentEntries": [{"externalReference": "pay-1"}],
                },
            )
        ],
    )
    e = engine(script, clock)
    queued(e)
    order = run_until_settled(e, clock)
    pays = [r for r in script.requests if r.url.path.endswith("/pay")]
    assert len(pays) == 2
    assert {r.content for r in pays} == {pays[0].content}  # same reference, same body
    assert order.status is Status.COMPLETED
    assert [p.reference for p in order.payments] == ["pay-1"]


def test_a_400_fails_the_order_naming_the_fields(clock: Clock) -> None:
    body = {"errors": [{"field": "customerInfo.firstName", "defaultMessage": "must not be null"}]}
    script = Script(order_local=[(400, body)])
    e = engine(script, clock)
    queued(e)
    order = e.advance(BL, "shop-1")
    assert order is not None
    assert order.status is Status.FAILED
    assert order.failure_reason == "rejected by K-Series: customerInfo.firstName: must not be null"


def test_k_series_unreachable_until_the_submit_deadline_fails_the_order(clock: Clock) -> None:
    script = Script(
        order_local=[httpx.ConnectError("refused")], saleByExternalReference=[(404, {})]
    )
    e = engine(script, clock)
    queued(e)
    order = run_until_settled(e, clock)
    assert order.status is Status.FAILED
    assert order.failure_reason is not None
    assert order.failure_reason.startswith("K-Series unreachable: submit:")
    assert clock.now >= order.submit_deadline


def test_a_429_holds_that_location_only_for_its_retry_after(clock: Clock) -> None:
    script = Script(order_local=[(429, {}, {"Retry-After": "30"}), (200, OK)])
    e = engine(script, clock)
    queued(e, "a1")
    e.advance(BL, "a1")
    assert script.count("/order/local") == 1
    # another order at the same location waits without calling K-Series
    queued(e, "a2")
    held = e.advance(BL, "a2")
    assert held is not None
    assert held.status is Status.QUEUED
    assert held.wake_at is not None and held.wake_at >= clock.now + timedelta(seconds=29)
    assert script.count("/order/local") == 1
    # an order at another location is not slowed
    other = new_order("b1").model_copy(update={"business_location_id": BL + 1})
    e.store.create(other, T0)
    assert e.advance(BL + 1, "b1").status is Status.SUBMITTED  # type: ignore[union-attr]


def test_a_duplicate_webhook_does_not_pay_twice(clock: Clock) -> None:
    # the sale lookup is K-Series' own word on which check is ours (a webhook alone is not)
    script = Script(order_local=[(200, OK)], saleByExternalReference=[(200, SALE)], pay=[(200, OK)])
    e = engine(script, clock)
    queued(e)
    e.advance(BL, "shop-1")
    note = {
        "type": "ORDER",
        "status": "SUCCESS",
        "thirdPartyReference": "shop-1",
        "businessLocationId": BL,
        "ikentooAccountIdentifier": "A1.1",
        "account": {"ikaccountId": "A1.1", "currentAmount": "18.15", "paidAmount": "16.50"},
    }
    for _ in range(3):
        e.apply_notification(e.store.record_notification(note, clock.now))
    order = e.store.get(BL, "shop-1")
    assert order is not None
    assert order.status is Status.SETTLING
    assert len(order.payments) == 1
    assert script.count("/pay") == 1
    assert order.current_payment.status is PaymentStatus.SENT  # type: ignore[union-attr]


def test_a_notification_for_an_unknown_reference_is_kept_for_inspection(clock: Clock) -> None:
    e = engine(Script(order_local=[(200, OK)]), clock)
    note = {
        "type": "ORDER",
        "status": "SUCCESS",
        "thirdPartyReference": "who",
        "businessLocationId": BL,
    }
    assert e.apply_notification(e.store.record_notification(note, clock.now)) is None
    assert [d["payload"]["thirdPartyReference"] for d in e.store.unmatched()] == ["who"]
    assert e.store.pending_timers() == 0


def test_a_notification_without_business_location_is_routed_by_its_reference(clock: Clock) -> None:
    e = engine(Script(order_local=[(200, OK)]), clock)
    queued(e)
    e.advance(BL, "shop-1")
    note = {
        "type": "ORDER",
        "status": "FAILURE",
        "thirdPartyReference": "shop-1",
        "reason": "No devices available",
    }
    order = e.apply_notification(e.store.record_notification(note, clock.now))
    assert order is not None
    assert order.status is Status.FAILED
    assert order.failure_reason == "No devices available"


def test_a_payment_notification_is_routed_by_the_payment_reference(clock: Clock) -> None:
    script = Script(order_local=[(200, OK)], saleByExternalReference=[(200, SALE)], pay=[(200, OK)])
    e = engine(script, clock)
    queued(e)
    clock.tick(1)
    e.advance(BL, "shop-1")
    clock.tick(5)
    order = e.advance(BL, "shop-1")
    assert order is not None and order.status is Status.SETTLING
    note = {
        "type": "PAYMENT",
        "status": "SUCCESS",
        "thirdPartyReference": "pay-1",
        "businessLocationId": BL,
    }
    done = e.apply_notification(e.store.record_notification(note, clock.now))
    assert done is not None
    assert done.status is Status.COMPLETED


def test_a_location_that_is_not_ready_holds_the_order_with_the_reason_in_its_history(
    clock: Clock,
) -> None:
    not_ready = {
        "status": "NOT_READY",
        "posStatus": {"salesPeriod": "CLOSED", "acceptingOnlineOrders": False},
    }
    script = Script(
        onlineOrderReadiness=[(200, not_ready)],
        order_local=[(200, OK)],
        saleByExternalReference=[(404, {})],
    )
    e = engine(script, clock)
    e.readiness_check = True
    queued(e)
    order = e.advance(BL, "shop-1")
    assert order is not None
    assert order.status is Status.QUEUED
    assert order.history[-1].detail == (
        "readiness: location not ready for online orders (sales period CLOSED, online orders disabled on the POS)"
    )
    assert script.count("/order/local") == 0
    order = run_until_settled(e, clock)
    assert order.status is Status.FAILED
    assert order.failure_reason is not None
    assert order.failure_reason.startswith("not sent: location not ready for online orders")
    assert script.count("/order/local") == 0


def test_a_location_that_becomes_ready_gets_its_order(clock: Clock) -> None:
    script = Script(
        onlineOrderReadiness=[(200, {"status": "NOT_READY"}), (200, {"status": "READY"})],
        order_local=[(200, OK)],
    )
    e = engine(script, clock)
    e.readiness_check = True
    queued(e)
    e.advance(BL, "shop-1")
    clock.tick(5)
    order = e.advance(BL, "shop-1")
    assert order is not None
    assert order.status is Status.SUBMITTED
    assert script.count("/order/local") == 1


def test_advancing_an_ended_order_drops_any_stray_timer(clock: Clock) -> None:
    e = engine(Script(order_local=[(400, {"errors": []})]), clock)
    queued(e)
    e.advance(BL, "shop-1")
    e.store._r.zadd("orderflow:timers", {f"o:{BL}:shop-1": 0})  # a stray entry, however it came
    order = e.advance(BL, "shop-1")
    assert order is not None and order.status is Status.FAILED
    assert e.store.pending_timers() == 0

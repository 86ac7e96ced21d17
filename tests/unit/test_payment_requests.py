"""What K-Series receives for `POST /o/op/1/pay`, byte for byte, and which reference it carries.

The body is read off the wire (httpx.MockTransport) after the real engine built and sent it: the
remainder (never `maxAmount`), under the stored `pay-...` reference (never the order's), the
same body on every retry, and a fresh reference whenever the generator repeats a used one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import fakeredis
import httpx

from tests.builders import BL, T0, new_order
from worker.engine import Engine
from worker.events import (
    CheckRead,
    PaymentAccepted,
    PaymentNews,
    SaleFound,
    Snapshot,
    SubmitAccepted,
)
from worker.kseries.client import KSeriesClient
from worker.lifecycle import Policy, apply
from worker.order import Order, PaymentStatus, Status
from worker.store import OrderStore

OK = {"status": "ok"}
# The check: 18.15 on it, 16.50 paid upfront, so 1.65 remains; the producer allows up to 5.00.
SALE = {
    "accountFiscId": "A1.1",
    "salesLines": [{"totalNetAmountWithTax": "18.15"}],
    "payments": [{"netAmountWithTax": "16.50"}],
}
PAID = {
    "ikaccountId": "A1.1",
    "currentAmount": "18.15",
    "paidAmount": "18.15",
    "paymentEntries": [],
}


class KSeries:
    """Answers by path (the last answer repeats) and keeps every request it got."""

    def __init__(self, **answers: list[Any]) -> None:
        self.answers = answers
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = next(k for k in self.answers if k.replace("_", "/") in request.url.path)
        queue = self.answers[key]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        return httpx.Response(status, json=body)

    def pay_bodies(self) -> list[dict[str, Any]]:
        return [
            json.loads(r.content, parse_float=Decimal)
            for r in self.requests
            if r.url.path == "/o/op/1/pay"
        ]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Run:
    """One order through the real engine against `kseries`, advanced as the sweeper would."""

    def __init__(self, kseries: KSeries, p: Policy | None = None, **order: Any) -> None:
        self.clock = Clock()
        http = httpx.Client(base_url="https://k.example", transport=httpx.MockTransport(kseries))
        self.engine = Engine(
            store=OrderStore(fakeredis.FakeRedis(decode_responses=True)),
            client=KSeriesClient(http),
            policy=p or Policy(),  # the production reference generator: pay-<uuid4 hex>
            clock=self.clock,
        )
        self.engine.store.create(new_order(paid="16.50", **order), T0)

    def until(self, done: Callable[[Order], bool] = lambda o: o.status.terminal) -> Order:
        current = self.engine.advance(BL, "shop-1")
        for _ in range(40):
            assert current is not None
            if done(current) or current.status.terminal:
                return current
            if current.wake_at is not None and current.wake_at > self.clock.now:
                self.clock.now = current.wake_at
            current = self.engine.advance(BL, "shop-1")
        raise AssertionError(f"did not get there: {current}")

    def notify(self, payload: dict[str, Any]) -> Order | None:
        note = self.engine.store.record_notification(payload, self.clock.now)
        return self.engine.apply_notification(note)


def settle(kseries: KSeries, p: Policy | None = None, **order: Any) -> Order:
    """Submit one order and advance it until it ends."""
    return Run(kseries, p, **order).until()


def paid_on_the_check(reference: str) -> dict[str, Any]:
    return {**PAID, "paymentEntries": [{"externalReference": reference}]}


def test_k_series_receives_the_remainder_under_the_stored_payment_reference() -> None:
    kseries = KSeries(
        order_local=[(200, OK)],
        saleByExternalReference=[(200, SALE)],
        pay=[(200, OK)],
        accounts=[(200, PAID)],
    )
    order = settle(kseries, settle="5.00")
    (payment,) = order.payments
    (body,) = kseries.pay_bodies()
    assert body == {
        "iKaccountIdentifier": "A1.1",
        "thirdPartyPaymentReference": payment.reference,
        "endpointId": "orderflow",
        "businessLocationId": BL,
        "taskTtlInMs": 300_000,
        "paymentMethod": "OOPAYMENT",
        "paymentAmount": Decimal("1.65"),  # the remainder, not maxAmount (5.00)
        "tipAmount": Decimal("0.00"),
    }
    # amounts travel as JSON numbers with two decimals, as K-Series' schema has them
    raw = next(r.content for r in kseries.requests if r.url.path == "/o/op/1/pay").decode()
    assert '"paymentAmount": 1.65' in raw
    # the reference is the one stored before the POST: ours, never the order's
    assert payment.reference.startswith("pay-") and len(payment.reference) == 36
    assert payment.reference != order.reference
    assert payment.amount == Decimal("1.65")


def test_a_payment_retried_after_a_lost_answer_sends_the_very_same_body() -> None:
    kseries = KSeries(
        order_local=[(200, OK)],
        saleByExternalReference=[(200, SALE)],
        pay=[httpx.ReadTimeout("answer lost"), (502, {}), (200, OK)],
        accounts=[(200, PAID)],
    )
    settle(kseries, settle="5.00")
    first, *retries = [r.content for r in kseries.requests if r.url.path == "/o/op/1/pay"]
    assert len(retries) == 2
    assert all(content == first for content in retries)


def test_a_second_payment_carries_a_new_reference_and_the_remainder_then_outstanding() -> None:
    # Given the first payment was accepted, then K-Series reported it timed out on the POS
    unpaid = {**PAID, "paidAmount": "16.50"}
    kseries = KSeries(
        order_local=[(200, OK)],
        saleByExternalReference=[(200, SALE)],
        pay=[(200, OK)],
        accounts=[(200, unpaid)],
    )
    run = Run(kseries, settle="5.00")
    sent = run.until(lambda o: bool(o.payments) and o.payments[0].status is PaymentStatus.SENT)
    first = sent.payments[0].reference
    kseries.answers["accounts"] = [(200, unpaid), (200, paid_on_the_check("later"))]
    run.notify(
        {
            "type": "PAYMENT",
            "status": "FAILURE",
            "thirdPartyReference": first,
            "businessLocationId": BL,
            "reason": "Payment task timed out",
            "errors": {"timeout": {"errorKey": "TIMEOUT", "message": "timed out"}},
        }
    )
    # When the check, read next, still shows 1.65 due
    order = run.until(lambda o: len(o.payments) == 2 and o.payments[1].status is PaymentStatus.SENT)
    # Then K-Series received a second POST: a new stored reference, the remainder again
    bodies = kseries.pay_bodies()
    assert [b["thirdPartyPaymentReference"] for b in bodies] == [
        q.reference for q in order.payments
    ]
    assert bodies[0]["thirdPartyPaymentReference"] != bodies[1]["thirdPartyPaymentReference"]
    assert [b["paymentAmount"] for b in bodies] == [Decimal("1.65"), Decimal("1.65")]
    assert order.payments[0].status is PaymentStatus.FAILED


# --- the fresh-reference loop: a generator that repeats itself -------------------------------


def repeating(*references: str) -> Iterator[str]:
    yield from references
    raise AssertionError("asked for more references than the test expected")


def test_a_generated_reference_equal_to_the_orders_own_is_never_used() -> None:
    given = repeating("shop-1", "pay-A")
    p = Policy(rand=lambda: 1.0, new_payment_reference=lambda: next(given))
    order = apply(new_order(paid="16.50", settle="5.00"), SubmitAccepted(), T0, p)
    sale = Snapshot(account_identifier="A1.1", total=Decimal("18.15"), paid=Decimal("16.50"))
    order = apply(order, SaleFound(sale), T0, p)
    assert [q.reference for q in order.payments] == ["pay-A"]


def test_a_generated_reference_already_used_by_this_order_is_never_used_again() -> None:
    given = repeating("pay-A", "pay-A", "shop-1", "pay-A", "pay-B")
    p = Policy(rand=lambda: 1.0, new_payment_reference=lambda: next(given))
    order = apply(new_order(paid="16.50", settle="5.00"), SubmitAccepted(), T0, p)
    sale = Snapshot(account_identifier="A1.1", total=Decimal("18.15"), paid=Decimal("16.50"))
    order = apply(order, SaleFound(sale), T0, p)
    order = apply(order, PaymentAccepted("pay-A"), T0, p)
    timed_out = PaymentNews("n1", "pay-A", "FAILURE", "timed out", None, timed_out=True)
    order = apply(order, timed_out, T0 + timedelta(seconds=1), p)
    order = apply(order, CheckRead(sale), T0 + timedelta(seconds=2), p)
    assert order.status is Status.SETTLING
    assert [q.reference for q in order.payments] == ["pay-A", "pay-B"]

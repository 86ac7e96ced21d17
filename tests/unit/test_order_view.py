"""`GET /orders/{bl}/{ref}`: each amount under its own name, as the record has it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import fakeredis
from fastapi.testclient import TestClient

from config.settings import Settings
from tests.builders import BL, T0, new_order, policy
from worker.api import create_app
from worker.events import SaleFound, Snapshot, SubmitAccepted
from worker.lifecycle import apply
from worker.order import Order
from worker.store import OrderStore


def settling_order() -> Order:
    """On the POS with 18.15 on the check, 16.50 paid: 1.65 being paid under pay-1."""
    p = policy()
    order = apply(new_order(paid="16.50", settle="5.00"), SubmitAccepted(), T0, p)
    sale = Snapshot(account_identifier="A1.1", total=Decimal("18.15"), paid=Decimal("16.50"))
    return apply(order, SaleFound(sale), T0 + timedelta(seconds=1), p)


def test_the_view_shows_the_total_and_the_outstanding_amount_each_under_its_own_name() -> None:
    order = settling_order()
    assert (order.total, order.outstanding) == (Decimal("18.15"), Decimal("1.65"))
    store = OrderStore(fakeredis.FakeRedis(decode_responses=True))
    store.create(order, T0)
    app = create_app(
        settings=Settings(_env_file=None),  # type: ignore[call-arg]
        store=store,
        enqueue=lambda *_: None,
        enqueue_notification=lambda _: None,
    )
    view = TestClient(app).get(f"/orders/{BL}/shop-1").json()
    assert view["status"] == "settling"
    assert view["accountIdentifier"] == "A1.1"
    assert view["totalAmount"] == "18.15"
    assert view["outstandingAmount"] == "1.65"
    assert view["failureReason"] is None
    assert view["payments"] == [
        {"thirdPartyPaymentReference": "pay-1", "amount": "1.65", "status": "pending", "attempt": 1}
    ]

"""Notifications, sales and checks with nonsense in them: recorded as news, never as truth.

A record must always read back, an order must never complete unpaid on a missing amount, and
orderflow pays only the check K-Series itself tied to our reference.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.builders import BL
from tests.kseries_fake import SALE, Clock, FakeKSeries, engine_with, stored
from worker.engine import MAX_NOTIFICATION_FAILURES, Engine
from worker.order import Order, Status
from worker.web.views import order_view

CHECK = {"ikaccountId": "A1.1", "currentAmount": "18.15", "paidAmount": "16.50"}


def success(**fields: Any) -> dict[str, Any]:
    return {
        "type": "ORDER",
        "status": "SUCCESS",
        "thirdPartyReference": "shop-1",
        "businessLocationId": BL,
        "ikentooAccountIdentifier": "A1.1",
        **fields,
    }


def notify(engine: Engine, body: dict[str, Any]) -> Order | None:
    """Record and apply `body` as the webhook and its task would; nothing may fail on the way
    (the engine's last-resort guard would hide it: its failure count must stay empty)."""
    note_id = engine.store.record_notification(body, engine.clock())
    order = engine.apply_notification(note_id)
    assert engine.store._r.get(f"orderflow:failures:n:{note_id}") is None
    return order


def readable(engine: Engine, ref: str = "shop-1") -> Order:
    order = engine.store.get(BL, ref)  # raises if the record no longer parses
    assert order is not None
    order_view(order)  # what GET /orders/... serves
    return order


def details(order: Order) -> str:
    return "\n".join(f"{h.event}: {h.detail}" for h in order.history)


# --- 3. nonsense amounts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "account",
    [
        {"ikaccountId": "A1.1", "currentAmount": "-18.15", "paidAmount": "0"},
        {"ikaccountId": "A1.1", "currentAmount": "1e27", "paidAmount": "0"},
        {"ikaccountId": "A1.1", "currentAmount": "18.15", "paidAmount": "-5"},
        {"ikaccountId": "A1.1", "paidAmount": "0.00"},
        {"ikaccountId": "A1.1", "currentAmount": ["18.15"], "paidAmount": "0.00"},
    ],
    ids=["negative total", "1e27", "negative paid", "missing total", "wrong type"],
)
def test_a_nonsense_amount_in_a_notification_is_recorded_and_ignored_never_stored(
    account: dict[str, Any],
) -> None:
    # Given a submitted order whose sale K-Series will show
    kseries = FakeKSeries(SALE, **{"A1.1": {**CHECK, "paymentEntries": []}})
    engine = engine_with(kseries)
    stored(engine)
    # When K-Series' SUCCESS comes with an account whose amounts make no sense
    notify(engine, success(account=account))
    # Then the record reads back, the history says what was ignored, and the real amounts
    # (from the sale) are what orderflow pays by
    order = readable(engine)
    assert "ignored: unreadable check: account." in details(order)
    assert order.outstanding == Decimal("1.65")
    assert order.status is Status.SETTLING
    assert kseries.paid_accounts() == ["A1.1"]


@pytest.mark.parametrize(
    "sale",
    [
        {"accountFiscId": "A1.1"},
        {"accountFiscId": "A1.1", "salesLines": [{"sku": "X"}], "payments": []},
        {"accountFiscId": "A1.1", "salesLines": "nope", "payments": []},
        {"accountFiscId": "A1.1", "salesLines": [{"totalNetAmountWithTax": "-4"}], "payments": []},
        {
            "accountFiscId": "A1.1",
            "salesLines": [{"totalNetAmountWithTax": "1e27"}],
            "payments": [],
        },
    ],
    ids=["no lines or payments", "line without amount", "wrong type", "negative sum", "1e27"],
)
def test_a_sale_without_usable_amounts_never_completes_the_order_the_check_is_read(
    sale: dict[str, Any],
) -> None:
    # Given a sale lookup whose amounts are missing or absurd, and the check K-Series holds
    kseries = FakeKSeries(sale, **{"A1.1": CHECK})
    engine = engine_with(kseries)
    clock: Clock = engine.clock  # type: ignore[assignment]
    stored(engine)
    # When the order is polled and its sale found
    clock.tick(5)
    order = engine.advance(BL, "shop-1")
    # Then it is on the POS but not completed on a guess: the check gives the amounts
    assert order is not None
    readable(engine)
    assert "ignored: unreadable check: " in details(order)
    assert order.status is Status.SETTLING, details(order)
    assert "/o/op/1/order/accounts/A1.1" in kseries.paths()
    assert order.outstanding == Decimal("1.65")


def test_a_check_with_a_negative_amount_is_retried_and_the_record_stays_readable() -> None:
    # Given an order on the POS whose check K-Series answers with a negative amount
    bad_check = {**CHECK, "paidAmount": "-16.50"}
    kseries = FakeKSeries({"accountFiscId": "A1.1"}, **{"A1.1": bad_check})
    engine = engine_with(kseries)
    clock: Clock = engine.clock  # type: ignore[assignment]
    stored(engine)
    clock.tick(5)
    # When it is polled, found, and its check read
    order = engine.advance(BL, "shop-1")
    # Then the check is not taken for truth: the order waits and tries again
    assert order is not None
    order = readable(engine)
    assert order.status is Status.CONFIRMED
    assert order.outstanding is None
    assert order.history[-1].event == "retry"
    assert kseries.paid_accounts() == []


def test_a_cancelled_sale_is_acted_on_like_cancelled_on_the_pos() -> None:
    kseries = FakeKSeries({**SALE, "cancelled": True})
    engine = engine_with(kseries)
    clock: Clock = engine.clock  # type: ignore[assignment]
    stored(engine)
    clock.tick(5)
    order = engine.advance(BL, "shop-1")
    assert order is not None
    assert order.status is Status.NEEDS_ATTENTION
    assert order.failure_reason == "cancelled on the POS"
    assert kseries.paid_accounts() == []


# --- 4. pay only the check K-Series tied to our order --------------------------------------------


def test_a_forged_success_naming_another_account_never_leads_to_a_payment_on_it() -> None:
    # Given an order whose sale K-Series knows as check A1.1
    kseries = FakeKSeries(SALE, **{"A1.1": CHECK, "A999.9": {**CHECK, "ikaccountId": "A999.9"}})
    engine = engine_with(kseries)
    stored(engine)
    # When a forged SUCCESS names another check, with an amount to pay on it
    forged = success(
        ikentooAccountIdentifier="A999.9",
        account={"ikaccountId": "A999.9", "currentAmount": "20.00", "paidAmount": "0.00"},
    )
    notify(engine, forged)
    # Then orderflow asks K-Series which check is ours and pays that one, by its amounts
    order = readable(engine)
    assert kseries.paid_accounts() == ["A1.1"]
    assert order.account_identifier == "A1.1"
    assert order.current_payment is not None
    assert order.current_payment.amount == Decimal("1.65")
    assert not any("A999.9" in str(r.url) for r in kseries.requests)


def test_a_forged_success_pays_nothing_while_k_series_has_no_sale_for_our_reference() -> None:
    kseries = FakeKSeries(None, **{"A999.9": {**CHECK, "ikaccountId": "A999.9"}})
    engine = engine_with(kseries)
    stored(engine)
    notify(
        engine,
        success(ikentooAccountIdentifier="A999.9", account={**CHECK, "ikaccountId": "A999.9"}),
    )
    order = readable(engine)
    assert order.status is Status.CONFIRMED
    assert order.account_identifier is None
    assert kseries.paid_accounts() == []
    assert not any("A999.9" in str(r.url) for r in kseries.requests)


def test_a_later_notification_cannot_switch_the_check_k_series_named() -> None:
    # Given an order confirmed by its sale (check A1.1), settling
    kseries = FakeKSeries(SALE, **{"A1.1": CHECK})
    engine = engine_with(kseries)
    clock: Clock = engine.clock  # type: ignore[assignment]
    stored(engine)
    clock.tick(5)
    engine.advance(BL, "shop-1")
    # When a CHECK_WAS_UPDATED names another check with other amounts
    notify(engine, success(status="CHECK_WAS_UPDATED", account={**CHECK, "ikaccountId": "A9.9"}))
    # Then the account and the amounts are still K-Series' answer about our reference
    order = readable(engine)
    assert order.account_identifier == "A1.1"
    assert kseries.paid_accounts() == ["A1.1"]


# --- 7. a notification whose processing keeps failing ---------------------------------------------


def test_a_notification_whose_processing_keeps_failing_is_parked_after_a_few_tries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a notification whose processing raises (a bug, or a body nobody foresaw)
    engine = engine_with(FakeKSeries(SALE))
    stored(engine)
    note_id = engine.store.record_notification(success(), engine.clock())

    def boom(*_: Any) -> Any:
        raise RuntimeError("unforeseen")

    monkeypatch.setattr("worker.engine.as_event", boom)
    # When its task runs on every lease
    for _ in range(MAX_NOTIFICATION_FAILURES):
        assert engine.apply_notification(note_id) is None  # never raises
    # Then it is parked as unmatched with the error, and its timer is gone
    [parked] = engine.store.unmatched()
    # the error's type and where, never its message (it may quote the body)
    assert parked["reason"].startswith(
        f"failed {MAX_NOTIFICATION_FAILURES} times: RuntimeError at "
    )
    assert "unforeseen" not in parked["reason"]
    assert f"n:{note_id}" not in engine.store._r.zrange("orderflow:timers", 0, -1)
    readable(engine)


def test_a_notification_that_failed_once_is_applied_on_its_next_try(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = engine_with(FakeKSeries(SALE))
    stored(engine, settle=None)
    note_id = engine.store.record_notification(success(), engine.clock())
    calls = iter([RuntimeError("once")])

    def flaky(note: Any) -> Any:
        error = next(calls, None)
        if error:
            raise error
        from worker.notifications import as_event

        return as_event(note)

    monkeypatch.setattr("worker.engine.as_event", flaky)
    assert engine.apply_notification(note_id) is None
    order = engine.apply_notification(note_id)
    assert order is not None and order.status is Status.COMPLETED
    assert engine.store.unmatched() == []


@pytest.mark.parametrize(
    "body",
    [
        success(status="FAILURE", reason="x" * 100_000),
        success(businessLocationId=10**30),
        success(businessLocationId="²"),
        {
            "notificationType": "OPEN",
            "account": {"externalReferences": [{"reference": "OO-" + "9" * 5000 + "-shop-1"}]},
        },
        {
            "notificationType": "UPDATE",
            "account": {
                "externalReferences": [{"reference": f"OO-{BL}-shop-1"}],
                "totalAmount": "1e27",
                "paidAmount": "-1",
            },
        },
        {
            "type": "PAYMENT",
            "status": "FAILURE",
            "thirdPartyReference": "pay-1",
            "errors": {"account": {"type": "X" * 5000}},
        },
    ],
    ids=[
        "huge reason",
        "huge location",
        "unicode digit",
        "huge location in reference",
        "account 1e27",
        "huge error type",
    ],
)
def test_bodies_that_used_to_raise_or_bloat_are_bounded(body: dict[str, Any]) -> None:
    # Given an order that is settling under pay-1
    engine = engine_with(FakeKSeries(SALE, **{"A1.1": CHECK}))
    clock: Clock = engine.clock  # type: ignore[assignment]
    stored(engine)
    clock.tick(5)
    engine.advance(BL, "shop-1")
    # When a body with something huge or odd in it comes, it is applied or parked, bounded
    notify(engine, body)  # never raises
    order = readable(engine)
    assert all(len(h.detail) <= 400 for h in order.history)
    assert len(order.failure_reason or "") <= 400

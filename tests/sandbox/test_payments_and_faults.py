"""The sandbox applies payments once, and injects the faults it is told to."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from tests.sandbox.harness import (
    BL,
    Harness,
    local_order,
    on_pos,
    pay,
    payment,
    place,
)

pytestmark = pytest.mark.anyio


# --- payments -------------------------------------------------------------------------------


async def test_a_payment_of_the_remainder_succeeds_and_closes_the_check(kseries: Harness) -> None:
    account = (await on_pos(kseries))["ikentooAccountIdentifier"]

    response = await pay(kseries, payment(account, "pay-1", "1.65"))

    assert response.json() == {"status": "ok"}
    success = await kseries.hooks.wait_for(type="PAYMENT", status="SUCCESS")
    assert success["thirdPartyReference"] == "pay-1"
    assert success["ikentooAccountIdentifier"] == account
    assert "account" not in success
    closed = await kseries.hooks.wait_for(type="ORDER", status="CLOSED")
    assert closed["thirdPartyReference"] == "shop-1"
    assert closed["account"]["paidAmount"] == closed["account"]["currentAmount"] == "18.15"
    check = await kseries.client.get(
        f"/o/op/1/order/accounts/{account}", params={"businessLocationId": BL}
    )
    snapshot = json.loads(check.content, parse_float=Decimal)
    assert snapshot["paidAmount"] == snapshot["currentAmount"] == Decimal("18.15")
    assert "closeDate" in snapshot
    refs = [p["externalReference"] for p in snapshot["paymentEntries"]]
    assert refs == ["shop-1", "pay-1"]
    ledger = await kseries.ledger()
    assert ledger["payments"][account] == [
        {"thirdPartyPaymentReference": "pay-1", "amount": "1.65", "tip": "0.00"}
    ]
    assert ledger["payment_applications"] == {"pay-1": 1}


async def test_a_reused_payment_reference_is_refused_with_400(kseries: Harness) -> None:
    account = (await on_pos(kseries))["ikentooAccountIdentifier"]
    await pay(kseries, payment(account, "pay-1", "1.00"))

    again = await pay(kseries, payment(account, "pay-1", "1.00"))
    order_ref = await pay(kseries, payment(account, "shop-1", "0.50"))

    assert again.status_code == 400
    assert again.json()["message"] == "reference has already been used pay-1"
    assert again.json()["path"] == "/o/op/1/pay"
    assert order_ref.status_code == 400
    assert order_ref.json()["message"] == "reference has already been used shop-1"


async def test_a_payment_above_what_is_due_fails_as_overpaid(kseries: Harness) -> None:
    account = (await on_pos(kseries))["ikentooAccountIdentifier"]

    await pay(kseries, payment(account, "pay-1", "5.00"))

    failure = await kseries.hooks.wait_for(type="PAYMENT", status="FAILURE")
    assert failure["reason"] == "the payment amount is greater than the amount due"
    assert failure["errors"] == {"account": {"type": "OVERPAID"}}
    assert (await kseries.ledger())["payments"] == {}


async def test_a_payment_to_an_unknown_or_closed_check_fails_with_its_error_type(
    kseries: Harness,
) -> None:
    account = (await on_pos(kseries))["ikentooAccountIdentifier"]
    await pay(kseries, payment("A1.999", "pay-x", "1.00"))
    missing = await kseries.hooks.wait_for(type="PAYMENT", thirdPartyReference="pay-x")
    await pay(kseries, payment(account, "pay-1", "1.65"))
    await kseries.hooks.wait_for(type="ORDER", status="CLOSED")

    await pay(kseries, payment(account, "pay-2", "0.01"))

    closed = await kseries.hooks.wait_for(type="PAYMENT", thirdPartyReference="pay-2")
    assert missing["reason"] == "Account not found"
    assert missing["errors"]["account"]["type"] == "ACCOUNT_NOT_FOUND"
    assert closed["errors"]["account"]["type"] == "ACCOUNT_ALREADY_CLOSED"


async def test_a_payment_for_an_offline_location_times_out_at_its_deadline(
    kseries: Harness,
) -> None:
    account = (await on_pos(kseries))["ikentooAccountIdentifier"]
    await kseries.client.post(f"/_sandbox/locations/{BL}/offline")

    await pay(kseries, payment(account, "pay-1", "1.65", taskTtlInMs=100))

    failure = await kseries.hooks.wait_for(type="PAYMENT", status="FAILURE")
    assert failure["reason"] == "Not processed before validity ended"
    assert failure["errors"]["timeout"]["errorKey"] == "errors.payment.pos.task_timeout"


async def test_a_payment_missing_required_fields_is_refused_with_field_errors(
    kseries: Harness,
) -> None:
    response = await pay(kseries, {"businessLocationId": BL})

    assert response.status_code == 400
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"thirdPartyPaymentReference", "endpointId", "paymentAmount"}


# --- faults ---------------------------------------------------------------------------------


async def test_a_lost_answer_still_accepts_the_order_but_answers_502(kseries: Harness) -> None:
    await kseries.configure(lost_answer_rate=1.0, lost_answer_mode="502")

    response = await place(kseries, local_order())

    assert response.status_code == 502
    ledger = await kseries.ledger()
    assert ledger["orders_accepted"] == {f"{BL}:shop-1": 1}
    assert ledger["faults"] == {"lost": 1}
    await kseries.configure(lost_answer_rate=0.0)
    assert (await place(kseries, local_order())).status_code == 409
    await kseries.hooks.wait_for(status="SUCCESS")


async def test_a_server_error_fault_does_not_process_the_request(kseries: Harness) -> None:
    await kseries.configure(error_rate=1.0)

    response = await place(kseries, local_order())

    assert response.status_code in (500, 502, 503)
    assert (await kseries.ledger())["orders_accepted"] == {}


async def test_a_rate_limited_request_carries_retry_after_and_is_not_processed(
    kseries: Harness,
) -> None:
    await kseries.configure(rate_limit_rate=1.0, retry_after_s=3)

    response = await place(kseries, local_order())

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert (await kseries.ledger())["orders_accepted"] == {}


async def test_admin_routes_are_never_faulted(kseries: Harness) -> None:
    await kseries.configure(error_rate=1.0)

    assert (await kseries.client.get("/_sandbox/config")).status_code == 200
    assert (await kseries.client.get("/_sandbox/ledger")).status_code == 200


async def test_reordered_notifications_send_check_was_updated_before_success(
    kseries: Harness,
) -> None:
    await kseries.configure(webhook_reorder_rate=1.0)

    await place(kseries, local_order())

    await kseries.hooks.wait_for(status="SUCCESS")
    statuses = [p["status"] for p in kseries.hooks.payloads]
    assert statuses == ["CHECK_WAS_UPDATED", "SUCCESS"]


async def test_dropped_and_duplicated_notifications_are_recorded_in_the_ledger(
    kseries: Harness,
) -> None:
    await kseries.configure(webhook_duplicate_rate=1.0)
    await on_pos(kseries, "dup")
    await kseries.hooks.wait_for(status="SUCCESS", thirdPartyReference="dup")
    await kseries.configure(webhook_duplicate_rate=0.0, webhook_drop_rate=1.0)

    await place(kseries, local_order("lost"))

    def dropped(ledger: dict[str, Any]) -> bool:
        return any(n["fault"] == "dropped" for n in ledger["notifications"])

    await kseries.wait_ledger(dropped)  # the moment it would have been sent
    assert len(kseries.hooks.matching(thirdPartyReference="dup")) == 2
    assert kseries.hooks.matching(thirdPartyReference="lost") == []
    faults = [n["fault"] for n in (await kseries.ledger())["notifications"]]
    assert faults == [None, "duplicate", "dropped"]

"""The sandbox takes, validates and delivers orders as K-Series and its POS would."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.sandbox.harness import (
    BL,
    Harness,
    local_order,
    place,
)

pytestmark = pytest.mark.anyio


# --- orders ---------------------------------------------------------------------------------


async def test_an_accepted_order_reaches_the_pos_and_notifies_success_with_a_remainder(
    kseries: Harness,
) -> None:
    response = await place(kseries, local_order())
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}

    success = await kseries.hooks.wait_for(type="ORDER", status="SUCCESS")
    assert success["thirdPartyReference"] == "shop-1"
    assert success["businessLocationId"] == BL
    assert re.fullmatch(r"A\d+\.\d+", success["ikentooAccountIdentifier"])
    assert success["ikentooAccountId"].isdigit()
    account = success["account"]
    assert account["ikaccountId"] == success["ikentooAccountIdentifier"]
    assert (account["currentAmount"], account["paidAmount"]) == ("18.15", "16.50")
    assert account["serviceCharge"] == "1.65"
    service = [e for e in account["salesEntries"] if e["itemSku"] == "SERVICE"]
    assert service[0]["amountWithTax"] == "1.65"
    [entry] = account["paymentEntries"]
    assert entry["externalReference"] == "shop-1"
    assert (entry["paymentMethodCode"], entry["amountPaid"]) == ("OOPAYMENT", "16.50")
    credentials = base64.b64encode(b"kseries:s3cret").decode()
    assert kseries.hooks.requests[0].headers["Authorization"] == f"Basic {credentials}"
    assert (await kseries.ledger())["orders_accepted"] == {f"{BL}:shop-1": 1}


async def test_sub_items_and_custom_prices_are_rung_up_like_the_documented_example(
    kseries: Harness,
) -> None:
    items = [
        {
            "sku": "UGG-BB-PUR-06",
            "quantity": 2,
            "customItemPrice": Decimal("10.0"),
            "subItems": [{"sku": "ABC-123", "quantity": 1, "customItemPrice": Decimal("2.0")}],
        }
    ]
    pay_block = {
        "paymentMethod": "OOPAYMENT",
        "paymentAmount": Decimal("22.01"),
        "tipAmount": Decimal("2.0"),
    }
    await place(kseries, local_order(items=items, payment=pay_block))

    account = (await kseries.hooks.wait_for(status="SUCCESS"))["account"]
    assert (account["currentAmount"], account["paidAmount"]) == ("24.20", "20.01")
    assert account["salesEntries"][0]["subLineItems"][0]["itemSku"] == "ABC-123"


async def test_a_reused_order_reference_is_refused_with_409(kseries: Harness) -> None:
    await place(kseries, local_order())
    again = await place(kseries, local_order())

    assert again.status_code == 409
    assert again.json() == {"status": "fail", "msg": "reference has already been used shop-1"}
    assert (await kseries.ledger())["orders_accepted"][f"{BL}:shop-1"] == 1


async def test_an_invalid_order_is_refused_with_spring_errors_naming_each_field(
    kseries: Harness,
) -> None:
    body = local_order(
        customerInfo={},
        maxTimeToAttemptOrderDeliverToPos=10,
        items=[{"sku": "X" * 26, "quantity": 0}],
    )
    del body["thirdPartyReference"]

    response = await place(kseries, body)

    assert response.status_code == 400
    problem = response.json()
    assert problem["message"] == "Validation failed for object='localOrder'. Error count: 5"
    assert problem["path"] == "/o/op/1/order/local"
    fields = {e["field"]: e for e in problem["errors"]}
    assert set(fields) == {
        "thirdPartyReference",
        "customerInfo.firstName",
        "maxTimeToAttemptOrderDeliverToPos",
        "items[0].sku",
        "items[0].quantity",
    }
    assert fields["thirdPartyReference"]["defaultMessage"] == "must not be null"
    assert fields["thirdPartyReference"]["codes"][0] == "NotNull.localOrder.thirdPartyReference"
    assert fields["items[0].quantity"]["code"] == "Min"
    assert (await kseries.ledger())["orders_accepted"] == {}


async def test_a_to_go_order_with_a_long_collection_code_or_a_past_schedule_is_refused(
    kseries: Harness,
) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    body = local_order(collectionCode="123456789", scheduledTimeForOrderAsIso8601=past)

    response = await place(kseries, body, kind="toGo")

    assert response.status_code == 400
    assert response.json()["message"].startswith("Validation failed for object='toGoOrder'")
    fields = {e["field"]: e["code"] for e in response.json()["errors"]}
    assert fields == {"collectionCode": "Size", "scheduledTimeForOrderAsIso8601": "Future"}


async def test_a_scheduled_order_reaches_the_pos_only_at_its_scheduled_time(
    kseries: Harness,
) -> None:
    when = datetime.now(UTC) + timedelta(seconds=0.3)
    await place(kseries, local_order(scheduledTimeForOrderAsIso8601=when.isoformat()))

    await kseries.hooks.wait_for(status="SUCCESS")
    # Nothing, not even CHECK_WAS_UPDATED, came before the scheduled time.
    assert kseries.hooks.arrived and min(kseries.hooks.arrived) >= when
    outcome = (await kseries.ledger())["orders"][f"{BL}:shop-1"]
    assert outcome["outcome"] == "SUCCESS"
    assert outcome["outcomeAt"] >= when.timestamp()


async def test_an_order_with_an_unknown_sku_fails_on_the_pos(kseries: Harness) -> None:
    await place(
        kseries,
        local_order(items=[{"sku": "BURGER", "quantity": 1}, {"sku": "NOPE", "quantity": 1}]),
    )

    failure = await kseries.hooks.wait_for(type="ORDER", status="FAILURE")
    assert failure == {
        "type": "ORDER",
        "status": "FAILURE",
        "reason": "Could not add item NOPE (not found)",
        "thirdPartyReference": "shop-1",
        "businessLocationId": BL,
    }
    sale = await kseries.client.get(
        f"/f/finance/{BL}/saleByExternalReference",
        params={"externalReferenceId": f"TASK:OO-{BL}-shop-1"},
    )
    assert sale.status_code == 404


async def test_an_order_for_an_offline_location_fails_when_its_deadline_passes(
    kseries: Harness,
) -> None:
    await kseries.client.post(f"/_sandbox/locations/{BL}/offline")
    readiness = await kseries.client.get(
        "/o/op/1/onlineOrderReadiness", params={"businessLocationId": BL}
    )
    assert readiness.json()["status"] == "NOT_READY"
    assert readiness.json()["posStatus"]["acceptingOnlineOrders"] is False

    await place(kseries, local_order(maxTimeToAttemptOrderDeliverToPos=200))

    failure = await kseries.hooks.wait_for(status="FAILURE")
    assert failure["reason"] == "Not processed before validity ended"
    assert kseries.hooks.payloads == [failure]  # the failure is all that was ever sent
    assert (await kseries.ledger())["orders"][f"{BL}:shop-1"]["outcome"] == "FAILURE"


async def test_an_order_waiting_for_an_offline_location_goes_through_when_it_comes_back(
    kseries: Harness,
) -> None:
    await kseries.client.post(f"/_sandbox/locations/{BL}/offline")
    await place(kseries, local_order("waits", maxTimeToAttemptOrderDeliverToPos=2000))
    await place(kseries, local_order("probe", maxTimeToAttemptOrderDeliverToPos=100))
    # The probe, due at the same moment, failing proves the POS found the location offline.
    await kseries.hooks.wait_for(status="FAILURE", thirdPartyReference="probe")
    assert kseries.hooks.matching(thirdPartyReference="waits") == []

    await kseries.client.post(f"/_sandbox/locations/{BL}/online")

    await kseries.hooks.wait_for(status="SUCCESS", thirdPartyReference="waits", timeout=1.0)


async def test_an_order_paying_more_than_the_pos_total_fails_whole(kseries: Harness) -> None:
    too_much = {"paymentMethod": "OOPAYMENT", "paymentAmount": Decimal("30.00"), "tipAmount": 2}
    await place(kseries, local_order(payment=too_much))

    failure = await kseries.hooks.wait_for(status="FAILURE")
    assert failure["reason"] == "the payment amount is greater than the amount due"


async def test_the_sale_is_not_found_until_the_order_is_on_the_pos(kseries: Harness) -> None:
    await kseries.configure(pos_delay_s=0.2)
    params = {"externalReferenceId": f"TASK:OO-{BL}-shop-1"}
    url = f"/f/finance/{BL}/saleByExternalReference"
    await place(kseries, local_order())

    before = await kseries.client.get(url, params=params)
    assert before.status_code == 404
    assert before.json()["status"] == 404

    success = await kseries.hooks.wait_for(status="SUCCESS")
    sale = (await kseries.client.get(url, params=params)).json()
    assert sale["accountFiscId"] == success["ikentooAccountIdentifier"]
    assert sale["type"] == "SALE"
    assert sale["cancelled"] is False
    assert sale["externalReferences"] == [f"TASK:OO-{BL}-shop-1"]
    assert sale["timeofCloseAndPaid"] is None
    totals = {line["sku"]: line["totalNetAmountWithTax"] for line in sale["salesLines"]}
    assert totals == {"BURGER": "12.50", "FRIES": "4.00", "SERVICE": "1.65"}
    [paid] = sale["payments"]
    assert (paid["externalReference"], paid["netAmountWithTax"], paid["tip"]) == (
        "shop-1",
        "16.50",
        "2.00",
    )

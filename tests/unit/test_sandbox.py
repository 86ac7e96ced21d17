"""The K-Series sandbox behaves like K-Series and its POS, faults included.

In-process: the app runs behind `httpx.ASGITransport`, notifications go to an
`httpx.MockTransport` that records them, and the POS takes 10 ms instead of seconds.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import anyio
import httpx
import pytest
import simplejson

from worker.sandbox import Sandbox, SandboxConfig, create_app
from worker.sandbox.server import build_parser, config_from_args

pytestmark = pytest.mark.anyio

BL = 45454565682155
ENDPOINT = "orderflow"
HOOK_URL = "http://shop.test/webhooks/kseries"
BEARER = {"Authorization": "Bearer any-token"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Hooks:
    """Records every notification the sandbox sends; answers 200."""

    requests: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200)

    @property
    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]

    def matching(self, **expected: Any) -> list[dict[str, Any]]:
        return [p for p in self.payloads if all(p.get(k) == v for k, v in expected.items())]

    async def wait_for(self, timeout: float = 2.0, **expected: Any) -> dict[str, Any]:
        with anyio.fail_after(timeout):
            while not (found := self.matching(**expected)):
                await anyio.sleep(0.005)
        return found[0]


@dataclass
class Harness:
    client: httpx.AsyncClient
    hooks: Hooks
    sandbox: Sandbox

    async def ledger(self) -> dict[str, Any]:
        ledger: dict[str, Any] = (await self.client.get("/_sandbox/ledger")).json()
        return ledger

    async def configure(self, **changes: Any) -> None:
        response = await self.client.patch("/_sandbox/config", json=changes)
        assert response.status_code == 200, response.text


async def _harness(config: SandboxConfig, provide_account: bool = True) -> AsyncIterator[Harness]:
    hooks = Hooks()
    app = create_app(config, notify_transport=httpx.MockTransport(hooks.handle))
    sandbox: Sandbox = app.state.sandbox
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://kseries.test", headers=BEARER
    ) as client:
        registration = {
            "endpointId": ENDPOINT,
            "url": HOOK_URL,
            "withBasicAuth": True,
            "username": "kseries",
            "password": "s3cret",
            "provideAccount": provide_account,
            "expandTransactions": True,
            "expandPayments": True,
        }
        assert (await client.put("/o/wh/1/webhook", json=registration)).status_code == 200
        yield Harness(client, hooks, sandbox)
        await sandbox.aclose()


@pytest.fixture
async def kseries() -> AsyncIterator[Harness]:
    async for harness in _harness(SandboxConfig(pos_delay_s=0.01, min_ttl_ms=50, seed=7)):
        yield harness


def local_order(reference: str = "shop-1", **overrides: Any) -> dict[str, Any]:
    """Burger + fries = 16.50, +10 % service = 18.15; pays 16.50 + 2.00 tip."""
    order: dict[str, Any] = {
        "businessLocationId": BL,
        "thirdPartyReference": reference,
        "endpointId": ENDPOINT,
        "customerInfo": {"firstName": "Jane"},
        "maxTimeToAttemptOrderDeliverToPos": 60000,
        "payment": {
            "paymentMethod": "OOPAYMENT",
            "paymentAmount": Decimal("18.50"),
            "tipAmount": Decimal("2.00"),
        },
        "items": [{"sku": "BURGER", "quantity": 1}, {"sku": "FRIES", "quantity": 1}],
    }
    order.update(overrides)
    return order


def payment(account: str, reference: str, amount: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "iKaccountIdentifier": account,
        "thirdPartyPaymentReference": reference,
        "endpointId": ENDPOINT,
        "businessLocationId": BL,
        "taskTtlInMs": 60000,
        "paymentMethod": "OOPAYMENT",
        "paymentAmount": Decimal(amount),
        "tipAmount": 0,
    }
    body.update(overrides)
    return body


async def post_json(h: Harness, path: str, body: dict[str, Any]) -> httpx.Response:
    """Decimal amounts go out as JSON numbers (`6.10`), as orderflow sends them."""
    content = simplejson.dumps(body, use_decimal=True)
    return await h.client.post(path, content=content, headers={"Content-Type": "application/json"})


async def place(h: Harness, body: dict[str, Any], kind: str = "local") -> httpx.Response:
    return await post_json(h, f"/o/op/1/order/{kind}", body)


async def pay(h: Harness, body: dict[str, Any]) -> httpx.Response:
    return await post_json(h, "/o/op/1/pay", body)


async def on_pos(h: Harness, reference: str = "shop-1") -> dict[str, Any]:
    assert (await place(h, local_order(reference))).json() == {"status": "ok"}
    return await h.hooks.wait_for(type="ORDER", status="SUCCESS", thirdPartyReference=reference)


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
    when = (datetime.now(UTC) + timedelta(seconds=0.3)).isoformat()
    await place(kseries, local_order(scheduledTimeForOrderAsIso8601=when))

    await anyio.sleep(0.15)
    assert kseries.hooks.payloads == []
    await kseries.hooks.wait_for(status="SUCCESS")


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
    await anyio.sleep(0.1)
    assert kseries.hooks.payloads == []

    failure = await kseries.hooks.wait_for(status="FAILURE")
    assert failure["reason"] == "Not processed before validity ended"
    assert (await kseries.ledger())["orders"][f"{BL}:shop-1"]["outcome"] == "FAILURE"


async def test_an_order_waiting_for_an_offline_location_goes_through_when_it_comes_back(
    kseries: Harness,
) -> None:
    await kseries.client.post(f"/_sandbox/locations/{BL}/offline")
    await place(kseries, local_order(maxTimeToAttemptOrderDeliverToPos=2000))
    await anyio.sleep(0.05)

    await kseries.client.post(f"/_sandbox/locations/{BL}/online")

    await kseries.hooks.wait_for(status="SUCCESS", timeout=1.0)


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
    await anyio.sleep(0.1)

    assert len(kseries.hooks.matching(thirdPartyReference="dup")) == 2
    assert kseries.hooks.matching(thirdPartyReference="lost") == []
    faults = [n["fault"] for n in (await kseries.ledger())["notifications"]]
    assert faults == [None, "duplicate", "dropped"]


# --- webhooks and auth ----------------------------------------------------------------------


async def test_an_endpoint_without_provide_account_gets_no_account() -> None:
    config = SandboxConfig(pos_delay_s=0.01, min_ttl_ms=50)
    async for h in _harness(config, provide_account=False):
        await place(h, local_order())
        success = await h.hooks.wait_for(status="SUCCESS")
        assert "account" not in success


async def test_a_webhook_update_resets_left_out_booleans_and_never_echoes_the_password(
    kseries: Harness,
) -> None:
    update = {"endpointId": ENDPOINT, "url": HOOK_URL, "withBasicAuth": True}
    assert (await kseries.client.post("/o/wh/1/webhook", json=update)).status_code == 200

    shown = (await kseries.client.get(f"/o/wh/1/webhook/{ENDPOINT}")).json()

    assert shown["provideAccount"] is False
    assert shown["expandTransactions"] is False
    assert "password" not in shown
    missing = await kseries.client.get("/o/wh/1/webhook/unknown")
    assert missing.status_code == 404
    assert (await kseries.client.delete(f"/o/wh/1/webhook/{ENDPOINT}")).status_code == 200


async def test_kseries_routes_need_a_bearer_token(kseries: Harness) -> None:
    response = await kseries.client.post(
        "/o/op/1/order/local",
        content=simplejson.dumps(local_order(), use_decimal=True),
        headers={"Authorization": "", "Content-Type": "application/json"},
    )

    assert response.status_code == 401
    assert (await kseries.ledger())["orders_accepted"] == {}


async def test_a_refresh_token_works_exactly_once(kseries: Harness) -> None:
    first = await kseries.client.post(
        "/oauth/token", data={"grant_type": "authorization_code", "code": "abc"}
    )
    refresh = first.json()["refresh_token"]

    second = await kseries.client.post(
        "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": refresh}
    )
    reused = await kseries.client.post(
        "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": refresh}
    )

    assert first.json()["token_type"] == "bearer"
    assert second.status_code == 200
    assert second.json()["refresh_token"] != refresh
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    assert (await kseries.ledger())["refresh_reuse"] == 1


class FakeClock:
    def __init__(self) -> None:
        self.moment = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment


async def test_with_require_auth_only_issued_unexpired_tokens_pass() -> None:
    clock = FakeClock()
    app = create_app(SandboxConfig(require_auth=True, token_ttl_s=60), clock=clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://kseries.test"
    ) as client:
        issued = (await client.post("/_sandbox/tokens")).json()

        async def readiness(token: str) -> httpx.Response:
            return await client.get(
                "/o/op/1/onlineOrderReadiness",
                params={"businessLocationId": BL},
                headers={"Authorization": f"Bearer {token}"},
            )

        assert (await readiness("made-up")).status_code == 401
        assert (await readiness(issued["access_token"])).status_code == 200
        clock.moment += timedelta(seconds=61)
        assert (await readiness(issued["access_token"])).status_code == 401
        await app.state.sandbox.aclose()


# --- command line ---------------------------------------------------------------------------


def test_every_config_field_can_be_set_from_the_command_line() -> None:
    args = build_parser().parse_args(
        [
            "--port",
            "8100",
            "--pos-delay",
            "0.5",
            "--min-ttl-ms",
            "3000",
            "--error-rate",
            "0.1",
            "--service-charge-rate",
            "0.15",
            "--offline",
            "1",
            "2",
            "--require-auth",
            "--seed",
            "42",
        ]
    )

    config = config_from_args(args)

    assert args.port == 8100
    assert config.pos_delay_s == 0.5
    assert config.min_ttl_ms == 3000
    assert config.error_rate == 0.1
    assert config.service_charge_rate == Decimal("0.15")
    assert config.offline_locations == {1, 2}
    assert config.require_auth is True
    assert config.seed == 42
    assert config.webhook_retries == 0

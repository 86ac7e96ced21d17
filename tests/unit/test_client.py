"""The K-Series client against httpx.MockTransport: one call, one answer, one outcome."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime

import httpx
import pytest

from worker.errors import (
    AuthError,
    BadResponse,
    RateLimited,
    ServerError,
    TransportError,
    ValidationRejected,
)
from worker.kseries.client import KSeriesClient, _retry_after, dumps
from worker.kseries.models import ApplyPayment, LocalOrder

ORDER = LocalOrder.model_validate(
    {
        "businessLocationId": 1,
        "thirdPartyReference": "r1",
        "endpointId": "orderflow",
        "customerInfo": {"firstName": "Jane"},
        "items": [{"sku": "BURGER", "quantity": 1}],
        "payment": {"paymentMethod": "OOPAYMENT", "paymentAmount": "6.1", "tipAmount": 0},
    }
)
PAYMENT = ApplyPayment(
    iKaccountIdentifier="A1.1",
    thirdPartyPaymentReference="pay-1",
    endpointId="orderflow",
    businessLocationId=1,
    taskTtlInMs=60000,
    paymentMethod="OOPAYMENT",
    paymentAmount=Decimal("3.44"),
)
SPRING_400 = {
    "status": 400,
    "message": "Validation failed for object='localOrder'. Error count: 1",
    "errors": [{"field": "thirdPartyReference", "defaultMessage": "must not be null"}],
}


def client(handler: Callable[[httpx.Request], httpx.Response]) -> KSeriesClient:
    return KSeriesClient(
        httpx.Client(base_url="https://k.example", transport=httpx.MockTransport(handler))
    )


def answer(
    status: int, body: object = None, **headers: str
) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, json=body, headers=headers)


def test_amounts_are_sent_as_json_numbers_with_two_decimals() -> None:
    text = dumps(ORDER).decode()
    assert '"paymentAmount": 6.10' in text
    assert '"tipAmount": 0.00' in text
    assert json.loads(text)["businessLocationId"] == 1


def test_a_200_ok_is_accepted() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "ok"})

    assert client(handler).submit_order("local", ORDER) == "accepted"
    assert seen[0].url.path == "/o/op/1/order/local"
    assert seen[0].headers["content-type"] == "application/json"


def test_the_to_go_kind_posts_to_to_go() -> None:
    paths = []
    client(
        lambda r: paths.append(r.url.path) or httpx.Response(200, json={"status": "ok"})
    ).submit_order("toGo", ORDER)
    assert paths == ["/o/op/1/order/toGo"]


def test_a_409_reference_already_used_is_a_duplicate_not_an_error() -> None:
    body = {"status": "fail", "msg": "reference has already been used r1"}
    assert client(answer(409, body)).submit_order("local", ORDER) == "duplicate"


def test_a_400_names_the_fields() -> None:
    with pytest.raises(ValidationRejected) as caught:
        client(answer(400, SPRING_400)).submit_order("local", ORDER)
    assert caught.value.message == "thirdPartyReference: must not be null"
    assert not caught.value.retryable


def test_a_payment_400_reference_already_used_is_a_duplicate() -> None:
    body = {
        "status": 400,
        "message": "reference has already been used pay-1",
        "path": "/o/op/1/pay",
    }
    assert client(answer(400, body)).apply_payment(PAYMENT) == "duplicate"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retryable(status: int) -> None:
    with pytest.raises(ServerError) as caught:
        client(answer(status, {"error": "x"})).submit_order("local", ORDER)
    assert caught.value.retryable


def test_429_carries_retry_after_seconds() -> None:
    with pytest.raises(RateLimited) as caught:
        client(answer(429, {}, **{"Retry-After": "7"})).submit_order("local", ORDER)
    assert caught.value.retry_after_s == 7.0
    assert caught.value.retryable


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert _retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert _retry_after("garbage", now) is None


def test_a_connection_error_is_a_retryable_transport_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(TransportError) as caught:
        client(handler).submit_order("local", ORDER)
    assert caught.value.retryable


def test_a_200_that_is_not_status_ok_is_a_bad_response() -> None:
    with pytest.raises(BadResponse):
        client(answer(200, {"status": "weird"})).submit_order("local", ORDER)


def test_401_is_an_auth_error() -> None:
    with pytest.raises(AuthError):
        client(answer(401, {"error": "invalid_token"})).submit_order("local", ORDER)


def test_the_sale_lookup_uses_the_task_reference_and_parses_string_amounts_as_decimal() -> None:
    urls = []
    sale = {
        "accountFiscId": "A111584.1",
        "salesLines": [{"totalNetAmountWithTax": "11.00"}, {"totalNetAmountWithTax": 2.2}],
        "payments": [{"netAmountWithTax": "9.76", "externalReference": "r1"}],
        "unknownField": True,
    }

    def handler(request: httpx.Request) -> httpx.Response:
        urls.append(request.url)
        return httpx.Response(200, json=sale)

    found = client(handler).sale_by_reference(881782555672578, "eb9b")
    assert urls[0].params["externalReferenceId"] == "TASK:OO-881782555672578-eb9b"
    assert found is not None
    assert (found.total, found.paid) == (Decimal("13.20"), Decimal("9.76"))
    assert found.total - found.paid == Decimal("3.44")


def test_a_sale_404_means_not_on_the_pos() -> None:
    assert client(answer(404, {"status": 404})).sale_by_reference(1, "r") is None


def test_a_malformed_sale_is_a_bad_response() -> None:
    with pytest.raises(BadResponse):
        client(answer(200, {"salesLines": "nope"})).sale_by_reference(1, "r")


def test_the_account_snapshot_gives_the_outstanding_amount_and_payment_references() -> None:
    account = {
        "ikaccountId": "A1.1",
        "currentAmount": "18.15",
        "paidAmount": "16.50",
        "paymentEntries": [{"externalReference": "pay-1", "amountPaid": "1.65"}],
    }
    found = client(answer(200, account)).account(1, "A1.1")
    assert found is not None
    assert found.outstanding == Decimal("1.65")
    assert found.payment_references == frozenset({"pay-1"})

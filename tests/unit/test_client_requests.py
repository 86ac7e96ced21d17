"""What K-Series receives from the client: method, path, query, headers, auth and the exact body;
the timeouts it is called with; the route a call is counted under."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from tests.unit.client_kit import ORDER, PAYMENT, REGISTRATION, Answer, client_for
from worker.errors import AuthError, TransportError
from worker.kseries.client import KSeriesClient, _json_default, default_timeout, dumps, route_of
from worker.kseries.models import ToGoOrder

OK = {"status": "ok"}
PIZZA = httpx.BasicAuth("pizza", "secret")
DEFAULT = httpx.BasicAuth("default", "secret")
PIZZA_HEADER = "Basic " + base64.b64encode(b"pizza:secret").decode()
DEFAULT_HEADER = "Basic " + base64.b64encode(b"default:secret").decode()


def test_an_order_is_posted_as_json_with_every_given_field_and_no_empty_ones() -> None:
    kseries = Answer(200, OK)
    client_for(kseries).submit_order("local", ORDER)
    request = kseries.only
    assert (request.method, request.url.path) == ("POST", "/o/op/1/order/local")
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {
        "businessLocationId": 7,
        "thirdPartyReference": "r1",
        "endpointId": "orderflow",
        "customerInfo": {"firstName": "Jane"},
        "items": [{"sku": "BURGER", "quantity": 1}],
        "payment": {"paymentMethod": "OOPAYMENT", "paymentAmount": 6.1, "tipAmount": 0},
    }
    assert b'"paymentAmount": 6.10' in request.content


def test_a_payment_is_posted_to_pay_with_its_exact_body() -> None:
    kseries = Answer(200, OK)
    assert client_for(kseries).apply_payment(PAYMENT) == "accepted"
    request = kseries.only
    assert (request.method, request.url.path) == ("POST", "/o/op/1/pay")
    assert request.headers["Content-Type"] == "application/json"
    assert request.content == dumps(PAYMENT)
    assert json.loads(request.content)["thirdPartyPaymentReference"] == "pay-1"
    assert b'"paymentAmount": 3.44, "tipAmount": 0.00' in request.content


def test_a_scheduled_time_is_sent_as_iso_8601_with_its_offset() -> None:
    order = ToGoOrder.model_validate(
        {
            **ORDER.model_dump(exclude_none=True),
            "scheduledTimeForOrderAsIso8601": datetime(2026, 11, 22, 18, 30, tzinfo=UTC),
        }
    )
    body = json.loads(dumps(order))
    assert body["scheduledTimeForOrderAsIso8601"] == "2026-11-22T18:30:00+00:00"


def test_a_value_json_cannot_carry_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match=r"^cannot serialise object$"):
        _json_default(object())


def test_the_sale_lookup_asks_finance_for_the_task_reference_with_a_get() -> None:
    kseries = Answer(404, {})
    client_for(kseries).sale_by_reference(7, "r1")
    request = kseries.only
    assert (request.method, request.url.path) == ("GET", "/f/finance/7/saleByExternalReference")
    assert dict(request.url.params) == {"externalReferenceId": "TASK:OO-7-r1"}
    assert "Content-Type" not in request.headers
    assert request.content == b""


def test_the_check_read_names_the_account_in_the_path_and_the_location_in_the_query() -> None:
    kseries = Answer(404, {})
    client_for(kseries).account(7, "A1.1")
    request = kseries.only
    assert (request.method, request.url.path) == ("GET", "/o/op/1/order/accounts/A1.1")
    assert dict(request.url.params) == {"businessLocationId": "7"}
    assert "Content-Type" not in request.headers


def test_the_readiness_read_names_the_location_in_the_query() -> None:
    kseries = Answer(200, {"status": "READY"})
    client_for(kseries).readiness(7)
    request = kseries.only
    assert (request.method, request.url.path) == ("GET", "/o/op/1/onlineOrderReadiness")
    assert dict(request.url.params) == {"businessLocationId": "7"}
    assert "Content-Type" not in request.headers


def test_a_new_webhook_endpoint_is_created_with_a_put() -> None:
    answers = iter([httpx.Response(404, json={}), httpx.Response(200, json={})])
    kseries = Answer()
    seen = kseries.requests

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return next(answers)

    assert client_for(handler).register_webhook(REGISTRATION) == "created"
    assert [(r.method, r.url.path) for r in seen] == [
        ("GET", "/o/wh/1/webhook/orderflow"),
        ("PUT", "/o/wh/1/webhook"),
    ]
    assert seen[1].content == dumps(REGISTRATION)
    assert seen[1].headers["Content-Type"] == "application/json"
    assert json.loads(seen[1].content)["subscribeTo"] == [
        {"name": "DELIVERED", "resource": "order"}
    ]


def test_a_known_webhook_endpoint_is_updated_with_a_post() -> None:
    kseries = Answer(200, {"endpointId": "orderflow"})
    assert client_for(kseries).register_webhook(REGISTRATION) == "updated"
    assert [(r.method, r.url.path) for r in kseries.requests] == [
        ("GET", "/o/wh/1/webhook/orderflow"),
        ("POST", "/o/wh/1/webhook"),
    ]
    assert kseries.requests[1].content == dumps(REGISTRATION)


def test_a_webhook_endpoint_is_deleted_by_its_id() -> None:
    kseries = Answer(200, {})
    assert client_for(kseries).delete_webhook("orderflow") is True
    assert (kseries.only.method, kseries.only.url.path) == ("DELETE", "/o/wh/1/webhook/orderflow")


# --- whose credentials a call carries ---------------------------------------------------------


def test_a_call_about_a_location_carries_the_credentials_of_its_business() -> None:
    asked: list[int] = []

    def auth_for(bl: int) -> httpx.Auth:
        asked.append(bl)
        return PIZZA

    seen: list[httpx.Request] = []

    def kseries(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST":
            return httpx.Response(200, json=OK)
        ready = request.url.path.endswith("Readiness")
        return httpx.Response(200, json={"status": "READY"}) if ready else httpx.Response(404)

    client = client_for(kseries, auth=DEFAULT, auth_for=auth_for)
    client.submit_order("toGo", ORDER)
    client.apply_payment(PAYMENT)
    client.readiness(8)
    client.sale_by_reference(9, "r1")
    client.account(10, "A1.1")
    assert asked == [7, 7, 8, 9, 10]
    assert [r.headers["Authorization"] for r in seen] == [PIZZA_HEADER] * 5


def test_a_webhook_call_names_no_location_and_carries_the_clients_own_credentials() -> None:
    asked: list[int] = []

    def auth_for(bl: int) -> httpx.Auth:
        asked.append(bl)
        return PIZZA

    kseries = Answer(200, {"endpointId": "orderflow"})
    client = client_for(kseries, auth=DEFAULT, auth_for=auth_for)
    client.register_webhook(REGISTRATION)
    client.delete_webhook("orderflow")
    assert asked == []
    assert [r.headers["Authorization"] for r in kseries.requests] == [DEFAULT_HEADER] * 3


def test_without_routing_every_call_carries_the_clients_own_credentials() -> None:
    kseries = Answer(200, OK)
    client_for(kseries, auth=DEFAULT).submit_order("local", ORDER)
    assert kseries.only.headers["Authorization"] == DEFAULT_HEADER


def test_a_location_no_login_covers_is_refused_before_anything_is_sent() -> None:
    kseries = Answer(200, OK)
    client = client_for(kseries, auth=DEFAULT, auth_for=lambda bl: None)
    with pytest.raises(AuthError) as caught:
        client.apply_payment(PAYMENT)
    assert kseries.requests == []
    assert (caught.value.status, caught.value.endpoint) == (401, "/o/op/1/pay")
    assert str(caught.value).startswith("/o/op/1/pay answered 401: not_covered; no K-Series login")
    assert not caught.value.retryable


# --- no answer at all -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadTimeout, httpx.RemoteProtocolError],
)
def test_no_answer_is_a_retryable_transport_error_naming_the_call(
    failure: type[httpx.TransportError],
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise failure("no answer", request=request)

    with pytest.raises(TransportError) as caught:
        client_for(handler).sale_by_reference(7, "r1")
    path = "/f/finance/7/saleByExternalReference"
    assert str(caught.value) == f"GET {path}: {failure.__name__}"
    assert caught.value.endpoint == path
    assert caught.value.retryable
    assert isinstance(caught.value.__cause__, failure)


CALLS: dict[str, Callable[[KSeriesClient], object]] = {
    "POST /o/op/1/order/toGo": lambda client: client.submit_order("toGo", ORDER),
    "POST /o/op/1/pay": lambda client: client.apply_payment(PAYMENT),
    "GET /o/op/1/order/accounts/A1.1": lambda client: client.account(7, "A1.1"),
    "GET /o/op/1/onlineOrderReadiness": lambda client: client.readiness(7),
    "GET /o/wh/1/webhook/orderflow": lambda client: client.get_webhook("orderflow"),
    "DELETE /o/wh/1/webhook/orderflow": lambda client: client.delete_webhook("orderflow"),
}


@pytest.mark.parametrize("call", CALLS)
def test_a_timeout_names_the_method_and_path_of_the_call(call: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer", request=request)

    with pytest.raises(TransportError) as caught:
        CALLS[call](client_for(handler))
    assert str(caught.value) == f"{call}: ReadTimeout"
    assert caught.value.endpoint == call.split(" ")[1]


@pytest.mark.parametrize(("found", "call"), [(404, "PUT"), (200, "POST")])
def test_a_timeout_registering_the_webhook_names_the_create_or_the_update(
    found: int, call: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(found, json={"endpointId": "orderflow"})
        raise httpx.ReadTimeout("no answer", request=request)

    with pytest.raises(TransportError) as caught:
        client_for(handler).register_webhook(REGISTRATION)
    assert str(caught.value) == f"{call} /o/wh/1/webhook: ReadTimeout"


def test_a_call_connects_within_three_seconds_and_waits_at_most_ten_for_the_answer() -> None:
    assert default_timeout() == httpx.Timeout(10.0, connect=3.0)
    timeout = default_timeout(10.0)
    assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (3.0, 10.0, 10.0, 10.0)


def test_a_total_timeout_below_three_seconds_bounds_the_connect_too() -> None:
    assert default_timeout(2.5) == httpx.Timeout(2.5, connect=2.5)
    assert default_timeout(30.0) == httpx.Timeout(30.0, connect=3.0)


# --- metric routes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "route"),
    [
        (
            "/f/finance/881782555672578/saleByExternalReference",
            "/f/finance/{bl}/saleByExternalReference",
        ),
        ("/o/op/1/order/accounts/A17700.3", "/o/op/1/order/accounts/{id}"),
        ("/o/wh/1/webhook/orderflow", "/o/wh/1/webhook/{endpointId}"),
        ("/o/op/1/order/local", "/o/op/1/order/local"),
        ("/o/op/1/pay", "/o/op/1/pay"),
        ("/o/wh/1/webhook", "/o/wh/1/webhook"),
        ("/o/op/1/onlineOrderReadiness", "/o/op/1/onlineOrderReadiness"),
    ],
)
def test_a_metric_route_replaces_ids_and_keeps_the_rest_of_the_path(path: str, route: str) -> None:
    assert route_of(path) == route

"""How each K-Series answer is mapped, once: to a result, a model, or the error whose class says
whether a retry can help, carrying the status and the endpoint it came from."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime

import httpx
import pytest

from tests.unit.client_kit import ORDER, PAYMENT, REGISTRATION, Answer, client_for
from worker.errors import (
    AuthError,
    BadResponse,
    FieldError,
    NotFound,
    RateLimited,
    ReferenceAlreadyUsed,
    ServerError,
    UpstreamError,
    ValidationRejected,
)
from worker.kseries.client import _retry_after

ORDER_PATH, PAY_PATH = "/o/op/1/order/local", "/o/op/1/pay"
READINESS = "/o/op/1/onlineOrderReadiness"
USED = "reference has already been used r1"


def raised(kseries: Answer, call: str = "readiness") -> UpstreamError:
    """The error the client raises for K-Series' answer to `call`."""
    client = client_for(kseries)
    calls: dict[str, Callable[[], object]] = {
        "readiness": lambda: client.readiness(7),
        "order": lambda: client.submit_order("local", ORDER),
        "payment": lambda: client.apply_payment(PAYMENT),
        "sale": lambda: client.sale_by_reference(7, "r1"),
        "account": lambda: client.account(7, "A1.1"),
        "get_webhook": lambda: client.get_webhook("orderflow"),
        "delete_webhook": lambda: client.delete_webhook("orderflow"),
    }
    with pytest.raises(UpstreamError) as caught:
        calls[call]()
    return caught.value


# --- status codes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (199, UpstreamError),
        (300, UpstreamError),
        (302, UpstreamError),
        (401, AuthError),
        (403, AuthError),
        (404, NotFound),
        (409, UpstreamError),
        (418, UpstreamError),
        (499, UpstreamError),
        (500, ServerError),
        (504, ServerError),
        (599, ServerError),
    ],
)
def test_each_status_is_mapped_to_its_error_with_the_status_and_endpoint(
    status: int, kind: type[UpstreamError]
) -> None:
    error = raised(Answer(status, {"error": "nope"}))
    assert type(error) is kind
    assert (error.status, error.endpoint) == (status, READINESS)
    assert str(error) == f"{READINESS} answered {status}: nope"
    assert error.retryable is (status >= 500)


@pytest.mark.parametrize("status", [200, 201, 299])
def test_every_2xx_status_is_a_success(status: int) -> None:
    assert client_for(Answer(status, {})).delete_webhook("orderflow") is True


def test_a_409_reference_already_used_outside_an_order_post_is_that_error() -> None:
    error = raised(Answer(409, {"msg": USED}), "payment")
    assert type(error) is ReferenceAlreadyUsed
    assert (error.status, error.endpoint) == (409, PAY_PATH)
    assert not error.retryable


def test_an_order_409_for_another_reason_is_an_error_not_a_duplicate() -> None:
    error = raised(Answer(409, {"msg": "conflict"}), "order")
    assert type(error) is UpstreamError
    assert (error.status, error.endpoint) == (409, ORDER_PATH)


def test_an_order_400_reference_already_used_is_a_rejection_not_a_duplicate() -> None:
    error = raised(Answer(400, {"message": USED}), "order")
    assert type(error) is ValidationRejected


def test_a_payment_400_for_another_reason_is_a_rejection_not_a_duplicate() -> None:
    assert type(raised(Answer(400, {"message": "bad amount"}), "payment")) is ValidationRejected


def test_a_payment_status_other_than_ok_is_a_bad_response() -> None:
    error = raised(Answer(200, {"status": "fail"}), "payment")
    assert type(error) is BadResponse
    assert (error.status, error.endpoint) == (200, PAY_PATH)
    assert error.retryable


@pytest.mark.parametrize(
    "content", [b"", b"not json", b'["ok"]', b'"ok"', b'{"result": "ok"}', b'{"status": "OK"}']
)
def test_an_order_accepted_without_a_status_ok_object_is_a_bad_response(content: bytes) -> None:
    error = raised(Answer(200, content=content), "order")
    assert type(error) is BadResponse
    assert (error.status, error.endpoint) == (200, ORDER_PATH)


def test_an_order_ok_with_other_fields_is_accepted() -> None:
    accepted = client_for(Answer(201, {"status": "ok", "id": 5})).submit_order("local", ORDER)
    assert accepted == "accepted"


# --- 400: which fields --------------------------------------------------------------------------


def test_a_400_names_every_field_with_its_message_and_a_placeholder_for_missing_ones() -> None:
    body = {
        "message": "Validation failed",
        "errors": [
            {"field": "items[0].sku", "defaultMessage": "must not be blank"},
            {"defaultMessage": "unknown"},
            {"field": "staffId"},
        ],
    }
    error = raised(Answer(400, body), "order")
    assert isinstance(error, ValidationRejected)
    assert (error.status, error.endpoint) == (400, ORDER_PATH)
    assert error.field_errors == (
        FieldError("items[0].sku", "must not be blank"),
        FieldError("?", "unknown"),
        FieldError("staffId", "invalid"),
    )
    assert not error.retryable


@pytest.mark.parametrize("key", ["message", "msg"])
def test_a_400_without_field_errors_names_the_request_with_its_message(key: str) -> None:
    error = raised(Answer(400, {key: "location closed"}), "payment")
    assert isinstance(error, ValidationRejected)
    assert error.field_errors == (FieldError("request", "location closed"),)
    assert error.message == "request: location closed"
    assert (error.status, error.endpoint) == (400, PAY_PATH)


def test_a_400_with_neither_fields_nor_message_names_nothing() -> None:
    error = raised(Answer(400, {"status": 400}), "order")
    assert isinstance(error, ValidationRejected)
    assert error.field_errors == ()
    assert error.message == "HTTP 400"


@pytest.mark.parametrize("content", [b"<html>Bad Request</html>", b'{"errors": "none"}'])
def test_a_400_whose_body_is_not_kseries_error_shape_is_still_a_rejection(content: bytes) -> None:
    error = raised(Answer(400, content=content), "order")
    assert type(error) is ValidationRejected
    assert isinstance(error, ValidationRejected)
    assert (error.status, error.endpoint, error.field_errors) == (400, ORDER_PATH, ())


# --- 429 --------------------------------------------------------------------------------------


def test_a_429_without_retry_after_leaves_the_wait_to_the_backoff() -> None:
    error = raised(Answer(429, {}))
    assert isinstance(error, RateLimited)
    assert error.retry_after_s is None
    assert (error.status, error.endpoint) == (429, READINESS)


def test_a_429_with_an_http_date_waits_until_that_date() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    error = raised(Answer(429, {}, headers={"Retry-After": later}), "sale")
    assert isinstance(error, RateLimited)
    assert error.retry_after_s is not None
    assert 50.0 < error.retry_after_s <= 60.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (" 12 ", 12.0),
        ("0", 0.0),
        ("", None),
        (None, None),
        ("1.5", None),
        ("-3", None),
        ("Sun, 22 Nov 2026 12:00:30 -0000", 30.0),  # no zone: taken as UTC
        ("Sun, 22 Nov 2026 13:00:45 +0100", 45.0),
        ("Sun, 22 Nov 2026 11:59:00 GMT", 0.0),  # already past: now
        ("Sun, 31 Nov 2026 12:00:00 GMT", None),
    ],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(
    value: str | None, seconds: float | None
) -> None:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert _retry_after(value, now) == seconds


# --- bodies read as models --------------------------------------------------------------------


def test_the_readiness_answer_is_read_with_exact_decimals() -> None:
    body = b'{"status": "READY", "posStatus": {"load": 0.10}}'
    readiness = client_for(Answer(200, content=body)).readiness(7)
    assert readiness.status == "READY"
    assert readiness.posStatus == {"load": Decimal("0.10")}


@pytest.mark.parametrize("content", [b"", b"{", b'{"posStatus": {}}'])
def test_a_readiness_answer_that_is_not_the_schema_is_a_bad_response(content: bytes) -> None:
    error = raised(Answer(200, content=content))
    assert type(error) is BadResponse
    assert (error.status, error.endpoint) == (200, READINESS)


def test_a_missing_check_is_none_and_a_failed_read_is_an_error() -> None:
    assert client_for(Answer(404, {})).account(7, "A1.1") is None
    error = raised(Answer(503, {}), "account")
    assert type(error) is ServerError
    assert error.endpoint == "/o/op/1/order/accounts/A1.1"


def test_a_check_without_its_amounts_is_a_bad_response() -> None:
    error = raised(Answer(200, {"ikaccountId": "A1.1"}), "account")
    assert type(error) is BadResponse
    assert (error.status, error.endpoint) == (200, "/o/op/1/order/accounts/A1.1")


def test_a_failed_sale_lookup_is_an_error_naming_the_finance_route() -> None:
    error = raised(Answer(401, {}), "sale")
    assert type(error) is AuthError
    assert error.endpoint == "/f/finance/7/saleByExternalReference"


def test_a_webhook_endpoint_is_read_as_sent_with_exact_decimals() -> None:
    body = b'{"endpointId": "orderflow", "weight": 1.50}'
    found = client_for(Answer(200, content=body)).get_webhook("orderflow")
    assert found == {"endpointId": "orderflow", "weight": Decimal("1.50")}
    assert str(found["weight"]) == "1.50"


def test_an_unknown_webhook_endpoint_is_none_and_cannot_be_deleted() -> None:
    assert client_for(Answer(404, {})).get_webhook("orderflow") is None
    assert client_for(Answer(404, {})).delete_webhook("orderflow") is False


@pytest.mark.parametrize("content", [b"", b'["orderflow"]', b"null"])
def test_a_webhook_answer_that_is_not_an_object_is_a_bad_response(content: bytes) -> None:
    error = raised(Answer(200, content=content), "get_webhook")
    assert type(error) is BadResponse
    assert (error.status, error.endpoint) == (200, "/o/wh/1/webhook/orderflow")


@pytest.mark.parametrize("call", ["get_webhook", "delete_webhook"])
def test_a_failed_webhook_call_is_an_error_naming_the_endpoint_route(call: str) -> None:
    error = raised(Answer(403, {}), call)
    assert type(error) is AuthError
    assert error.endpoint == "/o/wh/1/webhook/orderflow"


def test_a_refused_webhook_registration_names_the_fields() -> None:
    answers = iter([httpx.Response(404), httpx.Response(400, json={"errors": [{"field": "url"}]})])
    client = client_for(lambda request: next(answers))
    with pytest.raises(ValidationRejected) as caught:
        client.register_webhook(REGISTRATION)
    assert caught.value.field_errors == (FieldError("url", "invalid"),)
    assert caught.value.endpoint == "/o/wh/1/webhook"

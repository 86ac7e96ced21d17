"""Upstream error bodies never reach failure reasons, history or logs as text: only the status,
K-Series' error code and message and its field errors, with emails and phone numbers removed."""

from __future__ import annotations

import json

import httpx
import pytest
from structlog.testing import capture_logs

from tests.builders import BL
from tests.scripted_kseries import Clock, Script, engine, order_of, queued
from worker.errors import AuthError, ServerError, UpstreamError, ValidationRejected, summarize
from worker.kseries.client import KSeriesClient
from worker.order import Status

EMAIL, PHONE, NAME = "jane.doe@example.com", "+33 6 12 34 56 78", "Doe"
ECHO = {
    "status": 422,
    "message": f"Customer {EMAIL} ({PHONE}) cannot order here",
    "errors": [
        {
            "field": "customerInfo.email",
            "defaultMessage": f"{EMAIL} is not accepted",
            "rejectedValue": EMAIL,
        }
    ],
    "order": {"customerInfo": {"firstName": "Jane", "lastName": NAME, "email": EMAIL}},
}


def leaked(text: str) -> list[str]:
    return [secret for secret in (EMAIL, PHONE, NAME, "12 34 56 78") if secret in text]


def test_a_4xx_echoing_the_customer_keeps_status_fields_and_messages_without_their_data() -> None:
    client = KSeriesClient(
        httpx.Client(
            base_url="https://k.example",
            transport=httpx.MockTransport(lambda r: httpx.Response(422, json=ECHO)),
        )
    )
    with pytest.raises(UpstreamError) as caught:
        client.readiness(BL)
    text = str(caught.value)
    assert leaked(text) == []
    assert text == (
        "/o/op/1/onlineOrderReadiness answered 422: Customer <email> (<phone>) cannot order here;"
        " customerInfo.email: <email> is not accepted"
    )


def test_an_order_refused_with_a_body_echoing_the_customer_keeps_them_out_of_reason_history_and_logs() -> (
    None
):
    # Given K-Series refuses the order with a 422 that echoes the customer back
    clock = Clock()
    script = Script(clock, order_local=[(422, ECHO)])
    e = engine(script)
    queued(e)
    # When the order is sent
    with capture_logs() as logs:
        e.advance(BL, "shop-1")
    # Then the reason names the status and the field, and nothing of the customer
    order = order_of(e, "shop-1")
    assert order.status is Status.FAILED
    assert order.failure_reason is not None
    assert "answered 422" in order.failure_reason
    assert "customerInfo.email" in order.failure_reason
    assert leaked(order.failure_reason) == []
    assert leaked(" ".join(h.detail for h in order.history)) == []
    assert logs
    assert leaked(json.dumps(logs, default=str)) == []


def test_a_400_keeps_its_field_errors_redacted() -> None:
    error = ValidationRejected(
        400,
        json.dumps(
            {"errors": [{"field": "customerInfo.phone", "defaultMessage": f"{PHONE} is bad"}]}
        ),
    )
    assert error.message == "customerInfo.phone: <phone> is bad"


@pytest.mark.parametrize(
    "body",
    [
        f"<html><body>Bad request for {NAME}, {EMAIL}</body></html>",
        f"Customer {NAME} not allowed",
        json.dumps([EMAIL]),
        "[" * 100_000,
    ],
)
def test_a_body_that_is_not_k_series_error_json_is_left_out_entirely(body: str) -> None:
    assert str(ServerError(502, body, endpoint="/x")) == "/x answered 502"


def test_a_bare_error_code_is_kept() -> None:
    assert (
        str(AuthError(401, "invalid_grant", endpoint="token"))
        == "token answered 401: invalid_grant"
    )
    assert (
        summarize(json.dumps({"error": "invalid_token", "error_description": EMAIL}))
        == "invalid_token"
    )

"""Every input of `POST /orders` is bounded: out of bounds is a 422 naming the field, never a 500,
never a record the worker cannot finish (issue 9, items 7, 10 and 11)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.builders import submission_body
from tests.unit.api_harness import BASIC, Harness
from worker.constants import MAX_DELIVERY_TTL_MS, MAX_SCHEDULE_AHEAD_S, RECORD_TTL_S
from worker.kseries.models import REFERENCE_PATTERN


@pytest.fixture
def api() -> Iterator[Harness]:
    yield Harness(max_body_bytes=256 * 1024)


def fields(response: Any) -> set[str]:
    return {error["field"] for error in response.json()["detail"]}


def ahead(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


# --- item 7: amounts, depth, numbers, delivery limit, time horizon, sizes -------------------


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("order.payment.paymentAmount", "1e26"),
        ("order.payment.paymentAmount", 1e26),
        ("order.payment.tipAmount", "1E+27"),
        ("settleRemaining.maxAmount", "1e26"),
        ("order.items.0.customItemPrice", "100000000000"),
    ],
)
def test_an_absurd_amount_is_a_422_naming_the_field(api: Harness, path: str, value: object) -> None:
    body = submission_body("r1")
    target: Any = body
    *parents, leaf = path.split(".")
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[leaf] = value
    response = api.post_raw(json.dumps(body).encode())
    assert response.status_code == 422
    assert path in fields(response)
    assert api.redis.dbsize() == 0


@pytest.mark.parametrize("depth", [40, 100_000])
def test_json_nested_too_deep_is_a_422_naming_the_body(api: Harness, depth: int) -> None:
    response = api.post_raw(b"[" * depth + b"]" * depth)
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"field": "body", "message": "nested deeper than 32 levels"}
    ]


def test_a_webhook_nested_too_deep_is_a_400_and_nothing_is_recorded(api: Harness) -> None:
    response = api.http.post(
        "/webhooks/kseries",
        content=b'{"type":"ORDER","a":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        headers={"Authorization": BASIC, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert api.redis.dbsize() == 0


@pytest.mark.timeout(20)
@pytest.mark.parametrize("number", ["1e999999999", "1e-999999999", "0e999999999", "NaN"])
def test_a_number_that_would_take_forever_to_read_is_a_422_at_once(
    api: Harness, number: str
) -> None:
    # int(Decimal("1e999999999")) builds a billion-digit integer: the API must never try.
    body = json.dumps(submission_body("r1")).replace('"quantity": 1', f'"quantity": {number}')
    response = api.post_raw(body.encode())
    assert response.status_code == 422
    assert fields(response) == {"body"}


@pytest.mark.parametrize("ttl", [10**20, 2**31, MAX_DELIVERY_TTL_MS + 1])
def test_a_delivery_limit_beyond_24_hours_is_a_422(api: Harness, ttl: int) -> None:
    response = api.post(submission_body("r1", maxTimeToAttemptOrderDeliverToPos=ttl))
    assert response.status_code == 422
    assert fields(response) == {"order.maxTimeToAttemptOrderDeliverToPos"}


def test_a_delivery_limit_of_exactly_24_hours_is_accepted(api: Harness) -> None:
    body = submission_body("r1", maxTimeToAttemptOrderDeliverToPos=MAX_DELIVERY_TTL_MS)
    assert api.post(body).status_code == 202


@pytest.mark.parametrize(
    "when",
    [
        "9999-12-31T00:00:00+00:00",
        "9999-12-31T23:59:59-23:59",
        "0001-01-01T00:00:00+23:59",
        "beyond the horizon",  # computed when the test runs: collection may be long before
    ],
)
@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("local", "scheduledTimeForOrderAsIso8601"),
        ("toGo", "scheduledTimeForOrderAsIso8601"),
        ("toGo", "orderCollectionTimeAsIso8601"),
    ],
)
def test_a_time_in_the_past_or_beyond_the_horizon_is_a_422(
    api: Harness, when: str, kind: str, name: str
) -> None:
    if when == "beyond the horizon":
        when = ahead(seconds=MAX_SCHEDULE_AHEAD_S + 3600)
    body = submission_body("r1", **{name: when})
    body["type"] = kind
    response = api.post(body)
    assert response.status_code == 422
    assert fields(response) == {f"order.{name}"}
    assert api.redis.dbsize() == 0


def test_a_time_just_inside_the_horizon_is_accepted(api: Harness) -> None:
    body = submission_body(
        "r1", scheduledTimeForOrderAsIso8601=ahead(seconds=MAX_SCHEDULE_AHEAD_S - 60)
    )
    assert api.post(body).status_code == 202


def test_the_longest_order_ends_well_inside_its_records_retention() -> None:
    # scheduled at the horizon + the longest delivery limit + a day of confirming and settling
    longest_s = MAX_SCHEDULE_AHEAD_S + MAX_DELIVERY_TTL_MS / 1000 + 24 * 3600
    # ... and its producer still has a week to read the outcome.
    assert longest_s + 7 * 24 * 3600 <= RECORD_TTL_S


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("order.orderNote", "x" * 1001),
        ("order.customerInfo.notes", "x" * 1001),
        ("order.customerInfo.lastName", "x" * 129),
        ("order.customerInfo.email", "x" * 255),
        ("order.tableNumber", "x" * 33),
        ("order.accountProfileCode", "x" * 65),
        ("order.items.0.customItemName", "x" * 129),
        ("order.items.0.discountCode", "x" * 65),
        ("order.items.0.quantity", 10_001),
        ("order.items.0.course", 1_001),
        ("order.clientCount", 10_001),
        ("order.staffId", 2**63),
        ("order.businessLocationId", 2**63),
        ("order.payment.paymentMethod", "x" * 65),
    ],
)
def test_every_string_and_number_is_bounded(api: Harness, field: str, value: object) -> None:
    body = submission_body("r1")
    target: Any = body
    *parents, leaf = field.split(".")
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[leaf] = value
    response = api.post(body)
    assert response.status_code == 422
    assert field in fields(response)


def test_lists_are_bounded(api: Harness) -> None:
    too_many_lines = api.post(submission_body("r1", items=[{"sku": "A", "quantity": 1}] * 501))
    crowded = {"sku": "A", "quantity": 1, "modifiers": [{"modifierId": "m"}] * 51}
    too_many_modifiers = api.post(submission_body("r2", items=[crowded]))
    assert fields(too_many_lines) == {"order.items"}
    assert fields(too_many_modifiers) == {"order.items.0.modifiers"}


def test_a_bad_path_parameter_is_a_422_in_the_same_shape(api: Harness) -> None:
    response = api.http.get("/orders/not-a-number/r1")
    assert response.status_code == 422
    assert fields(response) == {"business_location_id"}


# --- item 10: references that cannot round-trip ---------------------------------------------


@pytest.mark.parametrize(
    "reference",
    ["a/b", "a?b", "a#b", " a", "a ", "a\n", "a b", "é", "a%2Fb", ".", "..", ".a", "x" * 49, ""],
)
def test_a_reference_the_status_url_cannot_carry_is_a_422(api: Harness, reference: str) -> None:
    response = api.post(submission_body(reference))
    assert response.status_code == 422
    assert fields(response) == {"order.thirdPartyReference"}
    assert api.redis.dbsize() == 0


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    reference=st.from_regex(REFERENCE_PATTERN, fullmatch=True)
    | st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=50)
)
def test_every_accepted_reference_is_served_at_its_status_url(api: Harness, reference: str) -> None:
    response = api.post(submission_body(reference))
    if response.status_code != 202:
        assert response.status_code == 422
        return
    status = api.http.get(response.json()["statusUrl"])
    assert status.status_code == 200
    assert status.json()["thirdPartyReference"] == reference


# --- item 11: only declared JSON ------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
    ],
)
def test_a_body_not_declared_as_json_is_a_415_and_nothing_is_stored(
    api: Harness, content_type: str | None
) -> None:
    # A web page may send these cross-site without a CORS preflight; application/json it may not.
    response = api.post_raw(json.dumps(submission_body("r1")).encode(), content_type)
    assert response.status_code == 415
    assert response.json()["detail"] == [
        {"field": "Content-Type", "message": "must be application/json"}
    ]
    assert api.redis.dbsize() == 0
    assert api.enqueued == []


@pytest.mark.parametrize("content_type", ["application/json", "Application/JSON; charset=utf-8"])
def test_json_with_or_without_parameters_is_accepted(api: Harness, content_type: str) -> None:
    response = api.post_raw(json.dumps(submission_body("r1")).encode(), content_type)
    assert response.status_code == 202


def test_a_webhook_not_declared_as_json_is_a_415_and_nothing_is_recorded(api: Harness) -> None:
    note = {"type": "ORDER", "status": "FAILURE", "thirdPartyReference": "r1"}
    response = api.http.post(
        "/webhooks/kseries",
        content=json.dumps(note).encode(),
        headers={"Authorization": BASIC, "Content-Type": "text/plain"},
    )
    assert response.status_code == 415
    assert api.notes == []
    assert api.redis.dbsize() == 0

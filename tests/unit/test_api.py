"""The HTTP API on fakeredis: status codes and bodies exactly as interface.md says."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
import structlog.testing
from fastapi.testclient import TestClient

from config.settings import Settings
from tests.builders import BL, submission_body
from tests.unit.api_harness import BASIC, Harness
from worker.api import create_app
from worker.store import OrderStore


@pytest.fixture
def api() -> Iterator[Harness]:
    yield Harness()


def test_a_valid_submission_is_accepted_stored_and_enqueued_once(api: Harness) -> None:
    response = api.post(submission_body("r1"))
    assert response.status_code == 202
    assert response.json() == {
        "businessLocationId": BL,
        "thirdPartyReference": "r1",
        "status": "queued",
        "statusUrl": f"/orders/{BL}/r1",
    }
    assert api.enqueued == [(BL, "r1")]
    stored = api.store.get(BL, "r1")
    assert stored is not None
    assert stored.submission.order.endpointId == "orderflow"
    assert stored.submission.order.maxTimeToAttemptOrderDeliverToPos == 300_000


def test_the_same_body_again_gets_the_same_answer_and_nothing_new_is_enqueued(api: Harness) -> None:
    first = api.post(submission_body("r1"))
    second = api.post(submission_body("r1"))
    assert second.status_code == 202
    assert second.json() == first.json()
    assert api.enqueued == [(BL, "r1")]


def test_the_same_reference_with_a_different_body_is_a_409(api: Harness) -> None:
    api.post(submission_body("r1"))
    response = api.post(submission_body("r1", paid="11.00"))
    assert response.status_code == 409
    assert api.enqueued == [(BL, "r1")]


def test_an_invalid_body_is_a_422_naming_every_bad_field_and_nothing_is_stored(
    api: Harness,
) -> None:
    body = submission_body("", settle="1.234")
    body["order"]["items"][0]["sku"] = "X" * 30
    del body["order"]["customerInfo"]["firstName"]
    body["surprise"] = 1
    response = api.post(body)
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["detail"]}
    assert fields == {
        "order.thirdPartyReference",
        "order.items.0.sku",
        "order.customerInfo.firstName",
        "settleRemaining.maxAmount",
        "surprise",
    }
    assert api.enqueued == []
    assert api.redis.dbsize() == 0


def test_a_delivery_limit_under_the_k_series_minimum_is_rejected(api: Harness) -> None:
    response = api.post(submission_body("r1", maxTimeToAttemptOrderDeliverToPos=1000))
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "order.maxTimeToAttemptOrderDeliverToPos"


def test_a_scheduled_time_in_the_past_is_rejected(api: Harness) -> None:
    response = api.post(
        submission_body("r1", scheduledTimeForOrderAsIso8601="2020-01-01T00:00:00+00:00")
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "order.scheduledTimeForOrderAsIso8601"


def test_an_unknown_type_is_rejected(api: Harness) -> None:
    response = api.post({**submission_body("r1"), "type": "delivery"})
    assert response.status_code == 422


def test_not_json_is_a_422(api: Harness) -> None:
    response = api.http.post(
        "/orders", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "body"


def test_an_oversized_body_is_a_413(api: Harness) -> None:
    body = submission_body("r1", orderNote="x" * 30_000)
    assert api.post(body).status_code == 413
    assert api.redis.dbsize() == 0


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic abc"])
def test_a_missing_or_wrong_token_is_a_401(api: Harness, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    client = TestClient(api.http.app)
    assert client.post("/orders", json=submission_body("r1"), headers=headers).status_code == 401
    assert client.get(f"/orders/{BL}/r1", headers=headers).status_code == 401
    assert api.enqueued == []


def test_an_unknown_order_is_a_404(api: Harness) -> None:
    assert api.http.get(f"/orders/{BL}/nope").status_code == 404


def test_the_order_view_has_status_amounts_and_history_without_personal_data(api: Harness) -> None:
    api.post(submission_body("r1"))
    view = api.http.get(f"/orders/{BL}/r1").json()
    assert view["status"] == "queued"
    assert view["history"][0]["status"] == "queued"
    assert "jane" not in str(view).lower()


def test_a_webhook_with_the_right_credentials_is_recorded_and_handed_off(api: Harness) -> None:
    note = {
        "type": "ORDER",
        "status": "SUCCESS",
        "thirdPartyReference": "r1",
        "businessLocationId": BL,
    }
    response = api.http.post("/webhooks/kseries", json=note, headers={"Authorization": BASIC})
    assert response.status_code == 200
    assert len(api.notes) == 1
    assert api.store.notification(api.notes[0])["payload"] == note  # type: ignore[index]


def test_a_webhook_whose_hand_off_fails_is_still_answered_with_its_recorded_id(
    api: Harness,
) -> None:
    def broker_down(_: str) -> None:
        raise ConnectionError("broker down")

    note = {"type": "ORDER", "status": "SUCCESS", "thirdPartyReference": "r1"}
    app = create_app(
        settings=api.settings,
        store=api.store,
        enqueue=lambda *_: None,
        enqueue_notification=broker_down,
    )
    with structlog.testing.capture_logs() as logs:
        response = TestClient(app).post(
            "/webhooks/kseries", json=note, headers={"Authorization": BASIC}
        )
    assert response.status_code == 200
    note_id = response.json()["id"]
    assert api.store.notification(note_id)["payload"] == note  # type: ignore[index]
    # recorded with a leased timer: a sweeper sends it when the lease runs out
    assert api.redis.zscore("orderflow:timers", f"n:{note_id}") is not None
    assert {"event": "webhook.enqueue_deferred", "error": "ConnectionError"} in [
        {key: line.get(key) for key in ("event", "error")} for line in logs
    ]


@pytest.mark.parametrize(
    "header", [None, "Basic " + base64.b64encode(b"kseries:wrong").decode(), "Bearer x"]
)
def test_a_webhook_with_wrong_or_missing_credentials_is_a_401_and_nothing_is_recorded(
    api: Harness, header: str | None
) -> None:
    note = {"type": "ORDER", "status": "SUCCESS", "thirdPartyReference": "r1"}
    headers = {"Authorization": header} if header else {}
    response = TestClient(api.http.app).post("/webhooks/kseries", json=note, headers=headers)
    assert response.status_code == 401
    assert api.notes == []
    assert api.redis.dbsize() == 0


def test_a_malformed_webhook_is_rejected_and_nothing_is_recorded(api: Harness) -> None:
    headers = {"Authorization": BASIC, "Content-Type": "application/json"}
    assert (
        api.http.post("/webhooks/kseries", content=b"{not json", headers=headers).status_code == 400
    )
    # JSON that is no object is no notification; any object is kept and answered 200
    # (tests/unit/test_notifications_api.py)
    bad = api.http.post("/webhooks/kseries", json=[1, 2], headers={"Authorization": BASIC})
    assert bad.status_code == 422
    assert "body" in str(bad.json())
    assert api.notes == []
    assert api.redis.dbsize() == 0


def test_health_and_readiness(api: Harness) -> None:
    assert api.http.get("/healthz").json() == {"status": "ok"}
    assert api.http.get("/readyz").json() == {"status": "ready"}


def test_metrics_count_orders_by_status(api: Harness) -> None:
    api.post(submission_body("r1"))
    text = api.http.get("/metrics").text
    assert 'orderflow_orders{status="queued"} 1.0' in text


def test_metrics_mirror_the_counts_every_process_keeps_in_redis(api: Harness) -> None:
    api.store.count("kseries_calls", "POST /o/op/1/pay 200", 2)
    api.store.count("transitions", "queued->submitted")
    api.store.count("retries", "submit", 3)
    text = api.http.get("/metrics").text
    assert (
        'orderflow_kseries_calls_total{method="POST",route="/o/op/1/pay",status="200"} 2.0' in text
    )
    assert 'orderflow_transitions_total{from_status="queued",to_status="submitted"} 1.0' in text
    assert 'orderflow_retries_total{call="submit"} 3.0' in text


def test_with_redis_down_the_api_answers_503_and_readiness_says_why() -> None:
    import redis as redis_lib

    dead = OrderStore(redis_lib.Redis(port=1, socket_connect_timeout=0.2, decode_responses=True))
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    app = create_app(
        settings=settings, store=dead, enqueue=lambda *_: None, enqueue_notification=lambda _: None
    )
    client = TestClient(app)
    response = client.post("/orders", json=submission_body("r1"))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "redis" in ready.json()["problems"]
    assert client.get("/healthz").status_code == 200

"""The ops pages' actions (TestClient, fakeredis): replay and resolved by hand; the settings."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import fakeredis
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from config.settings import Settings
from tests.builders import BL
from tests.ops_kit import (
    PASSWORD,
    USER,
    Ops,
    above_max,
    basic,
    configured,
    failed,
)
from worker.ops import ops_router
from worker.order import Status
from worker.store import OrderStore


@pytest.fixture
def ops() -> Iterator[Ops]:
    yield configured()


# --- what they may do ----------------------------------------------------------------------------


def test_resolved_by_hand_ends_needs_attention_in_resolved_with_the_note(ops: Ops) -> None:
    ops.put(above_max())
    token = ops.csrf("shop-7")
    response = ops.post("/ops/resolve", "shop-7", csrf=token, note="paid 10.00 cash\nat the till")
    assert response.status_code == 303
    assert response.headers["location"] == f"/ops/orders/{BL}/shop-7"
    order = ops.get("shop-7")
    assert order.status is Status.RESOLVED
    assert order.history[-1].event == "operator.resolved"
    assert order.history[-1].detail == "by ops: paid 10.00 cash at the till"
    assert order.failure_reason == "remainder 10.00 exceeds the allowed 1.00"  # kept
    assert (BL, "shop-7") in ops.store.keys_with_status(Status.RESOLVED)
    assert (BL, "shop-7") not in ops.store.keys_with_status(Status.NEEDS_ATTENTION)
    page = ops.http.get(f"/ops/orders/{BL}/shop-7", headers=basic()).text
    assert 'id="resolve-form"' not in page
    assert 'id="replay-form"' not in page


def test_only_a_needs_attention_order_is_resolved_and_a_note_is_required(ops: Ops) -> None:
    ops.put(failed())
    ops.put(above_max())
    token = ops.csrf("shop-7")
    refused = ops.post("/ops/resolve", "shop-9", csrf=token, note="done")
    assert refused.status_code == 409
    assert ops.get("shop-9").status is Status.FAILED
    empty = ops.post("/ops/resolve", "shop-7", csrf=token, note="  \n ")
    assert empty.status_code == 422
    assert ops.get("shop-7").status is Status.NEEDS_ATTENTION


def test_replay_sends_a_failed_order_again_under_a_new_reference(ops: Ops) -> None:
    ops.put(failed())
    token = ops.csrf("shop-9")
    response = ops.post("/ops/replay", "shop-9", csrf=token)
    assert response.status_code == 303
    assert response.headers["location"] == f"/ops/orders/{BL}/shop-9-r1"
    assert ops.enqueued == [(BL, "shop-9-r1")]
    assert ops.get("shop-9-r1").status is Status.QUEUED
    assert ops.get("shop-9").history[-1].event == "operator.replay"
    again = ops.post("/ops/replay", "shop-9", csrf=token)
    assert again.status_code == 409
    assert ops.enqueued == [(BL, "shop-9-r1")]


def test_replay_settles_a_needs_attention_order_again_with_a_higher_max_amount(ops: Ops) -> None:
    ops.put(above_max())
    token = ops.csrf("shop-7")
    bad = ops.post("/ops/replay", "shop-7", csrf=token, max_amount="ten")
    assert bad.status_code == 422
    response = ops.post("/ops/replay", "shop-7", csrf=token, max_amount="12.00")
    assert response.status_code == 303
    order = ops.get("shop-7")
    assert order.status is Status.CONFIRMED
    assert order.settle is not None
    assert order.settle.maxAmount == Decimal("12.00")
    assert order.history[-1].event == "operator.replay"
    assert ops.enqueued == [(BL, "shop-7")]


def test_a_replay_whose_hand_off_fails_is_still_stored_for_the_sweeper() -> None:
    store = OrderStore(fakeredis.FakeRedis(decode_responses=True))
    app = FastAPI()

    def broker_down(bl: int, ref: str) -> None:
        raise ConnectionError("broker down")

    settings = Settings(ops_username=USER, ops_password=PASSWORD)
    app.include_router(ops_router(settings=settings, store=store, enqueue=broker_down))
    ops = Ops(store, TestClient(app))
    ops.put(failed())
    response = ops.post("/ops/replay", "shop-9", csrf=ops.csrf("shop-9"))
    assert response.status_code == 303
    assert ops.get("shop-9-r1").status is Status.QUEUED


# --- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "env",
    [
        {"ORDERFLOW_OPS_USERNAME": "ops"},
        {"ORDERFLOW_OPS_PASSWORD": "pw"},
        {"ORDERFLOW_OPS_USERNAME": "", "ORDERFLOW_OPS_PASSWORD": "pw"},
        {"ORDERFLOW_OPS_USERNAME": "a:b", "ORDERFLOW_OPS_PASSWORD": "pw"},
        {"ORDERFLOW_OPS_USERNAME": "ops", "ORDERFLOW_OPS_PASSWORD": ""},
    ],
    ids=["username-only", "password-only", "empty-username", "colon", "empty-password"],
)
def test_half_set_or_unusable_ops_credentials_stop_the_process_at_startup(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match="ORDERFLOW_OPS_"):
        Settings()

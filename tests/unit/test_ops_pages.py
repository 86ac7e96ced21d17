"""The ops pages over HTTP (TestClient, fakeredis): who gets in, what they see, what they may do."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import fakeredis
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from config.settings import Settings
from tests.builders import BL, T0, new_order, policy
from worker.events import OrderNews, Snapshot, SubmitAccepted
from worker.lifecycle import apply
from worker.ops import ops_router
from worker.ops.timeline import EventRow
from worker.order import Order, Status
from worker.store import OrderStore

USER, PASSWORD = "ops", "s3cret-ops"
LOCAL = {"base_url": "http://127.0.0.1", "client": ("127.0.0.1", 50000)}


def basic(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def failed(ref: str = "shop-9") -> Order:
    p = policy()
    order = apply(new_order(ref), SubmitAccepted(), T0, p)
    news = OrderNews("k1", "FAILURE", reason="Not processed before validity ended")
    return apply(order, news, T0 + timedelta(seconds=5), p)


def above_max(ref: str = "shop-7") -> Order:
    p = policy()
    order = apply(new_order(ref, settle="1.00"), SubmitAccepted(), T0, p)
    news = OrderNews("k2", "SUCCESS", snapshot=Snapshot("A1.1", Decimal("20"), Decimal("10")))
    return apply(order, news, T0 + timedelta(seconds=2), p)


def completed(ref: str = "shop-5") -> Order:
    p = policy()
    order = apply(new_order(ref, settle=None), SubmitAccepted(), T0, p)
    return apply(order, OrderNews("k3", "SUCCESS"), T0 + timedelta(seconds=1), p)


@dataclass
class Ops:
    store: OrderStore
    http: TestClient
    enqueued: list[tuple[int, str]] = field(default_factory=list)
    auth: dict[str, str] = field(default_factory=basic)

    def put(self, order: Order) -> Order:
        self.store.create(order, T0)
        return self.store.transition(order.business_location_id, order.reference, lambda _: order)

    def get(self, ref: str) -> Order:
        order = self.store.get(BL, ref)
        assert order is not None
        return order

    def csrf(self, ref: str) -> str:
        page = self.http.get(f"/ops/orders/{BL}/{ref}", headers=self.auth)
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found, page.text
        return found.group(1)

    def post(self, path: str, ref: str, **fields: str) -> object:
        form = {"businessLocationId": str(BL), "reference": ref, **fields}
        return self.http.post(path, data=form, headers=basic(), follow_redirects=False)


def make(settings: Settings, events: object = None, **client: object) -> Ops:
    store = OrderStore(fakeredis.FakeRedis(decode_responses=True))
    enqueued: list[tuple[int, str]] = []
    app = FastAPI()
    app.include_router(
        ops_router(
            settings=settings,
            store=store,
            enqueue=lambda bl, ref: enqueued.append((bl, ref)),
            events=events,  # type: ignore[arg-type]
            clock=lambda: T0 + timedelta(minutes=10),
        )
    )
    return Ops(store, TestClient(app, **client), enqueued)  # type: ignore[arg-type]


@pytest.fixture
def ops() -> Iterator[Ops]:
    yield make(Settings(ops_username=USER, ops_password=PASSWORD))


# --- who gets in --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/ops", f"/ops/orders/{BL}/shop-9"])
def test_a_request_without_credentials_is_asked_for_them(ops: Ops, path: str) -> None:
    ops.put(failed())
    response = ops.http.get(path)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Basic realm="orderflow ops"')
    assert "shop-9" not in response.text


@pytest.mark.parametrize(
    "headers",
    [
        basic(user="admin"),
        basic(password="s3cret-opsX"),
        basic(password=""),
        {"Authorization": "Basic !!!not-base64!!!"},
        {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()},
        {"Authorization": "Basic " + base64.b64encode(b"no-colon-here").decode()},
        {"Authorization": "Bearer s3cret-ops"},
    ],
    ids=[
        "wrong-user",
        "wrong-password",
        "empty-password",
        "undecodable",
        "not-utf8",
        "no-colon",
        "bearer",
    ],
)
def test_wrong_or_undecodable_credentials_are_refused(ops: Ops, headers: dict[str, str]) -> None:
    assert ops.http.get("/ops", headers=headers).status_code == 401


def test_the_right_credentials_open_the_page(ops: Ops) -> None:
    response = ops.http.get("/ops", headers=basic())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src" not in response.headers["Content-Security-Policy"]  # default-src 'none'
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


def test_without_credentials_configured_only_a_loopback_request_is_served() -> None:
    settings = Settings()
    remote = make(settings)  # TestClient's default client is not a loopback address
    refused = remote.http.get("/ops")
    assert refused.status_code == 403
    assert "ORDERFLOW_OPS_USERNAME" in refused.text
    local = make(settings, **LOCAL)
    assert local.http.get("/ops").status_code == 200
    proxied = local.http.get("/ops", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status_code == 403


def test_a_loopback_client_reaching_a_public_address_is_refused_without_credentials() -> None:
    ops = make(Settings(), base_url="http://192.0.2.10", client=("127.0.0.1", 50000))
    assert ops.http.get("/ops").status_code == 403


# --- form tokens --------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "garbage", "1700000000.deadbeef", "9999999999.00"])
def test_a_post_without_a_valid_token_is_refused_and_changes_nothing(
    ops: Ops, token: str | None
) -> None:
    ops.put(above_max())
    before = ops.get("shop-7")
    fields = {"note": "paid cash at the till"} | ({"csrf": token} if token is not None else {})
    for path in ("/ops/resolve", "/ops/replay"):
        response = ops.post(path, "shop-7", **fields)
        assert response.status_code == 403  # type: ignore[attr-defined]
    assert ops.get("shop-7") == before
    assert ops.enqueued == []


def test_a_token_from_another_user_or_another_origin_is_refused(ops: Ops) -> None:
    ops.put(above_max())
    other = make(Settings(ops_username="someone", ops_password=PASSWORD))
    other.auth = basic(user="someone")
    other.put(above_max())
    stolen = other.csrf("shop-7")
    assert ops.post("/ops/resolve", "shop-7", csrf=stolen, note="x").status_code == 403  # type: ignore[attr-defined]
    token = ops.csrf("shop-7")
    response = ops.http.post(
        "/ops/resolve",
        data={"businessLocationId": str(BL), "reference": "shop-7", "csrf": token, "note": "x"},
        headers={**basic(), "Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert ops.get("shop-7").status is Status.NEEDS_ATTENTION


# --- what they see -------------------------------------------------------------------------------


def test_the_index_counts_orders_and_lists_the_ones_to_look_at_with_what_to_do(ops: Ops) -> None:
    ops.put(failed())
    ops.put(above_max())
    ops.put(completed())
    page = ops.http.get("/ops", headers=basic()).text
    assert re.search(r'id="count-failed"[^>]*><b>1</b>', page)
    assert re.search(r'id="count-completed"[^>]*><b>1</b>', page)
    assert re.search(r'id="count-resolved"[^>]*><b>0</b>', page)
    failed_list = page.split('id="list-failed"')[1].split("</table>")[0]
    assert "shop-9" in failed_list
    assert "Not processed before validity ended" in failed_list
    assert "resubmit under a new reference" in failed_list  # README's "what to do"
    attention = page.split('id="list-needs_attention"')[1].split("</table>")[0]
    assert "remainder 10.00 exceeds the allowed 1.00" in attention
    assert "settle on the POS by hand" in attention
    assert "shop-5" not in page  # completed orders are counted, not listed


def test_the_status_filter_lists_only_that_status(ops: Ops) -> None:
    ops.put(failed())
    ops.put(completed())
    page = ops.http.get("/ops?status=completed", headers=basic()).text
    assert 'id="list-completed"' in page
    assert "shop-5" in page
    assert "shop-9" not in page
    assert 'id="list-failed"' not in page
    bad = ops.http.get("/ops?status=bogus", headers=basic())
    assert bad.status_code == 400
    assert "needs_attention" in bad.text


def test_search_finds_an_order_by_reference_at_every_location(ops: Ops) -> None:
    ops.put(failed())
    ops.put(completed())
    page = ops.http.get("/ops?q=shop-5", headers=basic()).text
    found = page.split('id="found"')[1].split("</table>")[0]
    assert f'href="/ops/orders/{BL}/shop-5"' in found
    assert "shop-9" not in found
    nothing = ops.http.get("/ops?q=nope", headers=basic()).text
    assert "Reference “nope”" in nothing
    assert 'id="found"' not in nothing


def test_the_order_page_shows_history_calls_notifications_and_status_events() -> None:
    events = [EventRow("evt_1", "order.failed", T0 + timedelta(seconds=6), "delivered", 2, None)]
    ops = make(Settings(ops_username=USER, ops_password=PASSWORD), events=lambda bl, ref: events)
    ops.put(failed())
    ops.store.record_call(
        BL,
        "shop-9",
        {
            "at": (T0 + timedelta(seconds=1)).isoformat(),
            "method": "POST",
            "path": "/o/op/1/order/local",
            "query": None,
            "status": 200,
            "duration_ms": 41.5,
            "error": None,
            "request": '{"customerInfo": "[redacted]", "thirdPartyReference": "shop-9"}',
            "response": '{"status": "ok"}',
        },
    )
    response = ops.http.get(f"/ops/orders/{BL}/shop-9", headers=basic())
    assert response.status_code == 200
    timeline = response.text.split('id="timeline"')[1].split("</table>")[0]
    assert "POST /o/op/1/order/local" in timeline
    assert "41.5 ms" in timeline
    assert "[redacted]" in timeline
    assert "Jane" not in response.text
    assert "submit.accepted" in timeline  # every history entry
    assert "OrderNews:FAILURE" in timeline
    order = response.text.index("submit.accepted")
    assert (
        order
        < response.text.index("POST /o/op/1/order/local")
        < response.text.index("OrderNews:FAILURE")
    )
    notes = response.text.split('id="notifications"')[1].split("</table>")[0]
    assert "OrderNews:FAILURE" in notes
    sent = response.text.split('id="events"')[1].split("</table>")[0]
    assert "evt_1" in sent
    assert "delivered" in sent
    assert "resubmit under a new reference" in response.text


def test_without_a_status_event_reader_the_page_says_so(ops: Ops) -> None:
    ops.put(failed())
    page = ops.http.get(f"/ops/orders/{BL}/shop-9", headers=basic()).text
    assert 'id="events-off"' in page


def test_an_unknown_order_is_a_404_page(ops: Ops) -> None:
    assert ops.http.get(f"/ops/orders/{BL}/nope", headers=basic()).status_code == 404


def test_untrusted_text_is_escaped(ops: Ops) -> None:
    p = policy()
    order = apply(new_order("shop-3"), SubmitAccepted(), T0, p)
    evil = OrderNews("k9", "FAILURE", reason="<script>alert(1)</script>")
    ops.put(apply(order, evil, T0, p))
    for path in ("/ops", f"/ops/orders/{BL}/shop-3"):
        page = ops.http.get(path, headers=basic()).text
        assert "<script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# --- what they may do ----------------------------------------------------------------------------


def test_resolved_by_hand_ends_needs_attention_in_resolved_with_the_note(ops: Ops) -> None:
    ops.put(above_max())
    token = ops.csrf("shop-7")
    response = ops.post("/ops/resolve", "shop-7", csrf=token, note="paid 10.00 cash\nat the till")
    assert response.status_code == 303  # type: ignore[attr-defined]
    assert response.headers["location"] == f"/ops/orders/{BL}/shop-7"  # type: ignore[attr-defined]
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
    assert refused.status_code == 409  # type: ignore[attr-defined]
    assert ops.get("shop-9").status is Status.FAILED
    empty = ops.post("/ops/resolve", "shop-7", csrf=token, note="  \n ")
    assert empty.status_code == 422  # type: ignore[attr-defined]
    assert ops.get("shop-7").status is Status.NEEDS_ATTENTION


def test_replay_sends_a_failed_order_again_under_a_new_reference(ops: Ops) -> None:
    ops.put(failed())
    token = ops.csrf("shop-9")
    response = ops.post("/ops/replay", "shop-9", csrf=token)
    assert response.status_code == 303  # type: ignore[attr-defined]
    assert response.headers["location"] == f"/ops/orders/{BL}/shop-9-r1"  # type: ignore[attr-defined]
    assert ops.enqueued == [(BL, "shop-9-r1")]
    assert ops.get("shop-9-r1").status is Status.QUEUED
    assert ops.get("shop-9").history[-1].event == "operator.replay"
    again = ops.post("/ops/replay", "shop-9", csrf=token)
    assert again.status_code == 409  # type: ignore[attr-defined]
    assert ops.enqueued == [(BL, "shop-9-r1")]


def test_replay_settles_a_needs_attention_order_again_with_a_higher_max_amount(ops: Ops) -> None:
    ops.put(above_max())
    token = ops.csrf("shop-7")
    bad = ops.post("/ops/replay", "shop-7", csrf=token, max_amount="ten")
    assert bad.status_code == 422  # type: ignore[attr-defined]
    response = ops.post("/ops/replay", "shop-7", csrf=token, max_amount="12.00")
    assert response.status_code == 303  # type: ignore[attr-defined]
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
    assert response.status_code == 303  # type: ignore[attr-defined]
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


def test_the_page_reads_status_events_and_their_delivery_from_the_outbox() -> None:
    from worker.ops.deliveries import outbox_reader
    from worker.status_events import EventOutbox
    from worker.web.views import order_view

    client = fakeredis.FakeRedis(decode_responses=True)
    outbox = EventOutbox(client, view=order_view)
    pipe = client.pipeline()
    outbox.record(pipe, None, failed())
    pipe.execute()
    rows = outbox_reader(outbox)(BL, "shop-9")
    assert [(r.type, r.state, r.attempts) for r in rows] == [
        ("order.queued", "pending", 0),
        ("order.submitted", "pending", 0),
        ("order.failed", "pending", 0),
    ]
    assert rows[-1].at == T0 + timedelta(seconds=5)
    assert all(r.id.startswith("evt_") for r in rows)


def test_readme_code_spans_show_as_code_and_everything_else_stays_escaped() -> None:
    from worker.ops.pages import _code

    assert str(_code("more than `maxAmount` allows <b>")) == (
        "more than <code>maxAmount</code> allows &lt;b&gt;"
    )

"""The ops pages over HTTP (TestClient, fakeredis): who gets in and what they see."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import timedelta

import fakeredis
import pytest

from config.settings import Settings
from tests.builders import BL, T0, new_order, policy
from tests.ops_kit import (
    LOCAL,
    PASSWORD,
    USER,
    Ops,
    above_max,
    basic,
    completed,
    configured,
    failed,
    make,
)
from worker.events import OrderNews, SubmitAccepted
from worker.lifecycle import apply
from worker.ops.timeline import EventRow
from worker.order import Status


@pytest.fixture
def ops() -> Iterator[Ops]:
    yield configured()


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
        assert response.status_code == 403
    assert ops.get("shop-7") == before
    assert ops.enqueued == []


def test_a_token_from_another_user_or_another_origin_is_refused(ops: Ops) -> None:
    ops.put(above_max())
    other = make(Settings(ops_username="someone", ops_password=PASSWORD))
    other.auth = basic(user="someone")
    other.put(above_max())
    stolen = other.csrf("shop-7")
    assert ops.post("/ops/resolve", "shop-7", csrf=stolen, note="x").status_code == 403
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


# --- status events and wording ------------------------------------------------------------------


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

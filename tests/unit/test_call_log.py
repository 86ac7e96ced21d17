"""Every K-Series call made for an order lands in its call log: timed, redacted, capped."""

from __future__ import annotations

import json

import fakeredis
import httpx
import pytest

from tests.builders import BL
from worker import constants as k
from worker.kseries.call_log import RecordingTransport, calls_for, redacted_body
from worker.store import OrderStore


def store() -> OrderStore:
    return OrderStore(fakeredis.FakeRedis(decode_responses=True))


def client(s: OrderStore, handler: httpx.MockTransport) -> httpx.Client:
    return httpx.Client(base_url="https://k.example", transport=RecordingTransport(handler, s))


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"status": "ok", "consumer": {"email": "jane@example.com"}})


def test_a_call_made_for_an_order_is_recorded_with_redacted_bodies() -> None:
    s = store()
    body = (
        b'{"thirdPartyReference": "shop-1", "customerInfo": {"firstName": "Jane"}, "amount": 6.10}'
    )
    headers = {"content-type": "application/json", "authorization": "Bearer tok"}
    with client(s, httpx.MockTransport(ok)) as http, calls_for(BL, "shop-1"):
        answer = http.post("/o/op/1/order/local", content=body, headers=headers)
    assert answer.json()["status"] == "ok"  # the caller still reads the whole answer
    [call] = s.calls(BL, "shop-1")
    assert call["method"] == "POST"
    assert call["path"] == "/o/op/1/order/local"
    assert call["status"] == 200
    assert call["duration_ms"] >= 0
    assert call["error"] is None
    assert "Jane" not in json.dumps(call)
    assert "jane@example.com" not in json.dumps(call)
    assert "tok" not in json.dumps(call)
    assert json.loads(call["request"]) == {
        "thirdPartyReference": "shop-1",
        "customerInfo": "[redacted]",
        "amount": "6.10",
    }
    assert json.loads(call["response"]) == {"status": "ok", "consumer": "[redacted]"}


def test_a_call_that_gets_no_answer_is_recorded_and_still_raises() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    s = store()
    with (
        client(s, httpx.MockTransport(refuse)) as http,
        calls_for(BL, "shop-2"),
        pytest.raises(httpx.ConnectError),
    ):
        http.get("/f/finance/1/saleByExternalReference", params={"externalReferenceId": "x"})
    [call] = s.calls(BL, "shop-2")
    assert call["status"] is None
    assert call["error"] == "ConnectError: connection refused"
    assert call["query"] == "externalReferenceId=x"


def test_calls_made_for_no_order_are_not_recorded() -> None:
    s = store()
    with client(s, httpx.MockTransport(ok)) as http:
        http.get("/o/wh/1/webhook/orderflow")
    redis = s._r  # what the store keeps, read directly: no call-log key at all
    assert not list(redis.scan_iter(k.CALLS_KEY.format(bl="*", ref="*")))


def test_each_order_keeps_only_its_newest_calls_for_as_long_as_its_record() -> None:
    s = store()
    for i in range(k.CALLS_KEEP + 5):
        s.record_call(BL, "shop-3", {"n": i})
    calls = s.calls(BL, "shop-3")
    assert [c["n"] for c in calls] == list(range(5, k.CALLS_KEEP + 5))
    ttl = s._r.ttl(k.CALLS_KEY.format(bl=BL, ref="shop-3"))
    assert 0 < ttl <= k.RECORD_TTL_S


def test_bodies_that_are_not_json_are_never_kept() -> None:
    assert redacted_body(
        b"grant_type=refresh_token&refresh_token=abc", "application/x-www-form-urlencoded"
    ) == ("[42 bytes of application/x-www-form-urlencoded, not kept]")
    assert redacted_body(b"{oops", "application/json") == "[5 bytes, not valid JSON, not kept]"
    assert redacted_body(b"", "application/json") is None


def test_the_engine_records_the_calls_it_makes_for_an_order_under_that_order() -> None:
    from tests.builders import T0, new_order, policy
    from worker.engine import Engine
    from worker.kseries.client import KSeriesClient

    s = store()
    with client(s, httpx.MockTransport(ok)) as http:
        engine = Engine(store=s, client=KSeriesClient(http), policy=policy(), clock=lambda: T0)
        s.create(new_order("shop-4"), T0)
        engine.advance(BL, "shop-4")
    [call] = s.calls(BL, "shop-4")
    assert (call["method"], call["path"], call["status"]) == ("POST", "/o/op/1/order/local", 200)
    assert json.loads(call["request"])["customerInfo"] == "[redacted]"

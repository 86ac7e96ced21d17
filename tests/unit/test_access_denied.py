"""A 403 (a token without access to the location) or a 401 that a refresh did not cure: tries go
minutes apart, the history and metrics say why, and K-Series is never hammered."""

from __future__ import annotations

from datetime import timedelta

from tests.builders import T0, new_order, policy
from tests.scripted_kseries import Clock, Script, engine, order_of, queued, sweep
from worker.events import AccessDenied, SubmitAccepted
from worker.lifecycle import apply
from worker.order import Status

P = policy()
FORBIDDEN = (403, {"error": "forbidden", "message": "no access to business location"})


def test_twenty_orders_answered_403_make_a_few_calls_each_in_two_minutes_not_thousands() -> None:
    # Given a token without access to the location
    clock = Clock()
    script = Script(clock, order_local=[FORBIDDEN], saleByExternalReference=[FORBIDDEN])
    e = engine(script)
    for n in range(20):
        queued(e, f"o{n}", ttl_ms=60_000)
    # When the sweeper runs for two minutes
    sweep(e, 120)
    # Then each order was tried once a minute at most, not in a loop
    assert len(script.requests) <= 20 * 2
    # and, never sent, failed at its submit deadline saying why
    order = order_of(e, "o0")
    assert order.status is Status.FAILED
    assert order.failure_reason == (
        "not sent: access denied by K-Series until the submit deadline (submit:"
        " /o/op/1/order/local answered 403: forbidden; no access to business location)"
    )
    assert script.count("saleByExternalReference") == 0  # refused, so nothing to look for
    denied = [h for h in order.history if h.event == "access.denied"]
    assert denied
    assert "answered 403" in denied[0].detail
    assert "access denied by K-Series" in denied[0].detail
    # and the metrics say so
    retries = e.store.counters("retries")
    assert retries["submit:access_denied"] >= 20
    assert "submit" not in retries


def test_access_denied_backs_off_minutes_doubling_to_the_cap() -> None:
    order = new_order(ttl_ms=3_600_000)
    now = T0
    waits = []
    for _ in range(6):
        order = apply(order, AccessDenied("submit", "answered 403"), now, P)
        assert order.wake_at is not None
        waits.append(order.wake_at - now)
        now = order.wake_at
    minute = timedelta(minutes=1)
    assert waits == [minute, 2 * minute, 4 * minute, 8 * minute, 10 * minute, 10 * minute]


def test_access_denied_while_confirming_waits_minutes_but_still_looks_at_the_deadline() -> None:
    order = apply(new_order(), SubmitAccepted(), T0, P)
    order = apply(order, AccessDenied("sale", "answered 401"), T0 + timedelta(seconds=5), P)
    assert order.status is Status.SUBMITTED
    assert order.wake_at == T0 + timedelta(seconds=65)
    order = apply(order, AccessDenied("sale", "answered 401"), T0 + timedelta(seconds=65), P)
    assert order.wake_at == order.confirm_deadline  # 2 min would be past it: look at it

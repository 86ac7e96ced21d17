"""The chaos run's judge: one right end per order, from what K-Series really did with it."""

from __future__ import annotations

from typing import Any

from bench.chaos.verdict import Truth, judge, truths
from bench.demo import SCENARIOS

SKU = "Could not add item NOPE-404 (not found)"
unknown_sku = next(s for s in SCENARIOS if s.name == "unknown SKU")
settled = next(s for s in SCENARIOS if s.name == "remainder settled")
above_max = next(s for s in SCENARIOS if s.name == "remainder above maxAmount")


def view(status: str, reason: str | None = None, details: tuple[str, ...] = ()) -> dict[str, Any]:
    history = [{"at": "2026-11-25T10:00:00+00:00", "event": "x", "detail": d} for d in details]
    return {"status": status, "failureReason": reason, "history": history}


def gave_up_looking() -> dict[str, Any]:
    lookups = tuple(f"sale: 503 (lookup {n} of 5 after the deadline)" for n in range(1, 5))
    reason = "not confirmed: accepted by K-Series, but its sale could not be looked up (sale: 503)"
    return view("needs_attention", reason, (*lookups, reason))


def test_a_refused_order_failed_with_the_pos_reason_is_right() -> None:
    truth = Truth(accepted=1, outcome="FAILURE", reason=SKU, delivered=frozenset({"FAILURE"}))
    assert judge(unknown_sku, view("failed", SKU), truth).kind == "right"


def test_not_found_by_looking_is_right_only_when_the_failure_notification_never_arrived() -> None:
    lost = Truth(accepted=1, outcome="FAILURE", reason=SKU)
    arrived = Truth(accepted=1, outcome="FAILURE", reason=SKU, delivered=frozenset({"FAILURE"}))
    failed = view("failed", "not on the POS before its delivery deadline")
    assert judge(unknown_sku, failed, lost).kind == "right"
    assert judge(unknown_sku, failed, arrived).kind == "wrong"


def test_an_order_on_the_pos_that_orderflow_failed_is_wrong() -> None:
    truth = Truth(accepted=1, outcome="SUCCESS", delivered=frozenset({"SUCCESS"}))
    verdict = judge(settled, view("failed", "K-Series unreachable: 503"), truth)
    assert verdict.kind == "wrong"
    assert "expected completed" in verdict.why


def test_an_order_that_never_reached_kseries_is_wrong_whatever_orderflow_says() -> None:
    verdict = judge(settled, view("failed", "K-Series unreachable: 429"), Truth())
    assert verdict.kind == "wrong"
    assert "never reached K-Series" in verdict.why


def test_needs_attention_for_a_remainder_must_say_which_remainder() -> None:
    truth = Truth(accepted=1, outcome="SUCCESS")
    right = view("needs_attention", "remainder 22.50 exceeds the allowed 2.00")
    other = view("needs_attention", "payment not applied after 3 attempts")
    assert judge(above_max, right, truth).kind == "right"
    assert judge(above_max, other, truth).kind == "wrong"


def test_could_not_look_is_accepted_only_after_every_late_lookup_failed_and_no_news_came() -> None:
    quiet = Truth(accepted=1, outcome="FAILURE", reason=SKU)
    told = Truth(accepted=1, outcome="FAILURE", reason=SKU, delivered=frozenset({"FAILURE"}))
    early = view("needs_attention", gave_up_looking()["failureReason"], ("sale: 503",))
    assert judge(unknown_sku, gave_up_looking(), quiet).kind == "could_not_look"
    assert judge(unknown_sku, gave_up_looking(), told).kind == "wrong"
    assert judge(unknown_sku, early, quiet).kind == "wrong"


def test_an_order_still_under_way_at_the_end_is_wrong() -> None:
    truth = Truth(accepted=1, outcome="SUCCESS")
    assert judge(settled, view("settling"), truth).kind == "wrong"
    assert judge(settled, None, truth).kind == "wrong"


def test_the_ledger_says_what_reached_orderflow_per_order() -> None:
    ledger = {
        "orders": {"1:a": {"accepted": 2, "outcome": "SUCCESS", "reason": None}},
        "notifications": [
            {"payload": {"type": "ORDER", "status": "SUCCESS", "businessLocationId": 1,
                         "thirdPartyReference": "a"}, "status": 200},
            {"payload": {"type": "ORDER", "status": "CLOSED", "businessLocationId": 1,
                         "thirdPartyReference": "a"}, "status": 503},
            {"payload": {"type": "ORDER", "status": "CLOSED", "businessLocationId": 1,
                         "thirdPartyReference": "a"}, "status": None, "fault": "dropped"},
        ],
    }  # fmt: skip
    assert truths(ledger) == {
        "1:a": Truth(accepted=2, outcome="SUCCESS", delivered=frozenset({"SUCCESS"}))
    }

"""What the engine is told to do next, at each boundary, and the timing it does it with."""

from __future__ import annotations

import re
from dataclasses import fields
from datetime import timedelta

from config.settings import Settings
from tests.builders import T0
from tests.unit.lifecycle_states import (
    S,
    completed,
    confirmed,
    failed,
    fresh,
    needs_attention,
    queued,
    settling,
    submitted,
)
from worker.events import PaymentAccepted
from worker.lifecycle import Action, Policy, apply, backoff, next_action
from worker.lifecycle.policy import new_reference

US = timedelta(microseconds=1)


def test_a_policy_built_without_settings_times_as_the_default_settings_do() -> None:
    built = Policy.from_settings(Settings(_env_file=None))
    bare = Policy()
    timing = [f.name for f in fields(Policy) if f.name not in ("rand", "new_payment_reference")]
    assert {n: getattr(bare, n) for n in timing} == {n: getattr(built, n) for n in timing}


def test_a_payment_reference_is_pay_and_a_fresh_uuid_within_k_series_limit() -> None:
    first, second = new_reference(), new_reference()
    assert re.fullmatch(r"pay-[0-9a-f]{32}", first)
    assert first != second


def test_backoff_doubles_from_its_base_up_to_its_cap_with_equal_jitter() -> None:
    base, cap = timedelta(seconds=1), timedelta(days=100_000)
    assert backoff(30, base, cap, lambda: 1.0) == timedelta(seconds=2**30)
    assert backoff(31, base, cap, lambda: 1.0) == timedelta(seconds=2**30)
    assert backoff(2, base, cap, lambda: 0.0) == timedelta(seconds=2)
    assert backoff(2, base, cap, lambda: 0.5) == timedelta(seconds=3)
    assert backoff(9, base, timedelta(seconds=30), lambda: 0.0) == timedelta(seconds=15)


def test_credential_retries_are_a_minute_apart_doubling_to_ten_minutes() -> None:
    p = fresh()
    assert [p.auth_delay(n) for n in range(6)] == [
        timedelta(seconds=s) for s in (60, 120, 240, 480, 600, 600)
    ]
    assert [p.poll_delay(n) for n in (0, 4, 5)] == [timedelta(seconds=s) for s in (1, 16, 30)]


def test_a_finished_order_needs_nothing() -> None:
    p = fresh()
    for order in (completed(p), failed(p), needs_attention(p)):
        assert next_action(order, T0, p) is Action.NONE


def test_a_queued_order_is_sent_until_its_submit_deadline_and_then_looked_for() -> None:
    p = fresh()
    order = queued()
    assert next_action(order, T0 + 60 * S - US, p) is Action.SUBMIT
    assert next_action(order, T0 + 60 * S, p) is Action.SUBMIT_DEADLINE


def test_an_order_waits_until_its_wake_time_and_acts_at_it() -> None:
    p = fresh()
    order = queued().model_copy(update={"wake_at": T0 + 5 * S})
    assert next_action(order, T0 + 5 * S - US, p) is Action.WAIT
    assert next_action(order, T0 + 5 * S, p) is Action.SUBMIT


def test_a_submitted_order_looks_for_its_sale_and_a_confirmed_one_reads_its_check() -> None:
    p = fresh()
    assert next_action(submitted(p), T0 + 3 * S, p) is Action.POLL_SALE
    assert next_action(confirmed(p), T0 + 3 * S, p) is Action.READ_CHECK
    assert next_action(confirmed(p, account=None), T0 + 3 * S, p) is Action.POLL_SALE


def test_a_settling_order_posts_its_pending_payment_then_reads_the_check() -> None:
    p = fresh()
    order = settling(p)  # pay-1 created at T0 + 1 s
    assert next_action(order, T0 + 301 * S - US, p) is Action.POST_PAYMENT
    assert next_action(order, T0 + 301 * S, p) is Action.READ_CHECK
    accepted = apply(order, PaymentAccepted("pay-1"), T0 + 2 * S, p)
    assert next_action(accepted, T0 + 5 * S, p) is Action.READ_CHECK
    unpaid = order.model_copy(update={"payments": ()})
    assert next_action(unpaid, T0 + 5 * S, p) is Action.READ_CHECK

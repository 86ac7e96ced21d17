"""The policy the lifecycle runs with: built from settings field by field, and the instant a
pending payment stops being sent."""

from __future__ import annotations

from dataclasses import fields
from datetime import timedelta
from decimal import Decimal

from config.settings import Confirmation, Settings
from tests.builders import T0, new_order, policy
from worker.events import SaleFound, Snapshot, SubmitAccepted
from worker.lifecycle import Action, Policy, apply, next_action
from worker.lifecycle.policy import send_until


def test_every_setting_of_the_policy_comes_from_its_own_setting_in_milliseconds() -> None:
    # Given settings whose every value differs from the others and from the defaults
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        confirmation=Confirmation.POLL,
        webhook_wait_ms=1_001,
        poll_initial_ms=1_002,
        poll_max_ms=1_003,
        confirm_grace_ms=1_004,
        payment_grace_ms=1_005,
        payment_ttl_ms=61_006,
        min_ttl_ms=60_000,
        order_ttl_ms=60_000,
        max_payment_attempts=7,
        auth_backoff_ms=1_008,
        auth_backoff_max_ms=1_009,
        timer_lease_ms=1_010,
        rate_limit_spacing_ms=1_011,
    )
    p = Policy.from_settings(settings)
    ms = timedelta(milliseconds=1)
    expected = {
        "confirmation": Confirmation.POLL,
        "webhook_wait": 1_001 * ms,
        "poll_initial": 1_002 * ms,
        "poll_max": 1_003 * ms,
        "confirm_grace": 1_004 * ms,
        "payment_grace": 1_005 * ms,
        "payment_ttl": 61_006 * ms,
        "max_payment_attempts": 7,
        "auth_backoff": 1_008 * ms,
        "auth_backoff_max": 1_009 * ms,
        "lease": 1_010 * ms,
        "rate_limit_spacing": 1_011 * ms,
    }
    actual = {f.name: getattr(p, f.name) for f in fields(p) if f.name in expected}
    assert actual == expected
    # and nothing the settings configure is left at the policy's own default
    configured = {f.name for f in fields(p)} - {"rand", "new_payment_reference"}
    assert configured == set(expected), "a new Policy field needs its setting and this test"


def test_a_pending_payment_is_sent_until_its_ttl_ends_and_not_at_that_instant() -> None:
    p = policy()
    order = apply(new_order(paid="16.50", settle="5.00"), SubmitAccepted(), T0, p)
    sale = Snapshot(account_identifier="A1.1", total=Decimal("18.15"), paid=Decimal("16.50"))
    order = apply(order, SaleFound(sale), T0, p)
    payment = order.current_payment
    assert payment is not None
    until = send_until(payment, p)
    assert until == payment.created_at + p.payment_ttl
    assert next_action(order, until - timedelta(microseconds=1), p) is Action.POST_PAYMENT
    assert next_action(order, until, p) is Action.READ_CHECK

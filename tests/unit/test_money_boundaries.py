"""The money edges: paying exactly `maxAmount`, a cent more, on the first payment and on a retry,
and rounding to the cent half up (as the POS does), never half even."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from tests.builders import T0, new_order, policy
from worker.events import (
    CheckRead,
    PaymentAccepted,
    PaymentNews,
    SaleFound,
    Snapshot,
    SubmitAccepted,
)
from worker.lifecycle import Policy, apply
from worker.money import cents
from worker.order import Order, PaymentStatus, Status

MAX = "5.00"


def on_the_pos(total: str, paid: str, p: Policy, settle: str = MAX) -> Order:
    """An order accepted, then found on the POS with this check."""
    order = apply(new_order(settle=settle), SubmitAccepted(), T0, p)
    snap = Snapshot(account_identifier="A1.1", total=Decimal(total), paid=Decimal(paid))
    return apply(order, SaleFound(snap), T0 + timedelta(seconds=1), p)


def first_payment_timed_out(total: str, paid: str, p: Policy) -> Order:
    """Settling 1.65 (pay-1) that K-Series reports as timed out: the check is read next."""
    order = on_the_pos(total, paid, p)
    reference = order.payments[0].reference
    order = apply(order, PaymentAccepted(reference), T0 + timedelta(seconds=2), p)
    failure = PaymentNews("n1", reference, "FAILURE", "timed out", None, timed_out=True)
    return apply(order, failure, T0 + timedelta(seconds=3), p)


# --- the first payment --------------------------------------------------------------------


def test_a_remainder_of_exactly_max_amount_is_paid() -> None:
    order = on_the_pos("21.50", "16.50", policy())
    assert order.status is Status.SETTLING
    assert [p.amount for p in order.payments] == [Decimal("5.00")]
    assert order.failure_reason is None


def test_a_remainder_one_cent_above_max_amount_is_flagged_and_nothing_is_paid() -> None:
    order = on_the_pos("21.51", "16.50", policy())
    assert order.status is Status.NEEDS_ATTENTION
    assert order.payments == ()
    assert order.failure_reason == "remainder 5.01 exceeds the allowed 5.00"


# --- a retry after a payment known not to be applied ---------------------------------------


def test_a_retry_pays_what_is_outstanding_now_when_it_is_exactly_max_amount() -> None:
    p = policy()
    order = first_payment_timed_out("18.15", "16.50", p)
    # The check now says 5.00 is outstanding (an item was added): exactly the cap.
    snap = Snapshot(account_identifier="A1.1", total=Decimal("21.50"), paid=Decimal("16.50"))
    order = apply(order, CheckRead(snap), T0 + timedelta(seconds=4), p)
    assert order.status is Status.SETTLING
    first, second = order.payments
    assert first.status is PaymentStatus.FAILED
    assert (second.amount, second.attempt) == (Decimal("5.00"), 2)


def test_a_retry_never_pays_above_max_amount_even_when_the_first_attempt_was_below_it() -> None:
    p = policy()
    order = first_payment_timed_out("18.15", "16.50", p)
    # The check now says 5.01 is outstanding: one cent above the cap.
    snap = Snapshot(account_identifier="A1.1", total=Decimal("21.51"), paid=Decimal("16.50"))
    order = apply(order, CheckRead(snap), T0 + timedelta(seconds=4), p)
    assert order.status is Status.NEEDS_ATTENTION
    assert len(order.payments) == 1
    assert order.failure_reason == "remainder 5.01 exceeds the allowed 5.00"


def test_the_retry_cap_is_the_configured_number_of_payment_references() -> None:
    p = policy(max_payment_attempts=2)
    order = first_payment_timed_out("18.15", "16.50", p)
    unpaid = Snapshot(account_identifier="A1.1", total=Decimal("18.15"), paid=Decimal("16.50"))
    order = apply(order, CheckRead(unpaid), T0 + timedelta(seconds=4), p)
    assert len(order.payments) == 2
    second = order.payments[1].reference
    order = apply(order, PaymentAccepted(second), T0 + timedelta(seconds=5), p)
    failure = PaymentNews("n2", second, "FAILURE", "timed out", None, timed_out=True)
    order = apply(order, failure, T0 + timedelta(seconds=6), p)
    order = apply(order, CheckRead(unpaid), T0 + timedelta(seconds=7), p)
    assert order.status is Status.NEEDS_ATTENTION
    assert len(order.payments) == 2
    assert order.failure_reason == "payment not applied after 2 attempts"


# --- rounding -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "rounded"),
    [
        ("0.125", "0.13"),  # half even: 0.12
        ("0.135", "0.14"),
        ("0.005", "0.01"),  # half even: 0.00
        ("1.005", "1.01"),  # half even: 1.00
        ("2.665", "2.67"),  # half even: 2.66
        ("18.124", "18.12"),
        ("18.1251", "18.13"),
        ("-0.125", "-0.13"),  # half up is away from zero
        ("7", "7.00"),
    ],
)
def test_cents_round_half_up_as_the_pos_does(amount: str, rounded: str) -> None:
    result = cents(Decimal(amount))
    assert result == Decimal(rounded)
    assert str(result) == rounded  # and always with two decimals


def test_an_outstanding_amount_with_half_a_cent_is_paid_rounded_up() -> None:
    # 18.125 on the check (tax lines carry more decimals) less 16.50 paid: 1.625 -> 1.63
    order = on_the_pos("18.125", "16.50", policy())
    assert order.total == Decimal("18.13")
    assert order.outstanding == Decimal("1.63")
    assert [p.amount for p in order.payments] == [Decimal("1.63")]

"""Resolved by hand: the one decision an operator makes about a needs_attention order."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from tests.builders import T0, new_order, policy
from worker.events import OrderNews, Snapshot, SubmitAccepted
from worker.lifecycle import Action, apply, next_action
from worker.lifecycle.operator import MAX_NOTE, ResolveRefused, resolve_by_hand
from worker.order import Order, Status

LATER = T0 + timedelta(hours=1)


def needs_attention() -> Order:
    p = policy()
    order = apply(new_order(settle="1.00"), SubmitAccepted(), T0, p)
    news = OrderNews("k", "SUCCESS", snapshot=Snapshot("A1.1", Decimal("20"), Decimal("10")))
    return apply(order, news, T0, p)


def test_a_needs_attention_order_resolved_by_hand_ends_resolved_with_who_and_why() -> None:
    before = needs_attention()
    after = resolve_by_hand(before, LATER, "took 10.00 cash at the till", by="ops")
    assert after.status is Status.RESOLVED
    assert after.status.terminal
    assert after.wake_at is None
    assert after.failure_reason == before.failure_reason
    assert after.history[:-1] == before.history
    last = after.history[-1]
    assert (last.at, last.status, last.event) == (LATER, Status.RESOLVED, "operator.resolved")
    assert last.detail == "by ops: took 10.00 cash at the till"
    assert next_action(after, LATER, policy()) is Action.NONE


@pytest.mark.parametrize("status", ["queued", "completed", "failed", "resolved"])
def test_only_needs_attention_can_be_resolved_by_hand(status: str) -> None:
    order = needs_attention().model_copy(update={"status": Status(status)})
    with pytest.raises(ResolveRefused):
        resolve_by_hand(order, LATER, "done")


def test_the_note_is_one_printable_line_and_required() -> None:
    after = resolve_by_hand(needs_attention(), LATER, " paid\r\n\tat\x00the\x1b[31m till ")
    assert after.history[-1].detail == "by operator: paid at the [31m till"
    with pytest.raises(ValueError, match="empty"):
        resolve_by_hand(needs_attention(), LATER, " \n\t ")
    with pytest.raises(ValueError, match="longer"):
        resolve_by_hand(needs_attention(), LATER, "x" * (MAX_NOTE + 1))


def test_a_resolved_order_stays_resolved_whatever_news_arrives() -> None:
    resolved = resolve_by_hand(needs_attention(), LATER, "settled")
    late = apply(resolved, OrderNews("k2", "CANCELLED"), LATER, policy())
    assert late.status is Status.RESOLVED

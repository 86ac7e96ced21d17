"""Resolved by hand, at its edges: the note's length limit and the exact refusals."""

from __future__ import annotations

import pytest

from tests.builders import T0
from tests.unit.lifecycle_states import S, fresh, needs_attention, settling
from worker.lifecycle.operator import MAX_NOTE, ResolveRefused, resolve_by_hand
from worker.order import Status


def test_a_note_of_exactly_the_limit_is_kept_whole_and_one_more_character_is_refused() -> None:
    assert MAX_NOTE == 500
    order = needs_attention(fresh())
    after = resolve_by_hand(order, T0 + S, "x" * 500)
    assert after.history[-1].detail == "by operator: " + "x" * 500
    with pytest.raises(ValueError) as caught:
        resolve_by_hand(order, T0 + S, "x" * 501)
    assert str(caught.value) == "the note is longer than 500 characters"


def test_the_length_limit_counts_the_note_as_kept_not_as_typed() -> None:
    order = needs_attention(fresh())
    after = resolve_by_hand(order, T0 + S, "  " + "x" * 500 + "\n")
    assert after.history[-1].detail == "by operator: " + "x" * 500


def test_an_empty_note_is_refused_saying_what_to_write() -> None:
    with pytest.raises(ValueError) as caught:
        resolve_by_hand(needs_attention(fresh()), T0 + S, "\x00\n")
    assert str(caught.value) == "say how it was resolved (the note is empty)"


def test_an_order_not_needing_attention_is_refused_naming_it_and_its_status() -> None:
    with pytest.raises(ResolveRefused) as caught:
        resolve_by_hand(settling(fresh()), T0 + S, "done")
    assert str(caught.value) == (
        "45454565682155:shop-1 is settling: only a needs_attention order is resolved by hand"
    )


def test_resolving_clears_the_timer_and_records_who_did_it() -> None:
    order = needs_attention(fresh()).model_copy(update={"wake_at": T0})
    after = resolve_by_hand(order, T0 + S, "voided", by="ana")
    assert (after.status, after.wake_at) == (Status.RESOLVED, None)
    entry = after.history[-1]
    assert (entry.at, entry.status, entry.event, entry.detail) == (
        T0 + S,
        Status.RESOLVED,
        "operator.resolved",
        "by ana: voided",
    )

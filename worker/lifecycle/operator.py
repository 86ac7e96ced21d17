"""What an operator may decide about an order by hand, as pure functions like the rest.

"Resolved by hand": the shop settled a `needs_attention` order on the POS itself (took the
remaining payment at the till, voided the check). The order ends in `resolved`, a terminal
status of its own, so it leaves the list a person must look at while the record keeps what
happened: the reason it needed attention stays, and the history says who resolved it and why.
"""

from __future__ import annotations

from datetime import datetime

from worker.lifecycle.moves import history
from worker.order import HistoryEntry, Order, Status

__all__ = ["MAX_NOTE", "OPERATOR_RESOLVED", "ResolveRefused", "resolve_by_hand"]

OPERATOR_RESOLVED = "operator.resolved"
MAX_NOTE = 500


class ResolveRefused(ValueError):
    """The order is not in a state an operator may resolve by hand."""


def resolve_by_hand(order: Order, now: datetime, note: str, *, by: str = "operator") -> Order:
    """`needs_attention` -> `resolved`, with the operator's note in the history.

    Raises:
        ResolveRefused: the order is not `needs_attention`.
        ValueError: the note is empty or too long.
    """
    if order.status is not Status.NEEDS_ATTENTION:
        raise ResolveRefused(
            f"{order.key} is {order.status}: only a needs_attention order is resolved by hand"
        )
    # One printable line: no control characters reach the history, the CLI or a log.
    text = " ".join("".join(c if c.isprintable() else " " for c in note).split())
    if not text:
        raise ValueError("say how it was resolved (the note is empty)")
    if len(text) > MAX_NOTE:
        raise ValueError(f"the note is longer than {MAX_NOTE} characters")
    entry = HistoryEntry(
        at=now, status=Status.RESOLVED, event=OPERATOR_RESOLVED, detail=f"by {by}: {text}"
    )
    return order.model_copy(
        update={"status": Status.RESOLVED, "wake_at": None, "history": history(order, entry)}
    )

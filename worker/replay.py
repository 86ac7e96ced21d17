"""`orderflow replay`: an operator re-drives a `failed` or `needs_attention` order on purpose.

An order that never reached the POS is sent again under a new reference (K-Series refuses a
reused one), the two records linked both ways. An order that is on the POS but could not be
settled is settled again, optionally with a higher `maxAmount`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from worker.errors import OrderflowError, OrderNotFound
from worker.lifecycle import reopen_for_settlement
from worker.order import HistoryEntry, Order, SettleRemaining, Status
from worker.store import OrderStore

__all__ = ["ReplayRefused", "replay"]

MAX_REFERENCE = 48


class ReplayRefused(OrderflowError):
    """The order is not in a state an operator may replay."""


def _new_reference(order: Order) -> str:
    if order.replay_of and "-r" in order.reference:
        head, _, tail = order.reference.rpartition("-r")
        if tail.isdigit():
            return f"{head}-r{int(tail) + 1}"
    suffix = "-r1"
    return order.reference[: MAX_REFERENCE - len(suffix)] + suffix


def replay(
    store: OrderStore,
    bl: int,
    ref: str,
    *,
    now: datetime,
    enqueue: Callable[[int, str], None],
    new_order: bool = False,
    max_amount: Decimal | None = None,
) -> Order:
    """Re-drive one order; returns the order that will now move (the new one, or the same)."""
    order = store.get(bl, ref)
    if order is None:
        raise OrderNotFound(bl, ref)
    if order.status not in (Status.FAILED, Status.NEEDS_ATTENTION):
        raise ReplayRefused(
            f"{order.key} is {order.status}: only failed or needs_attention orders are replayed"
        )
    if order.replayed_as:
        raise ReplayRefused(f"{order.key} was already replayed as {order.replayed_as}")
    on_pos = order.status is Status.NEEDS_ATTENTION and order.account_identifier is not None
    if on_pos and not new_order:
        settle = order.settle
        if settle is None:
            raise ReplayRefused(f"{order.key} has no settleRemaining to settle again")
        submission = order.submission
        if max_amount is not None:
            submission = submission.model_copy(
                update={
                    "settleRemaining": SettleRemaining(
                        paymentMethod=settle.paymentMethod, maxAmount=max_amount
                    )
                }
            )
        note = "settle again" + (f" with maxAmount {max_amount}" if max_amount is not None else "")
        after = store.transition(
            bl,
            ref,
            lambda o: reopen_for_settlement(
                o.model_copy(update={"submission": submission}), now, note
            ),
        )
        enqueue(bl, ref)
        return after
    return _resend(store, order, now=now, enqueue=enqueue)


def _resend(
    store: OrderStore, order: Order, *, now: datetime, enqueue: Callable[[int, str], None]
) -> Order:
    reference = _new_reference(order)
    body = order.submission.order.model_copy(update={"thirdPartyReference": reference})
    submission = order.submission.model_copy(update={"order": body})
    fresh = Order.queued(
        submission,
        now,
        order.delivery_ttl_ms,
        event="operator.replay",
        detail=f"replay of {order.reference}",
        replay_of=order.key,
    )
    created, is_new = store.create(fresh, now)
    if not is_new:
        raise ReplayRefused(f"reference {reference} is already taken")

    def link(o: Order) -> Order:
        entry = HistoryEntry(
            at=now, status=o.status, event="operator.replay", detail=f"replayed as {reference}"
        )
        return o.model_copy(update={"replayed_as": created.key, "history": (*o.history, entry)})

    store.transition(order.business_location_id, order.reference, link)
    enqueue(created.business_location_id, created.reference)
    return created

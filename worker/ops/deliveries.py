"""The status events of one order, as the ops page shows them: read from their outbox."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from worker.ops.timeline import EventRow
from worker.status_events import EventOutbox

__all__ = ["outbox_reader"]


def _at(timestamp: str) -> datetime:
    try:
        at = datetime.fromisoformat(timestamp)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def outbox_reader(outbox: EventOutbox) -> Callable[[int, str], list[EventRow]]:
    """`events(bl, ref)` for `ops_router`: every event queued for the order and its delivery."""

    def events(bl: int, ref: str) -> list[EventRow]:
        return [
            EventRow(
                id=d.id,
                type=d.type,
                at=_at(d.timestamp),
                state=str(d.state),
                attempts=d.attempts,
                error=d.error,
            )
            for d in outbox.events(bl, ref).deliveries
        ]

    return events

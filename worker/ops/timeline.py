"""One order's timeline for the ops page: its history, its K-Series calls and its status
events, merged in time order. Pure: the route reads the store and hands the pieces in."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from worker.order import HistoryEntry, Order

__all__ = ["NOTIFICATION_EVENTS", "EventRow", "Line", "notifications", "timeline"]

# History events that record a K-Series notification (worker.lifecycle.moves.event_name).
NOTIFICATION_EVENTS = ("OrderNews", "PaymentNews", "AccountNews")


@dataclass(frozen=True)
class EventRow:
    """A status event sent (or to be sent) to the producer, and where its delivery stands."""

    id: str
    type: str
    at: datetime
    state: str
    attempts: int
    error: str | None = None


@dataclass(frozen=True)
class Line:
    """One row of the timeline."""

    at: datetime
    kind: str  # history | operator | notification | call | event
    title: str
    status: str
    detail: str
    bodies: Mapping[str, str] = field(default_factory=dict)  # redacted request / response


def _kind(entry: HistoryEntry) -> str:
    if entry.event.startswith(NOTIFICATION_EVENTS):
        return "notification"
    if entry.event.startswith("operator."):
        return "operator"
    return "history"


def _when(value: Any) -> datetime:
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _call(call: Mapping[str, Any]) -> Line:
    path = str(call.get("path", ""))
    if call.get("query"):
        path = f"{path}?{call['query']}"
    status = call.get("status")
    parts = [f"{call.get('duration_ms', '?')} ms"]
    if call.get("error"):
        parts.append(str(call["error"]))
    bodies = {
        label: str(call[name])
        for name, label in (("request", "request body"), ("response", "response body"))
        if call.get(name)
    }
    return Line(
        at=_when(call.get("at")),
        kind="call",
        title=f"{call.get('method', '?')} {path}",
        status="no answer" if status is None else str(status),
        detail="; ".join(parts),
        bodies=bodies,
    )


def _event(row: EventRow) -> Line:
    tries = f"{row.attempts} attempt{'s' if row.attempts != 1 else ''}"
    detail = f"{tries}; {row.error}" if row.error else tries
    return Line(at=row.at, kind="event", title=row.type, status=row.state, detail=detail)


def timeline(
    order: Order, calls: Iterable[Mapping[str, Any]], events: Sequence[EventRow] = ()
) -> list[Line]:
    """Everything that happened to the order, oldest first (ties keep each source's order)."""
    lines = [
        Line(at=h.at, kind=_kind(h), title=h.event, status=str(h.status), detail=h.detail)
        for h in order.history
    ]
    lines += [_call(c) for c in calls]
    lines += [_event(e) for e in events]
    return sorted(lines, key=lambda line: line.at)


def notifications(order: Order) -> list[HistoryEntry]:
    """The notifications K-Series sent about the order, as its history recorded each one."""
    return [h for h in order.history if _kind(h) == "notification"]

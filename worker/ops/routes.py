"""The ops pages (interface.md): `GET /ops`, `GET /ops/orders/{bl}/{ref}`, and two actions.

Handlers gate, read the store, render; the two POSTs check their form token and call one
function each: `worker.replay.replay` (what `orderflow replay` does) and
`worker.lifecycle.operator.resolve_by_hand`. Both leave an `operator.*` entry in the history.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

import structlog
from fastapi import APIRouter, Request
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from config.settings import Settings
from worker.errors import OrderNotFound, StoreUnavailable
from worker.lifecycle.operator import ResolveRefused, resolve_by_hand
from worker.money import Money
from worker.ops.access import Denied, OpsAccess
from worker.ops.advice import Advice, advice_for
from worker.ops.pages import page
from worker.ops.timeline import EventRow, notifications, timeline
from worker.order import Order, Status
from worker.replay import MAX_REFERENCE, ReplayRefused, replay
from worker.store import OrderStore

if TYPE_CHECKING:
    from worker.runtime import Runtime

__all__ = ["EventReader", "ops_router", "ops_router_for"]

log = structlog.get_logger(__name__)

LIST_LIMIT = 200
MAX_FORM_BYTES = 8_192
EventReader = Callable[[int, str], Sequence[EventRow]]
_MONEY: TypeAdapter[Decimal] = TypeAdapter(Money)
CHALLENGE = {"WWW-Authenticate": 'Basic realm="orderflow ops", charset="UTF-8"'}


@dataclass(frozen=True)
class Row:
    """One order in a list."""

    business_location_id: int
    reference: str
    status: str
    reason: str
    advice: Advice
    last_at: datetime


def _row(order: Order) -> Row:
    return Row(
        business_location_id=order.business_location_id,
        reference=order.reference,
        status=str(order.status),
        reason=order.failure_reason or "",
        advice=advice_for(order.status, order.failure_reason),
        last_at=order.history[-1].at if order.history else order.created_at,
    )


def _order_url(bl: int, ref: str) -> str:
    return f"/ops/orders/{bl}/{quote(ref, safe='')}"


def _message(status: int, title: str, text: str, *, back: str = "/ops") -> Response:
    headers = CHALLENGE if status == 401 else None
    return page("message.html", code=status, headers=headers, title=title, text=text, back=back)


def _refusal(denied: Denied) -> Response:
    title = "Sign in" if denied.challenge else "Refused"
    return _message(denied.status, title, denied.message)


class _Reads:
    """What the pages read from the store (blocking: run in the thread pool)."""

    def __init__(self, store: OrderStore, events: EventReader | None) -> None:
        self.store = store
        self.events = events

    def rows(self, status: Status) -> tuple[list[Row], int]:
        keys = self.store.keys_with_status(status)
        orders = (self.store.get(bl, ref) for bl, ref in keys[:LIST_LIMIT])
        rows = sorted((_row(o) for o in orders if o), key=lambda r: r.last_at, reverse=True)
        return rows, max(0, len(keys) - LIST_LIMIT)

    def search(self, reference: str) -> list[Row]:
        found = (self.store.get(bl, reference) for bl in self.store.locations_for(reference))
        return [_row(o) for o in found if o]

    def index(self, status: Status | None, query: str) -> dict[str, Any]:
        counts = self.store.count_by_status()
        wanted = [status] if status else [Status.NEEDS_ATTENTION, Status.FAILED]
        sections = [(s, *self.rows(s)) for s in wanted]
        # References are at most 48 characters: a longer query cannot match (and is not looked up).
        found = (self.search(query) if len(query) <= MAX_REFERENCE else []) if query else None
        return {
            "counts": [(s, counts.get(s, 0)) for s in Status],
            "sections": sections,
            "found": found,
        }

    def order(self, bl: int, ref: str) -> dict[str, Any] | None:
        order = self.store.get(bl, ref)
        if order is None:
            return None
        events = list(self.events(bl, ref)) if self.events else None
        return {
            "order": order,
            "advice": advice_for(order.status, order.failure_reason),
            "lines": timeline(order, self.store.calls(bl, ref), events or ()),
            "notifications": notifications(order),
            "events": events,
        }


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {name: values[-1] for name, values in fields.items()}


@dataclass(frozen=True)
class _Post:
    """A POST that passed the gate and the token check."""

    user: str
    form: dict[str, str]
    business_location_id: int
    reference: str

    @property
    def back(self) -> str:
        return _order_url(self.business_location_id, self.reference)


class _Pages:
    """The handlers; each gates first, then reads or acts in the thread pool."""

    def __init__(
        self,
        access: OpsAccess,
        reads: _Reads,
        enqueue: Callable[[int, str], None],
        clock: Callable[[], datetime],
    ) -> None:
        self.access = access
        self.reads = reads
        self.store = reads.store
        self.enqueue = enqueue
        self.clock = clock

    async def index(self, request: Request, status: str = "", q: str = "") -> Response:
        user = self.access.user(request)
        if isinstance(user, Denied):
            return _refusal(user)
        if status and status not in {s.value for s in Status}:
            valid = ", ".join(Status)
            return _message(400, "Unknown status", f"status must be one of: {valid}")
        query = q.strip()
        wanted = Status(status) if status else None
        try:
            view = await run_in_threadpool(self.reads.index, wanted, query)
        except StoreUnavailable:
            return _message(503, "Redis unavailable", "the order store cannot be read; retry")
        return page("index.html", user=user, selected=status, q=query, **view)

    async def order(self, request: Request, business_location_id: int, reference: str) -> Response:
        user = self.access.user(request)
        if isinstance(user, Denied):
            return _refusal(user)
        try:
            view = await run_in_threadpool(self.reads.order, business_location_id, reference)
        except StoreUnavailable:
            return _message(503, "Redis unavailable", "the order store cannot be read; retry")
        if view is None:
            return _message(404, "No such order", f"no order {business_location_id}/{reference}")
        return page("order.html", user=user, csrf=self.access.token(user), **view)

    async def _checked(self, request: Request) -> _Post | Response:
        """Gate, token and target of a POST; a response when it must stop here."""
        user = self.access.user(request)
        if isinstance(user, Denied):
            return _refusal(user)
        form = await _form(request)
        refused = self.access.check_post(request, user, form.get("csrf"))
        if refused is not None:
            log.warning("ops.csrf_refused", reason=refused.message)
            return _refusal(refused)
        try:
            bl = int(form.get("businessLocationId", ""))
        except ValueError:
            return _message(422, "Bad request", "businessLocationId must be a number")
        return _Post(user, form, bl, form.get("reference", ""))

    def _handed_on(self, bl: int, ref: str) -> None:
        """The order is stored with a leased timer: if the broker is down, the sweeper sends it."""
        try:
            self.enqueue(bl, ref)
        except Exception as exc:
            log.warning("ops.enqueue_deferred", error=type(exc).__name__)

    async def replay(self, request: Request) -> Response:
        post = await self._checked(request)
        if isinstance(post, Response):
            return post
        bl, ref, raw_amount = post.business_location_id, post.reference, post.form.get("max_amount")
        max_amount = None
        if raw_amount and raw_amount.strip():
            try:
                max_amount = _MONEY.validate_python(raw_amount.strip())
            except ValidationError:
                return _message(422, "Bad amount", "max amount: an amount", back=post.back)

        def act() -> Order:
            return replay(
                self.store,
                bl,
                ref,
                now=self.clock(),
                enqueue=self._handed_on,
                new_order=post.form.get("new_order") == "on",
                max_amount=max_amount,
            )

        try:
            after = await run_in_threadpool(act)
        except OrderNotFound:
            return _message(404, "No such order", f"no order {bl}/{ref}")
        except (ReplayRefused, ValueError) as exc:
            return _message(409, "Not replayed", str(exc), back=post.back)
        log.info("ops.replay", business_location_id=bl, reference=ref, then=after.reference)
        return RedirectResponse(_order_url(bl, after.reference), status_code=303)

    async def resolve(self, request: Request) -> Response:
        post = await self._checked(request)
        if isinstance(post, Response):
            return post
        bl, ref, note = post.business_location_id, post.reference, post.form.get("note", "")

        def change(order: Order) -> Order:
            return resolve_by_hand(order, self.clock(), note, by=post.user)

        try:
            await run_in_threadpool(self.store.transition, bl, ref, change)
        except OrderNotFound:
            return _message(404, "No such order", f"no order {bl}/{ref}")
        except ResolveRefused as exc:
            return _message(409, "Not resolved", str(exc), back=post.back)
        except ValueError as exc:
            return _message(422, "Not resolved", str(exc), back=post.back)
        log.info("ops.resolved", business_location_id=bl, reference=ref)
        return RedirectResponse(post.back, status_code=303)


def utcnow() -> datetime:
    return datetime.now(UTC)


def ops_router(
    *,
    settings: Settings,
    store: OrderStore,
    enqueue: Callable[[int, str], None],
    events: EventReader | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> APIRouter:
    """The ops pages, for the API to mount (`app.include_router(ops_router(...))`).

    `enqueue(bl, ref)` hands a replayed order to the workers; `events(bl, ref)` reads the
    order's status events (None: the page says they are not available).
    """
    access = OpsAccess(settings)
    if not access.configured:
        log.warning("ops.local_only", hint="set ORDERFLOW_OPS_USERNAME/PASSWORD to serve /ops")
    pages = _Pages(access, _Reads(store, events), enqueue, clock)
    router = APIRouter(prefix="/ops", include_in_schema=False)
    router.add_api_route("", pages.index, methods=["GET"])
    router.add_api_route("/orders/{business_location_id}/{reference:path}", pages.order)
    router.add_api_route("/replay", pages.replay, methods=["POST"])
    router.add_api_route("/resolve", pages.resolve, methods=["POST"])
    return router


def ops_router_for(runtime: Runtime, enqueue: Callable[[int, str], None]) -> APIRouter:
    """The production wiring: the process's store, and status events when they are on."""
    from worker.ops.deliveries import outbox_reader

    events = outbox_reader(runtime.status_events) if runtime.settings.events_url else None
    return ops_router(
        settings=runtime.settings, store=runtime.store, enqueue=enqueue, events=events
    )

"""The HTTP API (interface.md): producers submit and look up orders; K-Series delivers webhooks.

Handlers authenticate, parse, call one function and answer; the lifecycle lives elsewhere.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from config.settings import Settings
from worker.engine import utcnow
from worker.errors import InvalidSubmission, ReferenceConflict, StoreUnavailable
from worker.notifications import parse_notification
from worker.order import Order
from worker.producer import Enqueue, Producer, field_errors
from worker.store import OrderStore

__all__ = ["create_app", "order_view"]

log = structlog.get_logger(__name__)


def order_view(order: Order) -> dict[str, Any]:
    """An order as `GET /orders/{bl}/{ref}` shows it: amounts as strings, no personal data."""
    return {
        "businessLocationId": order.business_location_id,
        "thirdPartyReference": order.reference,
        "type": order.submission.type,
        "status": str(order.status),
        "accountIdentifier": order.account_identifier,
        "totalAmount": None if order.total is None else str(order.total),
        "outstandingAmount": None if order.outstanding is None else str(order.outstanding),
        "failureReason": order.failure_reason,
        "confirmDeadline": order.confirm_deadline.isoformat() if order.confirm_deadline else None,
        "payments": [
            {
                "thirdPartyPaymentReference": p.reference,
                "amount": str(p.amount),
                "status": str(p.status),
                "attempt": p.attempt,
            }
            for p in order.payments
        ],
        "replayOf": order.replay_of,
        "replayedAs": order.replayed_as,
        "history": [
            {"at": h.at.isoformat(), "status": str(h.status), "event": h.event, "detail": h.detail}
            for h in order.history
        ],
    }


def _error(status: int, detail: Any, **headers: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers or None)


class _BodyLimit:
    """413 before reading a body whose Content-Length is over the limit (handlers check the
    bytes themselves). Plain ASGI: BaseHTTPMiddleware costs every request a task group and a
    streamed response, a third of the API's CPU under load (bench profile)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self._app = app
        self._limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = Headers(scope=scope).get("content-length")
            if length and length.isdigit() and int(length) > self._limit:
                response = _error(413, f"body larger than {self._limit} bytes")
                await response(scope, receive, send)
                return
        await self._app(scope, receive, send)


def _set_counter(child: Any, value: int) -> None:
    """Counters are kept in Redis by every process; mirror the shared total here."""
    child._value.set(value)


def _metrics(store: OrderStore) -> tuple[CollectorRegistry, Counter]:
    registry = CollectorRegistry()
    webhooks = Counter(
        "orderflow_webhooks_received", "Webhook receipts by outcome", ["outcome"], registry=registry
    )
    orders = Gauge("orderflow_orders", "Orders by status", ["status"], registry=registry)
    lag = Gauge(
        "orderflow_timer_lag_seconds", "How overdue the oldest due timer is", registry=registry
    )
    pending = Gauge("orderflow_timers_pending", "Durable timers waiting", registry=registry)

    calls = Counter(
        "orderflow_kseries_calls",
        "K-Series answers by route and status",
        ["method", "route", "status"],
        registry=registry,
    )
    transitions = Counter(
        "orderflow_transitions",
        "Order transitions",
        ["from_status", "to_status"],
        registry=registry,
    )
    retries = Counter(
        "orderflow_retries", "Retried K-Series calls by step", ["call"], registry=registry
    )

    def refresh() -> None:
        try:
            for status, count in store.count_by_status().items():
                orders.labels(status=str(status)).set(count)
            lag.set(store.timer_lateness_ms(utcnow()) / 1000)
            pending.set(store.pending_timers())
            for label, value in store.counters("kseries_calls").items():
                method, route, code = label.split(" ", 2)
                _set_counter(calls.labels(method=method, route=route, status=code), value)
            for label, value in store.counters("transitions").items():
                before, _, after = label.partition("->")
                _set_counter(transitions.labels(from_status=before, to_status=after), value)
            for label, value in store.counters("retries").items():
                _set_counter(retries.labels(call=label), value)
        except StoreUnavailable:
            pass

    registry.refresh = refresh  # type: ignore[attr-defined]
    return registry, webhooks


@dataclass
class _Deps:
    settings: Settings
    store: OrderStore
    producer: Producer
    enqueue_notification: Callable[[str], None]
    broker_ping: Callable[[], None] | None
    webhooks: Counter
    api_token: str | None

    def authorised(self, request: Request) -> bool:
        """Constant-time check of the producer's bearer token."""
        if self.api_token is None:
            return True
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self.api_token}".encode())

    async def json_body(self, request: Request) -> Any:
        raw = await request.body()
        if len(raw) > self.settings.max_body_bytes:
            raise _TooLarge
        return json.loads(raw, parse_float=Decimal)


def create_app(
    *,
    settings: Settings,
    store: OrderStore,
    enqueue: Enqueue,
    enqueue_notification: Callable[[str], None],
    broker_ping: Callable[[], None] | None = None,
) -> FastAPI:
    """The ASGI app. `enqueue(bl, ref)` and `enqueue_notification(id)` hand work to Celery."""
    app = FastAPI(title="orderflow", version="0.1.0")
    app.add_middleware(_BodyLimit, limit=settings.max_body_bytes)
    registry, webhooks = _metrics(store)
    deps = _Deps(
        settings=settings,
        store=store,
        producer=Producer(store=store, settings=settings, enqueue=enqueue),
        enqueue_notification=enqueue_notification,
        broker_ping=broker_ping,
        webhooks=webhooks,
        api_token=settings.api_token.get_secret_value() if settings.api_token else None,
    )
    if deps.api_token is None:
        log.warning("api.unauthenticated", hint="set ORDERFLOW_API_TOKEN outside local runs")

    @app.exception_handler(StoreUnavailable)
    async def _store_down(_: Request, exc: StoreUnavailable) -> JSONResponse:
        return _error(503, "state store unavailable; retry later", **{"Retry-After": "5"})

    _producer_routes(app, deps)
    _webhook_routes(app, deps)
    _ops_routes(app, deps, registry)
    return app


UNAUTHORISED = {"WWW-Authenticate": "Bearer"}


def _producer_routes(app: FastAPI, deps: _Deps) -> None:
    @app.post("/orders", status_code=202)
    async def post_order(request: Request) -> Response:
        if not deps.authorised(request):
            return _error(401, "missing or wrong bearer token", **UNAUTHORISED)
        try:
            body = await deps.json_body(request)
        except _TooLarge:
            return _error(413, f"body larger than {deps.settings.max_body_bytes} bytes")
        except ValueError:
            return _error(422, [{"field": "body", "message": "not valid JSON"}])
        try:
            receipt = await run_in_threadpool(deps.producer.submit, body)
        except InvalidSubmission as exc:
            return _error(422, exc.errors)
        except ReferenceConflict as exc:
            return _error(409, str(exc))
        return JSONResponse(receipt.model_dump(mode="json", exclude={"created"}), status_code=202)

    @app.get("/orders/{business_location_id}/{reference}")
    async def get_order(business_location_id: int, reference: str, request: Request) -> Response:
        if not deps.authorised(request):
            return _error(401, "missing or wrong bearer token", **UNAUTHORISED)
        order = await run_in_threadpool(deps.store.get, business_location_id, reference)
        if order is None:
            return _error(404, f"no order {business_location_id}/{reference}")
        return JSONResponse(order_view(order))


def _webhook_routes(app: FastAPI, deps: _Deps) -> None:
    @app.post("/webhooks/kseries")
    async def webhook(request: Request) -> Response:
        """Authenticate, validate, record durably, hand off, answer: no business logic."""
        if not _webhook_authorised(deps.settings, request):
            deps.webhooks.labels(outcome="unauthorised").inc()
            return _error(
                401,
                "wrong or missing credentials",
                **{"WWW-Authenticate": 'Basic realm="orderflow"'},
            )
        try:
            payload = await deps.json_body(request)
        except _TooLarge:
            return _error(413, "body too large")
        except ValueError:
            deps.webhooks.labels(outcome="malformed").inc()
            return _error(400, "not valid JSON")
        try:
            parse_notification(payload)
        except ValidationError as exc:
            deps.webhooks.labels(outcome="invalid").inc()
            return _error(422, field_errors(exc, drop_tag=False))
        note_id = await run_in_threadpool(deps.store.record_notification, payload, utcnow())
        deps.webhooks.labels(outcome="recorded").inc()
        try:
            await run_in_threadpool(deps.enqueue_notification, note_id)
        except Exception as exc:  # recorded with a leased timer: the sweeper sends it
            log.warning("webhook.enqueue_deferred", error=type(exc).__name__)
        return JSONResponse({"status": "ok", "id": note_id})


def _ops_routes(app: FastAPI, deps: _Deps, registry: CollectorRegistry) -> None:
    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> Response:
        problems = {}
        try:
            await run_in_threadpool(deps.store.ping)
        except StoreUnavailable as exc:
            problems["redis"] = str(exc)
        if deps.broker_ping is not None:
            try:
                await run_in_threadpool(deps.broker_ping)
            except Exception as exc:
                problems["broker"] = f"{type(exc).__name__}: {exc}"
        if problems:
            return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics")
    async def metrics() -> Response:
        await run_in_threadpool(registry.refresh)  # type: ignore[attr-defined]
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class _TooLarge(Exception):
    pass


def _webhook_authorised(settings: Settings, request: Request) -> bool:
    if not settings.webhook_username or settings.webhook_password is None:
        return True
    import base64

    expected = f"{settings.webhook_username}:{settings.webhook_password.get_secret_value()}"
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given = base64.b64decode(encoded, validate=True)
    except ValueError:
        return False
    return hmac.compare_digest(given, expected.encode())


def build_app() -> FastAPI:
    """The production wiring (uvicorn factory): Celery enqueues, settings from the environment."""
    from config.logging import configure_logging
    from config.settings import get_settings
    from worker.runtime import Runtime

    configure_logging()
    settings = get_settings()
    runtime = Runtime(settings)

    def enqueue(bl: int, ref: str) -> None:
        from worker.celery import send_advance

        send_advance(bl, ref, retry=False)

    def enqueue_notification(note_id: str) -> None:
        from worker.celery import send_notification

        send_notification(note_id, retry=False)

    def broker_ping() -> None:
        from worker.celery import app as celery_app

        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)

    return create_app(
        settings=settings,
        store=runtime.store,
        enqueue=enqueue,
        enqueue_notification=enqueue_notification,
        broker_ping=broker_ping,
    )

"""The HTTP API (interface.md): producers submit and look up orders; K-Series delivers webhooks.

Handlers authenticate, parse, call one function and answer; the lifecycle lives elsewhere.
The parts are in `worker.web`: body limit and bounded JSON (`body`), credentials and the
startup rule (`auth`), metrics, the order view and the OpenAPI description.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from config.settings import Settings
from worker.engine import utcnow
from worker.errors import InvalidSubmission, NotReplicated, ReferenceConflict, StoreUnavailable
from worker.kseries.logins import Logins
from worker.producer import Enqueue, Producer
from worker.store import OrderStore
from worker.web.auth import basic_ok, bearer_ok, warn_if_open, webhook_credentials
from worker.web.body import BodyLimit, InvalidJson, is_json, parse_json
from worker.web.handoff import WebhookHandoff
from worker.web.metrics import build_registry
from worker.web.openapi import ERRORS, describe_bodies
from worker.web.views import order_view

__all__ = ["build_app", "create_app", "order_view"]

log = structlog.get_logger(__name__)

UNAUTHORISED = {"WWW-Authenticate": "Bearer"}
# Browsers send text/plain and form bodies cross-site without asking; application/json needs
# a CORS preflight, which this API never grants. So a web page cannot post to a loopback API.
NOT_JSON = [{"field": "Content-Type", "message": "must be application/json"}]


def _error(status: int, detail: Any, **headers: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers or None)


def _reason(exc: BaseException) -> str:
    """An exception as one short line for /readyz (Redis' DENIED message is a paragraph)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:200]}"


@dataclass
class _Deps:
    settings: Settings
    store: OrderStore
    producer: Producer
    enqueue_notification: Callable[[str], None]
    broker_ping: Callable[[], None] | None
    webhooks: Counter
    api_token: str | None
    webhook_auth: bytes | None
    logins: Logins | None  # None: no K-Series login to check (tests)

    def authorised(self, request: Request) -> bool:
        return bearer_ok(request.headers.get("authorization", ""), self.api_token)

    def refused_businesses(self) -> list[str]:
        """The businesses whose refresh token K-Series refused (none when Redis cannot say)."""
        try:
            states = self.logins.states() if self.logins else []
        except redis.RedisError:
            return []
        return [s.business_id for s in states if s.refused]

    def webhook_authorised(self, request: Request) -> bool:
        return basic_ok(request.headers.get("authorization", ""), self.webhook_auth)

    def hand_off(self, note_id: str) -> None:
        """Pass a recorded notification on; never raises (it is recorded with a leased timer:
        if this fails, a sweeper sends it)."""
        try:
            self.enqueue_notification(note_id)
        except Exception as exc:
            log.warning("webhook.enqueue_deferred", error=type(exc).__name__)


def create_app(
    *,
    settings: Settings,
    store: OrderStore,
    enqueue: Enqueue,
    enqueue_notification: Callable[[str], None],
    broker_ping: Callable[[], None] | None = None,
    logins: Logins | None = None,
) -> FastAPI:
    """The ASGI app. `enqueue(bl, ref)` hands a new order to Celery, `enqueue_notification(id)`
    a recorded webhook (in production `WebhookHandoff`: applied here, after the answer);
    `logins`: the businesses logged in to K-Series: a submission for a location none covers is
    refused (422); refused tokens are shown by `/readyz` and `/metrics`."""
    app = FastAPI(title="orderflow", version="0.1.0")
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    registry, webhooks = build_registry(store, logins.states if logins else None)
    deps = _Deps(
        settings=settings,
        store=store,
        producer=Producer(
            store=store,
            settings=settings,
            enqueue=enqueue,
            covers=logins.covers if logins else None,
        ),
        enqueue_notification=enqueue_notification,
        broker_ping=broker_ping,
        webhooks=webhooks,
        api_token=settings.api_token.get_secret_value() if settings.api_token else None,
        webhook_auth=webhook_credentials(settings),
        logins=logins,
    )
    warn_if_open(settings)

    @app.exception_handler(StoreUnavailable)
    @app.exception_handler(redis.RedisError)  # NOAUTH, LOADING, protected mode: not a 500
    async def _store_down(_: Request, exc: Exception) -> JSONResponse:
        log.warning("api.store_unavailable", error=_reason(exc))
        return _error(503, "state store unavailable; retry later", **{"Retry-After": "5"})

    @app.exception_handler(NotReplicated)
    async def _not_replicated(_: Request, exc: Exception) -> JSONResponse:
        log.warning("api.not_replicated", error=_reason(exc))
        detail = "stored, but not yet on a replica; send the same body again"
        return _error(503, detail, **{"Retry-After": "1"})

    @app.exception_handler(RequestValidationError)
    async def _bad_parameter(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"][1:]) or "body", "message": e["msg"]}
            for e in exc.errors()
        ]
        return _error(422, errors)

    _producer_routes(app, deps)
    _webhook_routes(app, deps)
    _ops_routes(app, deps, registry)
    describe_bodies(app)
    return app


def _producer_routes(app: FastAPI, deps: _Deps) -> None:
    @app.post(
        "/orders",
        status_code=202,
        responses={409: {"description": "the reference is taken by another body"}, **ERRORS},
    )
    async def post_order(request: Request) -> Response:
        """Validate, store and enqueue one submission (once per reference)."""
        if not deps.authorised(request):
            return _error(401, "missing or wrong bearer token", **UNAUTHORISED)
        if not is_json(request.headers.get("content-type")):
            return _error(415, NOT_JSON)
        try:
            body = parse_json(await request.body())  # over the size limit: BodyLimit's 413
        except InvalidJson as exc:
            return _error(422, [{"field": "body", "message": str(exc)}])
        try:
            receipt = await run_in_threadpool(deps.producer.submit, body)
        except InvalidSubmission as exc:
            return _error(422, exc.errors)
        except ReferenceConflict as exc:
            return _error(409, str(exc))
        return JSONResponse(receipt.model_dump(mode="json", exclude={"created"}), status_code=202)

    @app.get(
        "/orders/{business_location_id}/{reference}",
        responses={404: {"description": "no such order"}, 422: ERRORS[422]},
    )
    async def get_order(business_location_id: int, reference: str, request: Request) -> Response:
        """An order's status, amounts, payments and history (no customer data)."""
        if not deps.authorised(request):
            return _error(401, "missing or wrong bearer token", **UNAUTHORISED)
        order = await run_in_threadpool(deps.store.get, business_location_id, reference)
        if order is None:
            return _error(404, f"no order {business_location_id}/{reference}")
        return JSONResponse(order_view(order))


def _webhook_routes(app: FastAPI, deps: _Deps) -> None:
    @app.post("/webhooks/kseries", responses={400: {"description": "not JSON"}, **ERRORS})
    async def webhook(request: Request) -> Response:
        """Authenticate, validate, record durably, hand off, answer: no business logic."""
        if not deps.webhook_authorised(request):
            deps.webhooks.labels(outcome="unauthorised").inc()
            return _error(
                401,
                "wrong or missing credentials",
                **{"WWW-Authenticate": 'Basic realm="orderflow"'},
            )
        if not is_json(request.headers.get("content-type")):
            deps.webhooks.labels(outcome="malformed").inc()
            return _error(415, NOT_JSON)
        try:
            payload = parse_json(await request.body())
        except InvalidJson as exc:
            deps.webhooks.labels(outcome="malformed").inc()
            return _error(400, str(exc))
        if not isinstance(payload, dict):
            deps.webhooks.labels(outcome="invalid").inc()
            return _error(422, [{"field": "body", "message": "a notification is a JSON object"}])
        # Any object is kept and answered 200, even one orderflow cannot read or use (K-Series
        # may stop calling an endpoint that refuses what it sends): the task records why.
        note_id = await run_in_threadpool(deps.store.record_notification, payload, utcnow())
        deps.webhooks.labels(outcome="recorded").inc()
        # Answered once recorded; handed off after the answer is sent (on the thread pool).
        return JSONResponse(
            {"status": "ok", "id": note_id}, background=BackgroundTask(deps.hand_off, note_id)
        )


def _ops_routes(app: FastAPI, deps: _Deps, registry: CollectorRegistry) -> None:
    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {"description": "Redis or the broker is not usable"}})
    async def readyz() -> Response:
        problems = {}
        try:
            await run_in_threadpool(deps.store.ping)
        except Exception as exc:  # refused, NOAUTH, LOADING, protected mode: all not ready
            problems["redis"] = _reason(exc)
        if deps.broker_ping is not None:
            try:
                await run_in_threadpool(deps.broker_ping)
            except Exception as exc:
                problems["broker"] = _reason(exc)
        if problems:
            return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
        body = {"status": "ready"}
        refused = await run_in_threadpool(deps.refused_businesses)
        if refused:
            # Still ready (orders are accepted and wait), but nothing reaches K-Series for them.
            body["kseries"] = (
                f"tokens refused for business {', '.join(refused)}: run `orderflow auth login` "
                "for each; their new orders wait (other businesses' go on)"
            )
        return JSONResponse(body)

    @app.get("/metrics")
    async def metrics() -> Response:
        await run_in_threadpool(registry.refresh)  # type: ignore[attr-defined]
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


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

    def send_notification(note_id: str) -> None:
        from worker.celery import send_notification

        send_notification(note_id, retry=False)

    def send_follow_up(bl: int, ref: str) -> None:
        from worker.celery import send_advance

        send_advance(bl, ref, retry=False, after_webhook=True)

    # Webhooks are applied here, after the answer; only the K-Series calls they make due
    # become Celery tasks (`worker.web.handoff`).
    enqueue_notification = WebhookHandoff(runtime.engine, send_notification, send_follow_up)

    def broker_ping() -> None:
        from worker.celery import app as celery_app

        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)

    app = create_app(
        settings=settings,
        store=runtime.store,
        enqueue=enqueue,
        enqueue_notification=enqueue_notification,
        broker_ping=broker_ping,
        logins=runtime.logins,
    )
    from worker.ops import ops_router_for

    app.include_router(ops_router_for(runtime, enqueue))  # the ops pages (worker/ops/)
    return app

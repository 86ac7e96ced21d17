"""The sandbox as an ASGI app: K-Series' order, pay, lookup, webhook, login and token routes.

Routes read raw JSON themselves (`parse_float=Decimal`, Spring-style 400s) instead of using
FastAPI's models, because the point is to answer exactly as K-Series does, not as FastAPI does.
Every location-scoped route checks, after validating, that the token's business owns the
location (`sandbox.access`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from starlette.responses import Response

from sandbox.access import location_refusal
from sandbox.admin import admin_router
from sandbox.businesses import Business
from sandbox.config import SandboxConfig
from sandbox.engine import Sandbox
from sandbox.formats import Clock, JSONDecimalResponse, zulu_time
from sandbox.gateway import Gateway
from sandbox.login import login_routes
from sandbox.pos import OrderKind
from sandbox.replies import invalid, json_object, location_param, spring
from sandbox.validation import ORDER_OBJECT, PAYMENT_OBJECT, parse_order, parse_payment
from sandbox.views import account_snapshot, sale_dto
from sandbox.webhook_routes import webhook_routes

__all__ = ["create_app"]

ALREADY_USED = "reference has already been used"


def create_app(
    config: SandboxConfig | None = None,
    *,
    businesses: Iterable[Business] | None = None,
    clock: Clock | None = None,
    notify_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """A fresh sandbox. `notify_transport` lets tests capture notifications in-process;
    without `businesses`, one business owns every location.

    The app's state object is `app.state.sandbox` (a `Sandbox`).
    """
    sandbox = Sandbox(config, businesses=businesses, clock=clock, notify_transport=notify_transport)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await sandbox.aclose()

    app = FastAPI(
        title="K-Series sandbox",
        lifespan=lifespan,
        docs_url="/_sandbox/docs",
        openapi_url="/_sandbox/openapi.json",
        redoc_url=None,
    )
    app.state.sandbox = sandbox
    app.include_router(admin_router(sandbox))
    _order_routes(app, sandbox)
    _lookup_routes(app, sandbox)
    webhook_routes(app, sandbox)
    login_routes(app, sandbox)
    app.add_middleware(Gateway, sandbox=sandbox)
    return app


# --- orders and payments --------------------------------------------------------------------


def _order_routes(app: FastAPI, sandbox: Sandbox) -> None:
    async def submit(request: Request, kind: OrderKind) -> Response:
        body = await json_object(request, sandbox)
        if isinstance(body, Response):
            return body
        order, errors = parse_order(body, kind, sandbox.config, sandbox.clock.now())
        if order is None:
            return invalid(sandbox, ORDER_OBJECT[kind], errors, request.url.path)
        if refusal := location_refusal(sandbox, request, order.business_location_id):
            return refusal
        if sandbox.submit_order(order) == "duplicate":
            msg = f"{ALREADY_USED} {order.reference}"
            return JSONDecimalResponse({"status": "fail", "msg": msg}, status_code=409)
        return JSONDecimalResponse({"status": "ok"})

    @app.post("/o/op/1/order/local")
    async def local_order(request: Request) -> Response:
        return await submit(request, "local")

    @app.post("/o/op/1/order/toGo")
    async def to_go_order(request: Request) -> Response:
        return await submit(request, "toGo")

    @app.post("/o/op/1/pay")
    async def pay(request: Request) -> Response:
        body = await json_object(request, sandbox)
        if isinstance(body, Response):
            return body
        payment, errors = parse_payment(body, sandbox.config)
        if payment is None:
            return invalid(sandbox, PAYMENT_OBJECT, errors, request.url.path)
        if refusal := location_refusal(sandbox, request, payment.business_location_id):
            return refusal
        if sandbox.submit_payment(payment) == "duplicate":
            message = f"{ALREADY_USED} {payment.reference}"
            return spring(sandbox, 400, message, request.url.path)
        return JSONDecimalResponse({"status": "ok"})


# --- lookups --------------------------------------------------------------------------------


def _lookup_routes(app: FastAPI, sandbox: Sandbox) -> None:
    @app.get("/f/finance/{business_location_id}/saleByExternalReference")
    async def sale(business_location_id: str, request: Request) -> Response:
        path = request.url.path
        bl = location_param(sandbox, business_location_id, path)
        if isinstance(bl, Response):
            return bl
        if refusal := location_refusal(sandbox, request, bl):
            return refusal
        reference = request.query_params.get("externalReferenceId")
        if not reference:
            return spring(
                sandbox,
                400,
                "Required request parameter 'externalReferenceId' for method parameter type "
                "String is not present",
                path,
            )
        account = sandbox.pos.sale(bl, reference)
        if account is None:
            return spring(sandbox, 404, f"Sale not found for external reference {reference}", path)
        return JSONDecimalResponse(sale_dto(account, sandbox.config.currency))

    @app.get("/o/op/1/order/accounts/{account_identifier}")
    async def account(account_identifier: str, request: Request) -> Response:
        path = request.url.path
        bl = location_param(sandbox, request.query_params.get("businessLocationId"), path)
        if isinstance(bl, Response):
            return bl
        if refusal := location_refusal(sandbox, request, bl):
            return refusal
        found = sandbox.pos.account(bl, account_identifier)
        if found is None:
            return spring(sandbox, 404, f"account not found for BL {bl}", path)
        return JSONDecimalResponse(account_snapshot(found, style="number"))

    @app.get("/o/op/1/onlineOrderReadiness")
    async def readiness(request: Request) -> Response:
        path = request.url.path
        bl = location_param(sandbox, request.query_params.get("businessLocationId"), path)
        if isinstance(bl, Response):
            return bl
        if refusal := location_refusal(sandbox, request, bl):
            return refusal
        online = sandbox.is_online(bl)
        return JSONDecimalResponse(
            {
                "status": "READY" if online else "NOT_READY",
                "lastUpdatedAt": zulu_time(sandbox.clock.now()),
                "onlineOrderingApiConfiguration": {
                    "enabled": True,
                    "orderProfileId": 123456,
                    "staffId": 789012,
                },
                "posStatus": {
                    "salesPeriod": "OPENED",
                    "acceptingOnlineOrders": online,
                    "availableDevices": online,
                },
            }
        )

"""K-Series' front door: bearer check, request counting and injected faults.

A raw ASGI middleware, so a fault can answer without running the route (errors, 429) or run
it and throw the answer away (lost answer: the order *is* accepted, the caller never learns
it). Admin routes (`/_sandbox/...`) pass straight through, never faulted, never counted.
"""

from __future__ import annotations

import re
from typing import Literal

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.engine import Sandbox
from sandbox.formats import JSONDecimalResponse
from sandbox.spring import error_body
from sandbox.storm import storm_fault, with_location

__all__ = ["ADMIN_PREFIX", "Gateway", "route_label"]

ADMIN_PREFIX = "/_sandbox"
TOKEN_PATH = "/oauth/token"  # noqa: S105 - a route, not a secret
KSERIES_PREFIXES = ("/o/", "/f/")
Fault = Literal["error", "rate_limit", "lost"]

_TEMPLATES = [
    (re.compile(r"^/o/op/1/order/accounts/[^/]+/?$"), "/o/op/1/order/accounts/{accountIdentifier}"),
    (re.compile(r"^/o/wh/1/webhook/[^/]+/?$"), "/o/wh/1/webhook/{endpointId}"),
    (
        re.compile(r"^/f/finance/[^/]+/saleByExternalReference/?$"),
        "/f/finance/{businessLocationId}/saleByExternalReference",
    ),
]
_GATEWAY_PAGES = {
    502: b"<html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>502 Bad Gateway</h1></body></html>",
    503: b"<html><head><title>503 Service Temporarily Unavailable</title></head>"
    b"<body><h1>503 Service Temporarily Unavailable</h1></body></html>",
}


def route_label(method: str, path: str) -> str:
    """`POST /o/op/1/pay`, with path parameters folded so counts group by route."""
    for pattern, template in _TEMPLATES:
        if pattern.match(path):
            return f"{method} {template}"
    return f"{method} {path}"


class Gateway:
    def __init__(self, app: ASGIApp, sandbox: Sandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        ledger = self.sandbox.ledger
        route = route_label(scope["method"], path)

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                ledger.request(route, message["status"])
            await send(message)

        kseries = path.startswith(KSERIES_PREFIXES)
        if kseries:
            problem = self.sandbox.tokens.bearer_problem(Headers(scope=scope).get("authorization"))
            if problem is not None:
                await self._unauthorized(problem)(scope, receive, counted)
                return
        fault: Fault | None = None
        if kseries and self.sandbox.config.storm_locations:
            receive, location = await with_location(scope, receive)
            if location in self.sandbox.config.storm_locations:
                fault = storm_fault(self.sandbox)
                if fault is not None:
                    ledger.faults[f"storm_{fault}"] += 1
        if fault is None and (kseries or (path == TOKEN_PATH and self._oauth_faults())):
            fault = self._fault()
            if fault is not None:
                ledger.faults[fault] += 1
        if fault is None:
            await self.app(scope, receive, counted)
            return
        if fault == "error":
            await self._server_error(path)(scope, receive, counted)
        elif fault == "rate_limit":
            await self._rate_limited(path)(scope, receive, counted)
        else:
            await self._lose_answer(scope, receive, send, route)

    def _oauth_faults(self) -> bool:
        return self.sandbox.config.fault_oauth

    def _fault(self) -> Fault | None:
        """One roll decides: server error, rate limit, lost answer, or none."""
        cfg = self.sandbox.config
        total = cfg.error_rate + cfg.rate_limit_rate + cfg.lost_answer_rate
        if total <= 0:
            return None
        roll = self.sandbox.rng.random()
        if roll < cfg.error_rate:
            return "error"
        if roll < cfg.error_rate + cfg.rate_limit_rate:
            return "rate_limit"
        if roll < total:
            return "lost"
        return None

    def _now_body(self, status: int, message: str, path: str) -> JSONDecimalResponse:
        body = error_body(status, message, path, self.sandbox.clock.now())
        return JSONDecimalResponse(body, status_code=status)

    def _unauthorized(self, problem: str) -> Response:
        return JSONDecimalResponse(
            {"error": "invalid_token", "error_description": problem},
            status_code=401,
            headers={
                "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{problem}"'
            },
        )

    def _server_error(self, path: str) -> Response:
        status = self.sandbox.rng.choice([500, 502, 503])
        if status == 500:
            return self._now_body(500, "Unexpected error", path)
        return Response(_GATEWAY_PAGES[status], status_code=status, media_type="text/html")

    def _rate_limited(self, path: str) -> Response:
        response = self._now_body(429, "Rate limit exceeded", path)
        response.headers["Retry-After"] = str(self.sandbox.config.retry_after_s)
        return response

    async def _lose_answer(self, scope: Scope, receive: Receive, send: Send, route: str) -> None:
        """Run the route for real, then answer 502 or cut the connection mid-answer."""
        inner: list[int] = []

        async def swallow(message: Message) -> None:
            if message["type"] == "http.response.start":
                inner.append(message["status"])

        await self.app(scope, receive, swallow)
        mode = self.sandbox.config.lost_answer_mode
        if mode == "mixed":
            mode = "502" if self.sandbox.rng.random() < 0.5 else "reset"
        self.sandbox.ledger.request(route, 502 if mode == "502" else "reset")
        if mode == "502":
            await Response(_GATEWAY_PAGES[502], status_code=502, media_type="text/html")(
                scope, receive, send
            )
            return
        # Promise a body, send part of it and return: uvicorn closes the connection, so the
        # caller sees a transport error (an in-process ASGITransport raises AssertionError).
        await send(
            {
                "type": "http.response.start",
                "status": inner[0] if inner else 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"sta', "more_body": True})

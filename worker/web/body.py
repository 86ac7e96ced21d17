"""Request bodies: a size limit counted as the body streams in, and JSON read within bounds.

The limit is an ASGI middleware rather than a handler check so that a chunked body (no
`Content-Length`) is cut off at the limit instead of being read whole first. JSON is parsed
with amounts as Decimal, and refused when it nests too deep (the parser would recurse) or
carries a number whose exponent would make converting it to an int take unbounded time.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["MAX_JSON_DEPTH", "BodyLimit", "BodyTooLarge", "InvalidJson", "is_json", "parse_json"]

# K-Series' own payloads nest about 6 deep; nothing we accept comes near this.
MAX_JSON_DEPTH = 32
# Amounts are at most 1e9 with 6 decimals (worker.money); int(Decimal("1e999999999")) would
# build a billion-digit integer, so a number this far from 1 is refused while parsing.
MAX_EXPONENT = 100


class BodyTooLarge(Exception):
    """The request body went over the limit while it was being read."""


class InvalidJson(ValueError):
    """The body is not JSON orderflow will read; the message says why."""


class BodyLimit:
    """413 for a body over `limit` bytes: at once when `Content-Length` says so, else as soon
    as the streamed chunks add up to more, without reading the rest.

    Plain ASGI: BaseHTTPMiddleware costs every request a task group and a streamed response,
    a third of the API's CPU under load (bench profile).
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self._app = app
        self._limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length and length.isdigit() and int(length) > self._limit:
            await self._refuse(scope, receive, send)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self._limit:
                    raise BodyTooLarge
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, counted, tracked)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"body larger than {self._limit} bytes"},
            status_code=413,
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


def is_json(content_type: str | None) -> bool:
    """`application/json`, with or without parameters (`; charset=utf-8`)."""
    media_type = (content_type or "").partition(";")[0].strip().lower()
    return media_type == "application/json"


def _decimal(text: str) -> Decimal:
    value = Decimal(text)  # the JSON scanner passes only well-formed numbers
    exponent = value.as_tuple().exponent
    if abs(value.adjusted()) > MAX_EXPONENT or (
        isinstance(exponent, int) and abs(exponent) > MAX_EXPONENT
    ):
        raise InvalidJson(f"number out of range: {text[:20]}")
    return value


def _constant(name: str) -> Any:
    raise InvalidJson(f"{name} is not JSON")


def _deeper_than(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def parse_json(raw: bytes) -> Any:
    """The body as Python (amounts as Decimal).

    Raises:
        InvalidJson: not JSON, nested deeper than MAX_JSON_DEPTH, or a number out of range.
    """
    try:
        value = json.loads(raw, parse_float=_decimal, parse_constant=_constant)
    except InvalidJson:
        raise
    except RecursionError:
        raise InvalidJson(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError:
        raise InvalidJson("not valid JSON") from None
    if isinstance(value, dict | list) and _deeper_than(value, MAX_JSON_DEPTH):
        raise InvalidJson(f"nested deeper than {MAX_JSON_DEPTH} levels")
    return value

"""Every K-Series call made for an order, timed and redacted, kept in that order's call log.

The engine says which order it is working for (`calls_for`, a context variable, so threads and
tasks never mix their orders up); `RecordingTransport`, wrapped around the K-Series HTTP client's
transport, records each request sent meanwhile: method, path, status, duration, error, and the
JSON bodies redacted exactly as logs are (`config.logging.redact`). Calls made for no order
(webhook registration, the CLI) are not recorded. Recording is best effort: the store swallows
its own errors, and a call is never slowed by more than one pipelined Redis write.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import httpx

from config.logging import redact

__all__ = ["CallSink", "RecordingTransport", "calls_for", "redacted_body"]

BODY_LIMIT = 4_000  # characters of a redacted body kept per call

_order: ContextVar[tuple[int, str] | None] = ContextVar("orderflow_call_order", default=None)


class CallSink(Protocol):
    """Where calls go (`OrderStore.record_call`)."""

    def record_call(self, bl: int, ref: str, entry: dict[str, Any]) -> None: ...


@contextmanager
def calls_for(bl: int, ref: str) -> Iterator[None]:
    """K-Series calls made inside this block belong to order (bl, ref)."""
    token = _order.set((bl, ref))
    try:
        yield
    finally:
        _order.reset(token)


def redacted_body(content: bytes, content_type: str) -> str | None:
    """A JSON body with customer data and secrets replaced, as logs show it; else a size.

    Anything that is not JSON (a form, an HTML error page) is never kept: only its size is.
    """
    if not content:
        return None
    if "json" not in content_type.lower():
        return f"[{len(content)} bytes of {content_type or 'unknown type'}, not kept]"
    try:
        value = json.loads(content, parse_float=Decimal)
    except ValueError:
        return f"[{len(content)} bytes, not valid JSON, not kept]"
    scrubbed = redact(None, "", {"body": value})["body"]
    text = json.dumps(scrubbed, default=str, ensure_ascii=False)
    return text if len(text) <= BODY_LIMIT else text[:BODY_LIMIT] + " …(cut)"


class RecordingTransport(httpx.BaseTransport):
    """Wraps the real transport; records the calls made inside `calls_for` blocks."""

    def __init__(self, inner: httpx.BaseTransport, sink: CallSink) -> None:
        self._inner = inner
        self._sink = sink

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        target = _order.get()
        if target is None:
            return self._inner.handle_request(request)
        at = datetime.now(UTC)
        started = time.perf_counter()
        try:
            response = self._inner.handle_request(request)
        except httpx.TransportError as exc:
            self._record(target, request, at, started, error=f"{type(exc).__name__}: {exc}")
            raise
        try:
            raw, headers = _body(response)
        except httpx.TransportError as exc:  # the answer broke off mid-body
            error = f"{type(exc).__name__}: {exc}"
            self._record(target, request, at, started, status=response.status_code, error=error)
            raise
        finally:
            response.close()
        decoded = httpx.Response(response.status_code, headers=headers, content=raw)
        self._record(target, request, at, started, status=response.status_code, answer=decoded)
        return httpx.Response(
            response.status_code,
            headers=headers,
            stream=httpx.ByteStream(raw),
            extensions=response.extensions,
        )

    def _record(
        self,
        target: tuple[int, str],
        request: httpx.Request,
        at: datetime,
        started: float,
        *,
        status: int | None = None,
        error: str | None = None,
        answer: httpx.Response | None = None,
    ) -> None:
        entry = {
            "at": at.isoformat(),
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query.decode() or None,
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "error": error,
            "request": redacted_body(_sent(request), request.headers.get("content-type", "")),
            "response": None
            if answer is None
            else redacted_body(answer.content, answer.headers.get("content-type", "")),
        }
        self._sink.record_call(*target, entry)

    def close(self) -> None:
        self._inner.close()


def _body(response: httpx.Response) -> tuple[bytes, httpx.Headers]:
    """The answer's bytes as they came (K-Series answers are small JSON documents)."""
    try:
        return b"".join(response.iter_raw()), response.headers
    except httpx.StreamConsumed:  # built already read (a MockTransport): bytes are decoded
        headers = response.headers.copy()
        headers.pop("content-encoding", None)
        return response.content, headers


def _sent(request: httpx.Request) -> bytes:
    try:
        return request.content
    except httpx.RequestNotRead:  # a streamed body (the K-Series client never sends one)
        return b""

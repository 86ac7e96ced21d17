"""What K-Series routes share: reading a JSON body and a location id, answering Spring's way."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.engine import Sandbox
from sandbox.formats import JSONDecimalResponse
from sandbox.spring import FieldError, error_body, validation_body

__all__ = ["invalid", "json_object", "location_param", "spring"]


def spring(sandbox: Sandbox, status: int, message: str, path: str) -> Response:
    return JSONDecimalResponse(
        error_body(status, message, path, sandbox.clock.now()), status_code=status
    )


def invalid(sandbox: Sandbox, obj: str, errors: list[FieldError], path: str) -> Response:
    body = validation_body(obj, errors, path, sandbox.clock.now())
    return JSONDecimalResponse(body, status_code=400)


async def json_object(request: Request, sandbox: Sandbox) -> Mapping[str, Any] | Response:
    """The body as a JSON object (floats as Decimal), or Spring's 'not readable' 400."""
    path = request.url.path
    raw = await request.body()
    if not raw.strip():
        return spring(sandbox, 400, "Required request body is missing", path)
    try:
        body = json.loads(raw, parse_float=Decimal)
    except ValueError as exc:
        return spring(sandbox, 400, f"JSON parse error: {exc}", path)
    if not isinstance(body, dict):
        return spring(sandbox, 400, "JSON parse error: expected a JSON object", path)
    return body


def location_param(sandbox: Sandbox, raw: str | None, path: str) -> int | Response:
    """A `businessLocationId` path or query parameter, or Spring's 400 for it."""
    if raw is None or raw == "":
        return spring(
            sandbox,
            400,
            "Required request parameter 'businessLocationId' for method parameter type Long "
            "is not present",
            path,
        )
    try:
        return int(raw)
    except ValueError:
        return spring(sandbox, 400, f"Failed to convert value '{raw}' to type Long", path)

"""A fault storm on a few locations: which location a K-Series request is for, and its roll.

K-Series rate-limits per location, so a storm hits the busy locations and leaves the others
alone. A request names its location in the path (`/f/finance/{id}/...`), in the query
(`businessLocationId=`), or in its JSON body (orders, payments); the body is read once here and
handed on to the route unchanged.
"""

from __future__ import annotations

import json
import re
from typing import Literal
from urllib.parse import parse_qs

from starlette.types import Message, Receive, Scope

from sandbox.engine import Sandbox

__all__ = ["StormFault", "storm_fault", "with_location"]

StormFault = Literal["error", "rate_limit"]

_IN_PATH = re.compile(r"^/f/finance/(\d+)/")


async def with_location(scope: Scope, receive: Receive) -> tuple[Receive, int | None]:
    """The request's business location, and a `receive` that still yields its whole body."""
    if found := _IN_PATH.match(scope.get("path", "")):
        return receive, int(found[1])
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("businessLocationId"):
        return receive, _as_int(query["businessLocationId"][0])
    if scope.get("method") not in ("POST", "PUT", "PATCH"):
        return receive, None
    chunks, more = [], True
    while more:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: nothing to replay
            return receive, None
        chunks.append(message.get("body", b""))
        more = bool(message.get("more_body", False))
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        parsed = json.loads(body)
    except ValueError:
        return replay, None
    return replay, _as_int(parsed.get("businessLocationId")) if isinstance(parsed, dict) else None


def storm_fault(sandbox: Sandbox) -> StormFault | None:
    """One roll of the storm's own faults (for a request of a storm location)."""
    cfg = sandbox.config
    roll = sandbox.rng.random()
    if roll < cfg.storm_rate_limit_rate:
        return "rate_limit"
    if roll < cfg.storm_rate_limit_rate + cfg.storm_error_rate:
        return "error"
    return None


def _as_int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None

"""The ops pages: orders as an operator sees them, with replay and "resolved by hand".

routes.py     the APIRouter the API mounts (`ops_router`)
access.py     Basic auth, the loopback rule, form tokens
advice.py     README's failure reasons and what to do, in one place
timeline.py   one order's history, K-Series calls and status events, merged
pages.py      Jinja2 rendering (templates/ is package data) and response headers
"""

from __future__ import annotations

from worker.ops.routes import EventReader, ops_router, ops_router_for

__all__ = ["EventReader", "ops_router", "ops_router_for"]

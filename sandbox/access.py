"""Which business a request acts for, and whether it may touch a location.

Every location-scoped call (orders, pay, sale lookup, check read, readiness) is recorded in the
ledger as (token's business, location, location's owner, route). A token bound to one business
used for another business's location is counted as `cross_business_calls` and, with
`require_auth`, answered `403` in K-Series' (Spring's) error format; without `require_auth` it
passes, as any bearer always did.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from sandbox.engine import Sandbox
from sandbox.formats import JSONDecimalResponse
from sandbox.gateway import route_label
from sandbox.spring import error_body

__all__ = ["location_refusal", "scope", "token_business"]


def token_business(sandbox: Sandbox, request: Request) -> int | None:
    """The business the bearer token is bound to; None when it is unbound (lenient mode)."""
    return sandbox.tokens.business_of(request.headers.get("authorization"))


def scope(sandbox: Sandbox, request: Request) -> list[int]:
    """The businesses this request acts for: the token's own, or every one when unbound."""
    business_id = token_business(sandbox, request)
    return sandbox.businesses.ids() if business_id is None else [business_id]


def location_refusal(
    sandbox: Sandbox, request: Request, business_location_id: int
) -> Response | None:
    """Record this use of the token for the location; the 403 to answer, or None to go on."""
    business_id = token_business(sandbox, request)
    owner = sandbox.businesses.owner_of(business_location_id)
    route = route_label(request.method, request.url.path)
    cross = sandbox.ledger.token_use(
        business_id, business_location_id, owner.id if owner else None, route
    )
    if not cross or not sandbox.config.require_auth:
        return None
    message = (
        f"Access denied: business location {business_location_id} does not belong to the "
        f"business of this access token"
    )
    body = error_body(403, message, request.url.path, sandbox.clock.now())
    return JSONDecimalResponse(body, status_code=403)

"""The one client for the K-Series APIs orderflow calls: typed models in, typed models out.

Every answer is mapped here, once, to a model or to an error of `worker.errors` whose class says
whether a retry can help. Bodies are parsed with `parse_float=Decimal` so money never passes
through float.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, Literal, TypeVar

import httpx
import simplejson
from pydantic import BaseModel, ValidationError

from worker.errors import (
    AuthError,
    BadResponse,
    FieldError,
    NotFound,
    RateLimited,
    ReferenceAlreadyUsed,
    ServerError,
    TransportError,
    UpstreamError,
    ValidationRejected,
)
from worker.kseries.models import (
    AccountSnapshot,
    ApplyPayment,
    LocalOrder,
    Readiness,
    Sale,
    SpringError,
    ToGoOrder,
    WebhookRegistration,
)

__all__ = ["KSeriesClient", "OrderKind", "default_timeout", "dumps", "route_of", "sale_reference"]

OrderKind = Literal["local", "toGo"]
Accepted = Literal["accepted", "duplicate"]
M = TypeVar("M", bound=BaseModel)

ORDER_PATHS: dict[OrderKind, str] = {"local": "/o/op/1/order/local", "toGo": "/o/op/1/order/toGo"}
PAY_PATH = "/o/op/1/pay"
ALREADY_USED = "reference has already been used"
# (a location id is left out: `redact` would take a long one for a phone number)
NOT_COVERED = json.dumps(
    {
        "error": "not_covered",
        "message": "no K-Series login covers this business location: run `orderflow auth login` "
        "for its business",
    }
)
# the path segment after each prefix is an id: a metric label names it by its role instead
ROUTE_IDS = {
    "/f/finance/": "{bl}",
    "/o/op/1/order/accounts/": "{id}",
    "/o/wh/1/webhook/": "{endpointId}",
}
AuthFor = Callable[[int], httpx.Auth | None]  # a location's auth; None: no login covers it


def default_timeout(total_s: float = 10.0) -> httpx.Timeout:
    """Connect fast, give K-Series a few seconds to answer; never wait forever."""
    return httpx.Timeout(total_s, connect=min(3.0, total_s))


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dumps(model: BaseModel) -> bytes:
    """JSON as K-Series' schema wants it: amounts as numbers with two decimals (`6.10`)."""
    payload = model.model_dump(exclude_none=True)
    return simplejson.dumps(payload, use_decimal=True, default=_json_default).encode()


def sale_reference(business_location_id: int, reference: str) -> str:
    """`TASK:OO-{bl}-{ref}`: how the finance API names an online order's sale (seed 000)."""
    return f"TASK:OO-{business_location_id}-{reference}"


def _retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def route_of(path: str) -> str:
    """A path with its id replaced, for metric labels: `/f/finance/{bl}/saleByExternalReference`
    (one label per route, never one per location, check or endpoint)."""
    for prefix, name in ROUTE_IDS.items():
        if path.startswith(prefix):
            _, slash, rest = path.removeprefix(prefix).partition("/")
            return f"{prefix}{name}{slash}{rest}"
    return path


def _load(response: httpx.Response) -> Any:
    return json.loads(response.content or b"null", parse_float=Decimal)


class KSeriesClient:
    """Synchronous K-Series client over an injected `httpx.Client` (base URL, auth, timeouts).

    `auth_for(bl)`: the auth of a call about a location (the tokens of the business owning it,
    `worker.kseries.routing`); without it every call uses the client's own auth."""

    def __init__(self, http: httpx.Client, *, auth_for: AuthFor | None = None) -> None:
        self._http = http
        self._auth_for = auth_for

    # --- orders and payments ------------------------------------------------------------------

    def submit_order(self, kind: OrderKind, order: LocalOrder | ToGoOrder) -> Accepted:
        """POST an order. 'duplicate' means K-Series had already accepted this reference.

        Raises:
            ValidationRejected: 400, permanent; `field_errors` names the fields.
            RateLimited, ServerError, TransportError, BadResponse: retryable.
            AuthError: credentials refused.
        """
        path = ORDER_PATHS[kind]
        response = self._send("POST", path, order.businessLocationId, content=dumps(order))
        if response.status_code == 409 and ALREADY_USED in response.text:
            return "duplicate"
        self._check(response, path)
        self._expect_ok(response, path)
        return "accepted"

    def apply_payment(self, payment: ApplyPayment) -> Accepted:
        """POST a payment. 'duplicate' means this payment reference was already accepted.

        Raises:
            ValidationRejected: 400 other than a reused reference, permanent.
            RateLimited, ServerError, TransportError, BadResponse: retryable.
        """
        response = self._send("POST", PAY_PATH, payment.businessLocationId, content=dumps(payment))
        if response.status_code == 400 and ALREADY_USED in response.text:
            return "duplicate"
        self._check(response, PAY_PATH)
        self._expect_ok(response, PAY_PATH)
        return "accepted"

    def sale_by_reference(self, business_location_id: int, reference: str) -> Sale | None:
        """The sale an online order became, or None while it is not on the POS (404)."""
        path = f"/f/finance/{business_location_id}/saleByExternalReference"
        params = {"externalReferenceId": sale_reference(business_location_id, reference)}
        return self._get_optional(path, business_location_id, params, Sale)

    def account(self, business_location_id: int, identifier: str) -> AccountSnapshot | None:
        """One check by its account identifier, or None when K-Series does not know it."""
        path = f"/o/op/1/order/accounts/{identifier}"
        params = {"businessLocationId": business_location_id}
        return self._get_optional(path, business_location_id, params, AccountSnapshot)

    def readiness(self, business_location_id: int) -> Readiness:
        """Whether the location can take online orders now."""
        path = "/o/op/1/onlineOrderReadiness"
        params = {"businessLocationId": business_location_id}
        response = self._send("GET", path, business_location_id, params=params)
        self._check(response, path)
        return self._parse(response, path, Readiness)

    # --- webhook registration -----------------------------------------------------------------

    def register_webhook(self, registration: WebhookRegistration) -> Literal["created", "updated"]:
        """Create the endpoint, or update it when it exists (idempotent)."""
        path = "/o/wh/1/webhook"
        exists = self.get_webhook(registration.endpointId) is not None
        response = self._send("POST" if exists else "PUT", path, None, content=dumps(registration))
        self._check(response, path)
        return "updated" if exists else "created"

    def get_webhook(self, endpoint_id: str) -> dict[str, Any] | None:
        path = f"/o/wh/1/webhook/{endpoint_id}"
        response = self._send("GET", path, None)
        if response.status_code == 404:
            return None
        self._check(response, path)
        body = _load(response)
        if not isinstance(body, dict):
            raise BadResponse(response.status_code, response.text, endpoint=path)
        return body

    def delete_webhook(self, endpoint_id: str) -> bool:
        path = f"/o/wh/1/webhook/{endpoint_id}"
        response = self._send("DELETE", path, None)
        if response.status_code == 404:
            return False
        self._check(response, path)
        return True

    # --- plumbing -----------------------------------------------------------------------------

    def _send(
        self, method: str, path: str, business_location_id: int | None, **kwargs: Any
    ) -> httpx.Response:
        """Send on the tokens of the business owning the location (none given: the client's).

        Raises:
            AuthError: no login covers the location (nothing was sent).
            TransportError: no answer.
        """
        headers = {"Content-Type": "application/json"} if "content" in kwargs else {}
        auth: Any = httpx.USE_CLIENT_DEFAULT
        if self._auth_for is not None and business_location_id is not None:
            auth = self._auth_for(business_location_id)
            if auth is None:
                raise AuthError(401, NOT_COVERED, endpoint=path)
        try:
            return self._http.request(method, path, headers=headers, auth=auth, **kwargs)
        except httpx.TransportError as exc:
            raise TransportError(f"{method} {path}: {type(exc).__name__}", endpoint=path) from exc

    def _get_optional(
        self, path: str, business_location_id: int, params: dict[str, Any], model: type[M]
    ) -> M | None:
        response = self._send("GET", path, business_location_id, params=params)
        if response.status_code == 404:
            return None
        self._check(response, path)
        return self._parse(response, path, model)

    @staticmethod
    def _parse(response: httpx.Response, path: str, model: type[M]) -> M:
        try:
            return model.model_validate(_load(response))
        except (ValueError, ValidationError) as exc:
            raise BadResponse(response.status_code, response.text, endpoint=path) from exc

    @staticmethod
    def _expect_ok(response: httpx.Response, path: str) -> None:
        """A 2xx without `{"status": "ok"}` does not say the order or payment was taken."""
        with contextlib.suppress(ValueError):
            body = _load(response)
            if isinstance(body, dict) and body.get("status") == "ok":
                return
        raise BadResponse(response.status_code, response.text, endpoint=path)

    @staticmethod
    def _check(response: httpx.Response, path: str) -> None:
        """Map a non-2xx answer to the error tree."""
        status, text = response.status_code, response.text
        if 200 <= status < 300:
            return
        if status == 400:
            raise _validation_error(response, path)
        if status == 409 and ALREADY_USED in text:
            raise ReferenceAlreadyUsed(status, text, endpoint=path)
        if status in (401, 403):
            raise AuthError(status, text, endpoint=path)
        if status == 404:
            raise NotFound(status, text, endpoint=path)
        if status == 429:
            retry_after = _retry_after(response.headers.get("Retry-After"))
            raise RateLimited(status, text, endpoint=path, retry_after_s=retry_after)
        if status >= 500:
            raise ServerError(status, text, endpoint=path)
        raise UpstreamError(status, text, endpoint=path)


def _validation_error(response: httpx.Response, path: str) -> ValidationRejected:
    try:
        body = SpringError.model_validate(_load(response))
    except (ValueError, ValidationError):
        return ValidationRejected(400, response.text, endpoint=path)
    fields = tuple(
        FieldError(e.field or "?", e.defaultMessage or "invalid") for e in body.errors
    ) or ((FieldError("request", body.message),) if body.message else ())
    return ValidationRejected(400, response.text, endpoint=path, field_errors=fields)

"""orderflow's exceptions, split by cause; retryable vs permanent is decided here, once.

OrderflowError
├── KSeriesError                  a call to K-Series did not give what we asked for
│   ├── TransportError            no HTTP answer (connect, read timeout, reset)   retryable
│   └── UpstreamError             an HTTP answer we cannot use (carries status, body excerpt)
│       ├── ValidationRejected    400: the request is invalid                      permanent
│       ├── ReferenceAlreadyUsed  409 order / 400 payment: the effect already happened
│       ├── AuthError             401/403                                          permanent*
│       ├── NotFound              404                                              permanent
│       ├── RateLimited           429 (retry_after_s from Retry-After)             retryable
│       ├── ServerError           5xx                                              retryable
│       └── BadResponse           2xx whose body is not what the schema says       retryable
├── InvalidSubmission             a producer's submission is invalid (fields named)
├── ReferenceConflict             same reference, different body
├── OrderNotFound                 no such order in the store
├── StoreUnavailable              Redis cannot be reached
└── WebhookAuthError              a notification without the configured credentials

* the client refreshes the token and retries once before raising AuthError.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AuthError",
    "BadResponse",
    "FieldError",
    "InvalidSubmission",
    "KSeriesError",
    "NotFound",
    "OrderNotFound",
    "OrderflowError",
    "RateLimited",
    "ReferenceAlreadyUsed",
    "ReferenceConflict",
    "ServerError",
    "StoreUnavailable",
    "TransportError",
    "UpstreamError",
    "ValidationRejected",
    "WebhookAuthError",
]


class OrderflowError(Exception):
    """Base of every error orderflow raises on purpose."""

    retryable: bool = False


class KSeriesError(OrderflowError):
    """A K-Series call failed; `retryable` says whether the same call may succeed later."""

    def __init__(self, message: str, *, endpoint: str = "") -> None:
        super().__init__(message)
        self.endpoint = endpoint


class TransportError(KSeriesError):
    """No HTTP answer at all. The request may or may not have reached K-Series."""

    retryable = True


class UpstreamError(KSeriesError):
    """K-Series answered with a status we cannot treat as success."""

    def __init__(self, status: int, body: str, *, endpoint: str = "") -> None:
        self.status = status
        self.body_excerpt = body[:300]
        super().__init__(f"{endpoint} answered {status}: {self.body_excerpt}", endpoint=endpoint)


@dataclass(frozen=True)
class FieldError:
    """One invalid field, as K-Series' Spring-style errors or our own validation name it."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ValidationRejected(UpstreamError):
    """400: permanent. `field_errors` holds the API's `errors[].field/defaultMessage`."""

    def __init__(
        self,
        status: int,
        body: str,
        *,
        endpoint: str = "",
        field_errors: tuple[FieldError, ...] = (),
    ) -> None:
        super().__init__(status, body, endpoint=endpoint)
        self.field_errors = field_errors
        self.message = "; ".join(map(str, field_errors)) or self.body_excerpt


class ReferenceAlreadyUsed(UpstreamError):
    """The reference was used before: the order (409) or payment (400) was already accepted."""


class AuthError(UpstreamError):
    """401/403 after one refresh-and-retry: our credentials are not good."""


class NotFound(UpstreamError):
    """404: for the sale lookup this means 'not on the POS (yet)'."""


class RateLimited(UpstreamError):
    """429: retry after `retry_after_s` (from Retry-After, seconds or HTTP date) or backoff."""

    retryable = True

    def __init__(
        self, status: int, body: str, *, endpoint: str = "", retry_after_s: float | None = None
    ) -> None:
        super().__init__(status, body, endpoint=endpoint)
        self.retry_after_s = retry_after_s


class ServerError(UpstreamError):
    """5xx: K-Series had a problem; the request may or may not have taken effect."""

    retryable = True


class BadResponse(UpstreamError):
    """A success status whose body does not match the published schema."""

    retryable = True


class InvalidSubmission(OrderflowError):
    """A producer's submission failed validation; nothing was stored or enqueued."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        fields = ", ".join(str(e.get("field", "?")) for e in errors)
        super().__init__(f"invalid submission: {fields}")


@dataclass
class ReferenceConflict(OrderflowError):
    """The reference is already stored with a different body."""

    business_location_id: int
    reference: str
    detail: str = field(default="the reference was already submitted with a different body")

    def __str__(self) -> str:
        return f"{self.business_location_id}/{self.reference}: {self.detail}"


@dataclass
class OrderNotFound(OrderflowError):
    """No order is stored under this key."""

    business_location_id: int
    reference: str

    def __str__(self) -> str:
        return f"no order {self.business_location_id}/{self.reference}"


class StoreUnavailable(OrderflowError):
    """Redis cannot be reached: the API answers 503, tasks retry."""

    retryable = True


class WebhookAuthError(OrderflowError):
    """A notification arrived without the configured Basic credentials."""

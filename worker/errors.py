"""orderflow's exceptions, split by cause; retryable vs permanent is decided here, once.

OrderflowError
├── KSeriesError                  a call to K-Series did not give what we asked for
│   ├── TransportError            no HTTP answer (connect, read timeout, reset)   retryable
│   └── UpstreamError             an HTTP answer we cannot use (status, parsed detail)
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
│   └── NotReplicated             no replica confirmed a write that must survive a failover
└── WebhookAuthError              a notification without the configured credentials

* the client refreshes the token and retries once before raising AuthError; orderflow then
  tries again minutes apart (`AccessDenied`), since credentials do not mend themselves.

An upstream body is never kept as text: it may echo the order back, customer and all. An error
keeps the status, K-Series' error code and message and its field errors, each redacted
(`summarize`), and nothing else; that is what reaches `failureReason`, the history and logs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AuthError",
    "BadResponse",
    "FieldError",
    "InvalidSubmission",
    "KSeriesError",
    "NotFound",
    "NotReplicated",
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
    "redact",
    "summarize",
]

MAX_TEXT = 120  # characters kept of one upstream message
MAX_FIELDS = 5  # field errors kept of one answer
MAX_PARSED = 64 * 1024  # larger bodies are not parsed at all
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\+?\(?\d[\d\s()./-]{5,}\d")
_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,63}")  # an error code: one word, no data


def redact(text: str) -> str:
    """`text` on one line, bounded, without email addresses or phone-like numbers (7+ digits)."""
    text = _EMAIL.sub("<email>", text)
    text = _PHONE.sub(
        lambda m: "<phone>" if sum(c.isdigit() for c in m.group()) >= 7 else m.group(), text
    )
    text = " ".join(text.split())
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def summarize(body: str) -> str:
    """What an upstream error body says that is safe to keep: K-Series' error code and message
    and its field errors (`errors[].field/defaultMessage`), redacted. Any other text, and any
    body that is not JSON (save a bare error code such as `invalid_grant`), is left out."""
    if _CODE.fullmatch(body.strip()):
        return body.strip()
    if len(body) > MAX_PARSED:
        return ""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return ""
    if not isinstance(data, dict):
        return ""
    parts = [str(v) for v in (data.get("error"), data.get("code")) if _is_code(v)]
    message = data.get("message", data.get("msg"))
    if isinstance(message, str) and message.strip():
        parts.append(redact(message))
    errors = data.get("errors")
    for item in errors[:MAX_FIELDS] if isinstance(errors, list) else ():
        if isinstance(item, dict):
            text = item.get("defaultMessage", item.get("message")) or "invalid"
            parts.append(f"{redact(str(item.get('field') or '?'))}: {redact(str(text))}")
    return "; ".join(parts)


def _is_code(value: object) -> bool:
    return isinstance(value, str) and _CODE.fullmatch(value) is not None


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
        self.detail = summarize(body)  # never the body itself (see the module docstring)
        text = f"{endpoint} answered {status}" + (f": {self.detail}" if self.detail else "")
        super().__init__(text, endpoint=endpoint)


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
        self.field_errors = tuple(
            FieldError(redact(e.field), redact(e.message)) for e in field_errors
        )
        self.message = "; ".join(map(str, self.field_errors)) or self.detail or f"HTTP {status}"


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


class NotReplicated(StoreUnavailable):
    """A write that must survive a failover (an accepted order, a payment reference before its
    POST) is not confirmed on enough replicas in time: the API answers 503, the payment waits."""


class WebhookAuthError(OrderflowError):
    """A notification arrived without the configured Basic credentials."""

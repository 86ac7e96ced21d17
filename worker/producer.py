"""Accepting an order submission: validate, store, enqueue. The HTTP API and Python callers
(`worker.producer.submit`) share this, so both give the same answers and the same errors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import redis
import structlog
from pydantic import BaseModel, ValidationError

from config.settings import Settings
from worker.constants import MAX_SCHEDULE_AHEAD_S
from worker.engine import utcnow
from worker.errors import InvalidSubmission, ReferenceConflict, StoreUnavailable
from worker.order import (
    LocalSubmission,
    Order,
    Status,
    SubmissionAdapter,
    ToGoSubmission,
    fingerprint,
)
from worker.store import OrderStore

__all__ = ["Producer", "Receipt", "field_errors", "submit"]

log = structlog.get_logger(__name__)
Enqueue = Callable[[int, str], None]
NOT_COVERED = (
    "no K-Series login covers this business location: log its business in "
    "(`orderflow auth login`) first"
)


class Receipt(BaseModel):
    """What a producer is told: 202 in the HTTP API."""

    businessLocationId: int
    thirdPartyReference: str
    status: Status
    statusUrl: str
    created: bool


def field_errors(exc: ValidationError, *, drop_tag: bool = True) -> list[dict[str, Any]]:
    """pydantic errors as [{field, message}], the field a dotted path in the submission."""
    errors = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = list(error["loc"])
        if drop_tag and loc and loc[0] in ("local", "toGo"):
            loc = loc[1:]
        errors.append({"field": ".".join(str(p) for p in loc) or "body", "message": error["msg"]})
    return errors


def _within_horizon(moment: datetime, now: datetime) -> str | None:
    """Why `moment` is no time for an order, or None. The horizon keeps an order's whole life
    inside its record's retention (worker.constants)."""
    if moment <= now:
        return "must be in the future"
    if moment - now > timedelta(seconds=MAX_SCHEDULE_AHEAD_S):
        return f"must be at most {MAX_SCHEDULE_AHEAD_S // 86_400} days ahead"
    return None


class Producer:
    """Validates and stores submissions, then hands them to the worker."""

    def __init__(
        self,
        *,
        store: OrderStore,
        settings: Settings,
        enqueue: Enqueue,
        clock: Callable[[], datetime] = utcnow,
        covers: Callable[[int], bool] | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._enqueue = enqueue
        self._clock = clock
        # Whether a K-Series login covers a location (`Logins.covers`); None: not checked.
        self._covers = covers

    def validate(self, body: Any) -> LocalSubmission | ToGoSubmission:
        """The submission, or InvalidSubmission naming every bad field."""
        try:
            submission = SubmissionAdapter.validate_python(body)
        except ValidationError as exc:
            raise InvalidSubmission(field_errors(exc)) from None
        problems = []
        order = submission.order
        ttl = order.maxTimeToAttemptOrderDeliverToPos
        if ttl is not None and ttl < self._settings.min_ttl_ms:
            problems.append(
                {
                    "field": "order.maxTimeToAttemptOrderDeliverToPos",
                    "message": f"must be at least {self._settings.min_ttl_ms}",
                }
            )
        now = self._clock()
        moments = {
            "scheduledTimeForOrderAsIso8601": order.scheduledTimeForOrderAsIso8601,
            "orderCollectionTimeAsIso8601": getattr(order, "orderCollectionTimeAsIso8601", None),
        }
        for name, moment in moments.items():
            if moment is not None and (problem := _within_horizon(moment, now)):
                problems.append({"field": f"order.{name}", "message": problem})
        if order.payment and order.payment.tipAmount > order.payment.paymentAmount:
            problems.append(
                {
                    "field": "order.payment.tipAmount",
                    "message": "exceeds paymentAmount (which includes it)",
                }
            )
        if submission.settleRemaining and submission.settleRemaining.maxAmount <= 0:
            problems.append(
                {"field": "settleRemaining.maxAmount", "message": "must be greater than 0"}
            )
        if problems:
            raise InvalidSubmission(problems)
        return submission

    def submit(self, body: Any) -> Receipt:
        """Store and enqueue a submission once; the same body again returns the same receipt.

        Raises:
            InvalidSubmission: nothing was stored.
            ReferenceConflict: the reference is stored with a different body.
            StoreUnavailable: Redis is down; nothing was stored.
            NotReplicated: stored on the primary, not yet confirmed on a replica: send the
                same body again (it is not accepted until a resend gets its receipt).
        """
        submission = self.validate(body)
        digest = fingerprint(submission)
        now = self._clock()
        order_body = submission.order
        self._check_covered(order_body.businessLocationId, order_body.thirdPartyReference)
        ttl = order_body.maxTimeToAttemptOrderDeliverToPos or self._settings.order_ttl_ms
        filled = submission.model_copy(
            update={
                "order": order_body.model_copy(
                    update={
                        "endpointId": order_body.endpointId or self._settings.endpoint_id,
                        "maxTimeToAttemptOrderDeliverToPos": ttl,
                    }
                )
            }
        )
        order = Order.queued(
            filled,
            now,
            ttl,
            event="submitted",
            detail=f"{submission.type} order queued",
            digest=digest,
        )
        stored, created = self._store.create(order, now)
        if not created and stored.fingerprint != digest:
            raise ReferenceConflict(stored.business_location_id, stored.reference)
        if created:
            log.info(
                "order.queued",
                business_location_id=order.business_location_id,
                reference=order.reference,
            )
            try:
                self._enqueue(order.business_location_id, order.reference)
            except Exception as exc:  # the stored timer sends it within the lease anyway
                log.warning("order.enqueue_deferred", error=type(exc).__name__)
        # Accepted means on a replica too (when one is required): a failover cannot lose it.
        self._store.confirm_replicated(stored)
        return Receipt(
            businessLocationId=stored.business_location_id,
            thirdPartyReference=stored.reference,
            status=stored.status,
            statusUrl=f"/orders/{stored.business_location_id}/{stored.reference}",
            created=created,
        )

    def _check_covered(self, bl: int, ref: str) -> None:
        """An order no K-Series login can send is refused before anything is stored (the same
        body again, for an order stored before its business logged out, gets its receipt)."""
        try:
            covered = self._covers is None or self._covers(bl)
        except redis.RedisError as exc:
            raise StoreUnavailable(f"Redis unavailable: {type(exc).__name__}") from exc
        if covered or self._store.get(bl, ref) is not None:
            return
        raise InvalidSubmission([{"field": "order.businessLocationId", "message": NOT_COVERED}])


def celery_enqueue(bl: int, ref: str) -> None:
    from worker.celery import send_advance

    send_advance(bl, ref)


def submit(submission: dict[str, Any] | LocalSubmission | ToGoSubmission) -> Receipt:
    """Python producers sharing orderflow's Redis: exactly what `POST /orders` does."""
    from config.settings import get_settings
    from worker.runtime import Runtime

    settings = get_settings()
    body = (
        submission.model_dump(mode="python", exclude_none=True)
        if isinstance(submission, BaseModel)
        else submission
    )
    runtime = Runtime(settings)
    producer = Producer(
        store=runtime.store,
        settings=settings,
        enqueue=celery_enqueue,
        covers=runtime.logins.covers,
    )
    return producer.submit(body)

"""The engine: performs what the lifecycle asks (HTTP calls) and records what came of it.

`advance` is the only way an order moves on its own, `apply_notification` the only way a
webhook moves it. Both are safe to run twice, concurrently, or after a crash: every effect is
keyed by the order's `thirdPartyReference` or a payment's stored `thirdPartyPaymentReference`,
and every write is a compare-and-set in the store.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import redis
import structlog
from pydantic import ValidationError

from worker.errors import (
    AuthError,
    KSeriesError,
    OrderNotFound,
    RateLimited,
    StoreUnavailable,
    UpstreamError,
    ValidationRejected,
)
from worker.events import (
    AccessDenied,
    CheckMissing,
    CheckRead,
    Event,
    Held,
    PaymentAccepted,
    PaymentRejected,
    Retry,
    SaleFound,
    SaleNotFound,
    SubmitAccepted,
    SubmitDeadline,
    SubmitRejected,
    Throttled,
)
from worker.kseries.call_log import calls_for
from worker.kseries.client import KSeriesClient
from worker.kseries.models import ApplyPayment, describe_error
from worker.kseries.notifications import (
    AccountNotification,
    ItemNotification,
    OrderNotification,
    PaymentNotification,
    ReadinessNotification,
)
from worker.lease import kept_leased
from worker.lifecycle import Action, Policy, apply, next_action
from worker.locations import HOLD_S, Locations, not_ready, why_not_ready
from worker.notifications import (
    as_event,
    from_account,
    from_sale,
    kind_of,
    parse_notification,
)
from worker.order import Order
from worker.parking import describe
from worker.store import OrderStore

__all__ = ["Engine", "utcnow"]

log = structlog.get_logger(__name__)
MAX_STEPS = 8
FAILED_CALLS = (Retry, Throttled, AccessDenied)
RATE_LIMIT_DEFAULT_S = 2.0  # a 429 without Retry-After
RATE_LIMIT_MAX_S = 300.0
TOKENS_REFUSED = "K-Series refused our tokens; waiting for `orderflow auth login`"
TOKENS_HOLD_S = 30.0  # how often a held order looks again whether a login happened
MAX_NOTIFICATION_FAILURES = 3  # unexpected errors on one notification before it is parked


def utcnow() -> datetime:
    return datetime.now(UTC)


class Engine:
    """Runs the lifecycle against K-Series and the store."""

    def __init__(
        self,
        *,
        store: OrderStore,
        client: KSeriesClient,
        policy: Policy,
        clock: Callable[[], datetime] = utcnow,
        endpoint_id: str = "orderflow",
        readiness_check: bool = False,
        tokens_refused: Callable[[int], bool] = lambda bl: False,
    ) -> None:
        # True while K-Series refuses the refresh token of the business owning the location:
        # its new orders are held, not sent to a 401 (other businesses' orders go on).
        self.tokens_refused = tokens_refused
        self.endpoint_id = endpoint_id
        self.readiness_check = readiness_check
        self.store = store
        self.client = client
        self.policy = policy
        self.clock = clock
        self.locations = Locations(store, policy, clock)  # readiness holds, per-location gauges

    # --- orders -------------------------------------------------------------------------------

    def advance(self, bl: int, ref: str, *, current: Order | None = None) -> Order | None:
        """Do what is due for this order, as many steps as are due now, then stop.

        `current`: the record this task has just written, if any (not read again).
        """
        # A record this task wrote has its timer where that write put it (set, or removed when
        # it ended): no lease can have moved it since, so there is nothing to put back. Every
        # later step's write is compare-and-set, as for the records the loop below writes.
        own = current is not None
        order = current if current is not None else self.store.get(bl, ref)
        for _ in range(MAX_STEPS):
            if order is None:
                log.warning("order.missing")
                self.store.drop_timer(f"o:{bl}:{ref}")
                return None
            action = next_action(order, self.clock(), self.policy)
            if action is Action.NONE:
                if not own:
                    self.store.drop_timer(f"o:{order.key}")
                return order
            if action is Action.WAIT:
                if not own:
                    # A lease may have moved the timer: put it back where the record says.
                    self.store.reschedule(order)
                return order
            member = f"o:{order.key}"
            with kept_leased(self.store, member, lease=self.policy.lease, clock=self.clock):
                event = self._perform(action, order)
            order = self._record(order, event)
            own = True
            if isinstance(event, FAILED_CALLS):
                # The lifecycle set when to try again; never a second try in the same task.
                return order
        return order

    def _record(self, before: Order, event: Event) -> Order:
        after = self.store.transition(
            before.business_location_id,
            before.reference,
            lambda o: apply(o, event, self.clock(), self.policy),
        )
        self.locations.recorded(before, after)
        if after.status is not before.status:
            self.store.count("transitions", f"{before.status}->{after.status}")
            log.info(
                "order.transition",
                from_status=str(before.status),
                to_status=str(after.status),
                cause=after.history[-1].event,
                detail=after.history[-1].detail,
            )
        return after

    def _perform(self, action: Action, order: Order) -> Event:
        bl = order.business_location_id
        if action is Action.SUBMIT and self.tokens_refused(bl):
            return Held("submit", TOKENS_REFUSED, TOKENS_HOLD_S)
        # What K-Series last pushed about the location: NOT_READY holds the order unsent; known
        # READY spares the pre-flight call; unknown or stale decides nothing. Read with the
        # location's usual time to the POS, which an accepted submit or payment waits before
        # its first look (one Redis read either way).
        kept, learned = None, None
        if action is Action.SUBMIT:
            kept, learned = self.locations.before_submit(bl)
        elif action is Action.POST_PAYMENT:
            learned = self.locations.time_to_pos(bl)
        if kept is not None and (why := not_ready(kept)):
            return Held("submit", why, HOLD_S)
        if action is Action.POST_PAYMENT:
            # The reference must be on a replica before K-Series sees it: a promoted replica
            # without it would pay again under a new one. NotReplicated: the timer retries.
            self.store.confirm_replicated(order)
        spacing_ms = max(1, int(self.policy.rate_limit_spacing.total_seconds() * 1000))
        member = f"o:{order.key}"
        turn = self.store.next_turn(bl, member, self.clock(), spacing_ms)
        if turn > 0:  # the location is rate-limited: wait for its turn without calling
            return Throttled(_call_name(action), turn)
        try:
            with calls_for(bl, order.reference):  # the ops page's call log (kseries.call_log)
                return self._call(action, order, preflight=kept is None, time_to_pos=learned)
        except RateLimited as exc:
            wait = exc.retry_after_s if exc.retry_after_s is not None else RATE_LIMIT_DEFAULT_S
            hold = min(max(wait, 0.001), RATE_LIMIT_MAX_S)
            self.store.throttle(bl, hold)
            self.store.count("retries", f"{_call_name(action)}:rate_limited")
            log.warning("kseries.rate_limited", action=action.value, retry_after_s=wait)
            # This order takes a turn too: held calls go after the throttle, one by one.
            turn = self.store.next_turn(bl, member, self.clock(), spacing_ms)
            return Throttled(_call_name(action), max(turn, hold), called=True)
        except AuthError as exc:
            self.store.count("retries", f"{_call_name(action)}:access_denied")
            log.error("kseries.access_denied", action=action.value, error=str(exc))
            return AccessDenied(_call_name(action), str(exc))
        except ValidationRejected as exc:
            if action is Action.SUBMIT:
                return SubmitRejected(exc.message)
            if action is Action.POST_PAYMENT and order.current_payment:
                return PaymentRejected(order.current_payment.reference, exc.message)
            return Retry(action.value, str(exc))
        except KSeriesError as exc:
            self.store.count("retries", _call_name(action))
            retry_after = getattr(exc, "retry_after_s", None)
            level = "warning" if exc.retryable else "error"
            getattr(log, level)("kseries.call_failed", action=action.value, error=str(exc))
            if (
                action is Action.SUBMIT
                and isinstance(exc, UpstreamError)
                and exc.status in (405, 413, 415, 422)
            ):
                return SubmitRejected(str(exc))
            return Retry(_call_name(action), str(exc), retry_after)

    def _call(
        self,
        action: Action,
        order: Order,
        *,
        preflight: bool = True,
        time_to_pos: timedelta | None = None,
    ) -> Event:
        bl, ref = order.business_location_id, order.reference
        if action is Action.SUBMIT:
            if self.readiness_check and preflight:
                readiness = self.client.readiness(bl)
                if readiness.status != "READY":
                    # Hold the order rather than burn its delivery window on a closed location.
                    why = why_not_ready(readiness.status, readiness.posStatus)
                    return Retry("readiness", f"location not ready for online orders ({why})")
            answer = self.client.submit_order(order.submission.type, order.submission.order)
            return SubmitAccepted(duplicate=answer == "duplicate", time_to_pos=time_to_pos)
        if action is Action.SUBMIT_DEADLINE:
            # An earlier try may have reached K-Series although no answer came back.
            sale = self.client.sale_by_reference(bl, ref) if order.submit_attempts else None
            return SaleFound(from_sale(sale)) if sale else SubmitDeadline()
        if action is Action.POLL_SALE:
            sale = self.client.sale_by_reference(bl, ref)
            return SaleFound(from_sale(sale)) if sale else SaleNotFound()
        if action is Action.READ_CHECK:
            identifier = order.account_identifier or ""
            account = self.client.account(bl, identifier)
            return CheckRead(from_account(account, identifier)) if account else CheckMissing()
        payment = order.current_payment
        settle = order.settle
        assert action is Action.POST_PAYMENT and payment and settle and order.account_identifier
        body = ApplyPayment(
            iKaccountIdentifier=order.account_identifier,
            thirdPartyPaymentReference=payment.reference,
            endpointId=order.submission.order.endpointId or self.endpoint_id,
            businessLocationId=bl,
            taskTtlInMs=int(self.policy.payment_ttl.total_seconds() * 1000),
            paymentMethod=settle.paymentMethod,
            paymentAmount=payment.amount,
        )
        log.info("payment.post", payment_reference=payment.reference, amount=str(payment.amount))
        answer = self.client.apply_payment(body)
        return PaymentAccepted(
            payment.reference, duplicate=answer == "duplicate", time_to_pos=time_to_pos
        )

    # --- notifications ------------------------------------------------------------------------

    def apply_notification(self, note_id: str) -> Order | None:
        """Apply a recorded notification to its order. Never raises for what a body holds: one
        orderflow cannot read, or that claims no order, is parked as unmatched with the reason;
        one whose processing fails unexpectedly is tried again (its timer stays leased) and
        parked after MAX_NOTIFICATION_FAILURES, never retried on every lease for a month."""
        try:
            after = self.apply_recorded(note_id)
        except (StoreUnavailable, redis.RedisError):
            raise  # Redis' trouble, not the notification's: its timer fires again
        except Exception as exc:
            failures = self.store.notification_failed(note_id)
            # Type and place only: a message may quote the body (customer data included).
            log.error("webhook.failed", error=describe(exc), failures=failures)
            if failures >= MAX_NOTIFICATION_FAILURES:
                reason = f"failed {failures} times: {describe(exc)}"
                self.store.notification_unmatched(note_id, reason)
            return None
        if after is None:
            return None
        # Applied and done: what follows is the order's own work, retried by its own timer.
        bl, ref = after.business_location_id, after.reference
        with structlog.contextvars.bound_contextvars(business_location_id=bl, reference=ref):
            return self.advance(bl, ref, current=after)

    def apply_recorded(self, note_id: str) -> Order | None:
        """Apply a recorded notification without calling K-Series: the order it was applied
        to, or None (kept, ignored or parked). Raises what went wrong (the API hands such a
        notification to a worker, whose `apply_notification` counts and parks failures)."""
        document = self.store.notification(note_id)
        if document is None:
            self.store.notification_done(note_id)
            return None
        try:
            note = parse_notification(document.get("payload"))
        except ValidationError as exc:
            self._park(note_id, "unreadable", describe_error(exc))
            return None
        if isinstance(note, ReadinessNotification):  # kept per location; READY wakes held orders
            self.locations.keep(note)
        if isinstance(note, ReadinessNotification | ItemNotification):
            bl = note.businessLocationId
            log.info("webhook.recorded", kind=kind_of(note), business_location_id=bl)
            self.store.notification_done(note_id)
            return None
        target = self._route(note)
        if target is None:
            self._park(note_id, "no order claims it", kind_of(note))
            return None
        bl, ref = target
        with structlog.contextvars.bound_contextvars(business_location_id=bl, reference=ref):
            before = self.store.get(bl, ref)
            if before is None:
                self._park(note_id, "no such order", f"{bl}/{ref}")
                return None
            try:
                after = self._record(before, as_event(note))
            except OrderNotFound:
                self._park(note_id, "no such order", f"{bl}/{ref}")
                return None
            self.store.notification_done(note_id)
            return after

    def _park(self, note_id: str, cause: str, detail: str) -> None:
        log.warning("webhook.unmatched", cause=cause)  # the detail may quote the body
        self.store.notification_unmatched(note_id, f"{cause}: {detail}")

    def _route(
        self, note: OrderNotification | PaymentNotification | AccountNotification
    ) -> tuple[int, str] | None:
        if isinstance(note, AccountNotification):
            return note.online_order_reference()
        if isinstance(note, PaymentNotification):
            return self.store.order_by_payment(note.thirdPartyReference)
        if note.businessLocationId is not None:
            return note.businessLocationId, note.thirdPartyReference
        locations = self.store.locations_for(note.thirdPartyReference)
        return (locations[0], note.thirdPartyReference) if len(locations) == 1 else None


def _call_name(action: Action) -> str:
    return {
        Action.SUBMIT: "submit",
        Action.SUBMIT_DEADLINE: "sale",
        Action.POLL_SALE: "sale",
        Action.READ_CHECK: "check",
        Action.POST_PAYMENT: "pay",
    }.get(action, action.value)

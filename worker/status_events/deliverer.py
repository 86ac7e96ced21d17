"""Sends one order's status events to the producer, in order, signed, at least once.

A run takes the order's lock, POSTs the first pending event, and goes on to the next only once
it is settled: delivered (2xx), or given up when its retry window has passed. A failure (non-2xx,
timeout, refused connection) puts the order's timer at a capped, jittered backoff; the sweeper
sends the order again then. The order's own progress never waits on any of this: deliveries run
in their own task, at most `ORDERFLOW_EVENTS_CONCURRENCY` at once per worker process.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import structlog
from standardwebhooks import Webhook

from config.settings import Settings
from worker.lifecycle import backoff
from worker.status_events.message import Delivery, DeliveryState, signed_headers
from worker.status_events.outbox import EventOutbox, OrderEvents
from worker.store import OrderStore

__all__ = ["Deliverer", "RetryPolicy"]

log = structlog.get_logger(__name__)
MAX_PER_RUN = 20  # events one task sends before it hands the order back to the sweeper
COUNTER = "status_events"  # outcomes: delivered, retried, undelivered
BUSY_RETRY = timedelta(milliseconds=500)  # jittered to [1, 2]x: a slot is taken, try soon


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often a failed event is tried again."""

    window: timedelta = timedelta(hours=24)
    initial: timedelta = timedelta(seconds=1)
    cap: timedelta = timedelta(minutes=5)
    rand: Callable[[], float] = field(default=random.random)

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            window=timedelta(hours=settings.events_retry_hours),
            initial=timedelta(milliseconds=settings.events_backoff_initial_ms),
            cap=timedelta(milliseconds=settings.events_backoff_max_ms),
        )

    def delay(self, attempts: int) -> timedelta:
        """After the n-th failed attempt: initial, doubling, capped, jittered to [½, 1]."""
        return backoff(attempts - 1, self.initial, self.cap, self.rand)


class Deliverer:
    """Delivers status events for one order per call; thread-safe (one per process)."""

    def __init__(
        self,
        *,
        outbox: EventOutbox,
        store: OrderStore,
        http: httpx.Client,
        url: str,
        secret: str,
        policy: RetryPolicy,
        concurrency: int = 2,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._outbox = outbox
        self._store = store
        self._http = http
        self._url = url
        self._webhook = Webhook(secret)
        self._policy = policy
        self._slots = threading.BoundedSemaphore(concurrency)
        self._clock = clock
        timeout = http.timeout
        phases = (timeout.connect, timeout.read, timeout.write, timeout.pool)
        longest = max((t for t in phases if t), default=5.0)
        # Held across one attempt at a time (renewed before each): a dead holder frees it soon.
        self._lock_ms = int(longest * 4 * 1000) + 5_000

    @classmethod
    def from_settings(
        cls, settings: Settings, *, outbox: EventOutbox, store: OrderStore
    ) -> Deliverer:
        if settings.events_url is None or settings.events_secret is None:
            raise ValueError("status events need ORDERFLOW_EVENTS_URL and ORDERFLOW_EVENTS_SECRET")
        http = httpx.Client(
            timeout=httpx.Timeout(settings.events_timeout_s),
            follow_redirects=False,
            headers={"user-agent": "orderflow-status-events"},
            limits=httpx.Limits(max_connections=settings.events_concurrency * 2),
        )
        return cls(
            outbox=outbox,
            store=store,
            http=http,
            url=settings.events_url,
            secret=settings.events_secret.get_secret_value(),
            policy=RetryPolicy.from_settings(settings),
            concurrency=settings.events_concurrency,
        )

    def deliver(self, bl: int, ref: str) -> str:
        """Send what is due for this order, in order; returns what came of it (for the log).

        `busy`: this process's delivery slots are all taken (a burst, or a slow receiver):
        the timer comes back in about a second instead of waiting out the claim's lease.
        `locked`: another deliverer has the order; it puts the timer where it belongs.
        """
        if not self._slots.acquire(blocking=False):
            wait = BUSY_RETRY * (1 + self._policy.rand())
            self._outbox.sooner(bl, ref, _ms(self._clock() + wait))
            return "busy"
        try:
            token = self._outbox.lock(bl, ref, self._lock_ms)
            if token is None:
                return "locked"
            try:
                return self._run(bl, ref, token)
            finally:
                self._outbox.unlock(bl, ref, token)
        finally:
            self._slots.release()

    def _run(self, bl: int, ref: str, token: str) -> str:
        for _ in range(MAX_PER_RUN):
            events = self._outbox.events(bl, ref)
            head = events.head()
            now = self._clock()
            if head is None or head[1].next_ms > _ms(now):
                break
            if not self._outbox.renew(bl, ref, token, self._lock_ms):
                return "lost lock"  # another deliverer has the order (and its timer) now
            self._outbox.lease(bl, ref, _ms(now))
            if not self._attempt(events, *head):
                break
        due = self._outbox.reschedule(bl, ref, _ms(self._clock()))
        return "done" if due is None else "waiting"

    def _attempt(self, events: OrderEvents, index: int, delivery: Delivery) -> bool:
        """POST one event and record the outcome; True when the next one may go."""
        error = self._post(delivery)
        now = self._clock()
        attempts = delivery.attempts + 1
        fields = {"event_id": delivery.id, "type": delivery.type, "attempts": attempts}
        if error is None:
            delivered = {"state": DeliveryState.DELIVERED, "payload": None, "error": None}
            self._save(events, index, delivery, attempts, now, **delivered)
            self._store.count(COUNTER, "delivered")
            log.info("status_event.delivered", **fields)
            return True
        if _ms(now) >= delivery.since_ms + _ms_of(self._policy.window):
            self._save(
                events, index, delivery, attempts, now, state=DeliveryState.UNDELIVERED, error=error
            )
            self._store.count(COUNTER, "undelivered")
            log.error("status_event.undelivered", error=error, **fields)
            return True
        retry_at = now + self._policy.delay(attempts)
        self._save(events, index, delivery, attempts, now, error=error, next_ms=_ms(retry_at))
        self._store.count(COUNTER, "retried")
        log.warning("status_event.retry", error=error, retry_at=retry_at.isoformat(), **fields)
        return False

    def _save(
        self,
        events: OrderEvents,
        index: int,
        delivery: Delivery,
        attempts: int,
        now: datetime,
        **updates: object,
    ) -> None:
        done = {"done_ms": _ms(now)} if updates.get("state") is not None else {}
        after = delivery.model_copy(update={"attempts": attempts, **done, **updates})
        self._outbox.save(events, index, after)

    def _post(self, delivery: Delivery) -> str | None:
        """None when the receiver took it (2xx); else why not, without the URL (it may carry a
        token) or the receiver's body."""
        headers = signed_headers(self._webhook, delivery, self._clock())
        try:
            response = self._http.post(self._url, content=delivery.body.encode(), headers=headers)
        except httpx.TimeoutException:
            return "timed out"
        except httpx.ConnectError:
            return "could not connect"
        except httpx.HTTPError as exc:
            return type(exc).__name__
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"


def _ms_of(span: timedelta) -> int:
    return int(span.total_seconds() * 1000)

"""The timer sweeper: a process loop that sends the work durable timers say is due.

It is a loop, not a Celery task: nothing sleeps in a worker, and Flower's task list shows only
`orderflow.advance` and `orderflow.apply_notification` with their order arguments, never
thousands of sweeps. Any number may run at once (`orderflow sweeper`): a claim is one atomic
Lua script that leases the timers it returns, so each due timer goes to one sweeper per lease,
and killing a sweeper stops nothing while another runs.

Each pass sends work already under way first (polls, payments, check reads, webhooks), to the
queues workers read before new submissions, and never holds it back for a backlog: past
`MAX_BACKLOG` waiting messages it still sends `RECOVERY_BATCH` timers a pass, so recovery after
a worker is killed always proceeds. Timers of new orders (no worker has taken them yet) are sent
only while the new-order queue has room: their messages are most likely still in that queue.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from kombu.exceptions import OperationalError

from config.queues import EVENT_QUEUE, NEW_QUEUE, QUEUE
from worker.errors import StoreUnavailable
from worker.store import OrderStore

__all__ = ["KEEPALIVE_EVERY_S", "MAX_BACKLOG", "RECOVERY_BATCH", "SWEEP_BATCH", "Sweeper", "serve"]

log = structlog.get_logger(__name__)

SWEEP_BATCH = 500  # timers claimed at once
SWEEP_ROUNDS = 20  # claims per pass at most, while each comes back full
MAX_BACKLOG = 1_000  # waiting messages past which a queue gets no more than the minimum
RECOVERY_BATCH = 50  # timers of work under way sent per pass whatever the backlog
KEEPALIVE_EVERY_S = 60.0  # how often the token keepalive looks at the refresh token's expiry


class SendAdvance(Protocol):
    def __call__(self, business_location_id: int, reference: str, /, *, under_way: bool) -> None:
        """Send `orderflow.advance` for the order: to the under-way queue, or the new one."""


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Sweeper:
    """One sweeper's pass over the timers; the senders put tasks on the broker by name."""

    store: OrderStore
    send_advance: SendAdvance
    send_notification: Callable[[str], None]
    queue_length: Callable[[str], int]
    send_status_events: Callable[[int, str], None] | None = None
    clock: Callable[[], datetime] = field(default=utcnow)

    def sweep(self) -> int:
        """Send every due timer there is room for; returns how many were sent."""
        try:
            under_way = self._room(QUEUE, EVENT_QUEUE)
            new = self._room(NEW_QUEUE)
        except (OperationalError, OSError) as exc:
            # Nothing can be sent: claim nothing (a claim would only push the timers a lease on).
            log.warning("sweeper.broker_unavailable", error=type(exc).__name__)
            return 0
        sent = self._send_due(max(RECOVERY_BATCH, under_way), new=False)
        return sent + self._send_due(new, new=True)

    def _room(self, *queues: str) -> int:
        """Messages these queues may still take before the backlog limit (unknown: a minimum).

        Raises:
            OperationalError, OSError: the broker cannot be reached.
        """
        try:
            waiting = sum(self.queue_length(queue) for queue in queues)
        except (OperationalError, OSError):
            raise
        except Exception as exc:  # the broker's own quirks vary by transport
            log.warning("sweeper.queue_length_unknown", error=type(exc).__name__)
            return RECOVERY_BATCH
        return MAX_BACKLOG - waiting

    def _send_due(self, room: int, *, new: bool) -> int:
        sent = 0
        for _ in range(SWEEP_ROUNDS):
            batch = min(SWEEP_BATCH, room - sent)
            if batch <= 0:
                break
            due = self.store.claim_due(self.clock(), batch, new=new)
            done = self._send(due, under_way=not new)
            sent += done
            if done < len(due) or len(due) < batch:
                break
        return sent

    def _send(self, members: list[str], *, under_way: bool) -> int:
        """Send one task per claimed timer; stop at the first failure (the broker is down: the
        rest are leased and fire again when their lease runs out)."""
        for sent, member in enumerate(members):
            kind, _, rest = member.partition(":")
            try:
                bl, _, ref = rest.partition(":")
                if kind == "o":
                    self.send_advance(int(bl), ref, under_way=under_way)
                elif kind == "n":
                    self.send_notification(rest)
                elif kind == "e" and self.send_status_events is not None:
                    self.send_status_events(int(bl), ref)
            except Exception as exc:
                log.error(
                    "sweeper.send_failed", error=type(exc).__name__, unsent=len(members) - sent
                )
                return sent
        return len(members)

    def run(self, interval_s: float, stop: threading.Event) -> None:
        """Sweep every `interval_s` until `stop` is set; a pass that took longer starts the next
        at once. Redis being down is waited out, never fatal."""
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.sweep()
            except StoreUnavailable as exc:
                log.warning("sweeper.store_unavailable", error=str(exc))
            except Exception as exc:  # one bad pass must not stop every timer
                log.error("sweeper.pass_failed", error=type(exc).__name__)
            stop.wait(max(0.0, interval_s - (time.monotonic() - started)))


def _keep_tokens_alive(keep_alive: Callable[[], Any], stop: threading.Event) -> None:
    """Refresh every business's K-Series refresh token before it expires, even without any
    order traffic, and read their business lists again when due (`BusinessAuth.keep_alive`)."""
    while not stop.is_set():
        try:
            keep_alive()
        except Exception as exc:  # the next look is a minute away
            log.error("oauth.keepalive_failed", error=type(exc).__name__)
        stop.wait(KEEPALIVE_EVERY_S)


def serve() -> None:
    """`orderflow sweeper`: sweep until SIGTERM or Ctrl-C; keep the K-Series tokens alive."""
    from config.settings import get_settings
    from worker.celery import (
        queue_length,
        send_advance,
        send_deliver_events,
        send_notification,
    )
    from worker.runtime import Runtime

    settings = get_settings()
    runtime = Runtime(settings)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    sweeper = Sweeper(
        store=runtime.store,
        send_advance=lambda bl, ref, *, under_way: send_advance(
            bl, ref, retry=False, under_way=under_way
        ),
        send_notification=lambda note_id: send_notification(note_id, retry=False),
        queue_length=queue_length,
        send_status_events=lambda bl, ref: send_deliver_events(bl, ref, retry=False),
    )
    keepalive = threading.Thread(
        target=_keep_tokens_alive,
        args=(runtime.auth.keep_alive, stop),
        name="token-keepalive",
        daemon=True,
    )
    keepalive.start()
    log.info("sweeper.started", interval_s=settings.sweep_interval_s)
    sweeper.run(settings.sweep_interval_s, stop)
    log.info("sweeper.stopped")

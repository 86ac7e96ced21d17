"""What the API does with a webhook once it is recorded and answered.

Applying a notification needs no K-Series call (ORDER, PAYMENT and account news change the
record; readiness is kept): the API applies it itself, so a webhook costs no Celery message.
Only what it makes due (a check read, a payment) goes to a worker, as `orderflow.advance` on
the events queue, read first. Anything that goes wrong hands the notification to a worker
(`orderflow.apply_notification`), which counts failures and parks what keeps failing; if that
send fails too, the notification's leased timer fires and a sweeper sends it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import structlog

from worker.engine import Engine
from worker.lifecycle import Action, next_action

__all__ = ["WebhookHandoff"]

log = structlog.get_logger(__name__)


@dataclass
class WebhookHandoff:
    """Applies a recorded notification in this process; sends on only what needs K-Series."""

    engine: Engine
    send_notification: Callable[[str], None]  # the worker applies it (the fallback)
    send_advance: Callable[[int, str], None]  # the steps it made due, to the events queue

    def __call__(self, note_id: str) -> None:
        """Raises only what a send raised (the broker is down): the timer covers it."""
        try:
            after = self.engine.apply_recorded(note_id)
        except Exception as exc:  # Redis, or a body no code handles: the worker's path decides
            log.warning("webhook.handed_to_worker", error=type(exc).__name__)
            self.send_notification(note_id)
            return
        if after is None:
            return
        now = self.engine.clock()
        if next_action(after, now, self.engine.policy) in (Action.NONE, Action.WAIT):
            return  # ended, or its timer (set by the write) says when to look again
        # Leased first, so no sweeper sends the same step while the message waits in line.
        self.engine.store.lease(f"o:{after.key}", now)
        self.send_advance(after.business_location_id, after.reference)

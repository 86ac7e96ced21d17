"""Timing recovery after a SIGKILL: which orders were due, and when each moved again.

An order "moves" when its record's `version` grows: every step a worker takes for a due order
writes it. Read through `OrderStore`, the same repository the workers use.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from bench.chaos.report import SweeperKill
from worker.errors import StoreUnavailable
from worker.order import Order, Status
from worker.store import OrderStore

__all__ = ["Probe"]

ACTIVE = (Status.QUEUED, Status.SUBMITTED, Status.CONFIRMED, Status.SETTLING)
POLL_S = 0.2


@dataclass(frozen=True)
class _Due:
    version: int
    due_at: float  # epoch seconds (0 for an order due as soon as it was created)


class Probe:
    def __init__(self, redis_url: str) -> None:
        client = redis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=2)
        self.store = OrderStore(client)

    def due_by(self, moment: float) -> dict[tuple[int, str], _Due]:
        """Active orders whose next step is due at `moment` (epoch seconds) or before."""
        due = {}
        for status in ACTIVE:
            for bl, ref in self.store.keys_with_status(status):
                order = self.store.get(bl, ref)
                if order is None or order.status.terminal:
                    continue
                due_at = order.wake_at.timestamp() if order.wake_at else 0.0
                if due_at <= moment:
                    due[(bl, ref)] = _Due(order.version, due_at)
        return due

    def _moved(self, key: tuple[int, str], before: _Due) -> bool:
        order: Order | None = self.store.get(*key)
        return order is None or order.version > before.version

    def watch(
        self, due: dict[tuple[int, str], _Due], since: float, budget_s: float = 30.0
    ) -> tuple[dict[tuple[int, str], float], int]:
        """Wait until each order moved (or `budget_s`); when each moved, and how many never."""
        waiting, moved_at = dict(due), {}
        while waiting and time.time() - since < budget_s:
            for key, before in list(waiting.items()):
                try:
                    if self._moved(key, before):
                        moved_at[key] = time.time()
                        del waiting[key]
                except StoreUnavailable:
                    break
            time.sleep(POLL_S)
        return moved_at, len(waiting)

    def worker_kill(self, kill: Callable[[], None]) -> tuple[float, int]:
        """Seconds from the kill until every order due then, and not moved since, moved again
        (30 when some never), and how many those were. Looked at after the kill, so what the
        dead worker held is among them: nothing moves it before its lease runs out."""
        killed_at = time.time()
        kill()
        due = self.due_by(killed_at)
        moved_at, never = self.watch(due, killed_at)
        if never:
            return 30.0, len(due)
        return max((t - killed_at for t in moved_at.values()), default=0.0), len(due)

    def sweeper_kill(self, kill: Callable[[], None], window_s: float = 5.0) -> SweeperKill:
        """The orders due from the kill to `window_s` after it: how late each moved."""
        killed_at = time.time()
        kill()
        due = self.due_by(killed_at + window_s)
        moved_at, never = self.watch(due, killed_at, budget_s=window_s + 30.0)
        late = [t - max(due[key].due_at, killed_at) for key, t in moved_at.items()]
        # Moved once due: by its timer (a notification may have moved it earlier).
        by_timer = [t - killed_at for key, t in moved_at.items() if t >= due[key].due_at]
        return SweeperKill(
            watched=len(due),
            unmoved=never,
            first_move_s=min(by_timer, default=0.0),
            worst_lateness_s=max([0.0, *late]),
        )

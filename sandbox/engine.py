"""The sandbox's one state object: K-Series' acceptance rules plus the POS's timing.

K-Series answers at once ("accepted for delivery"); the POS sees the order or payment
`pos_delay_s` later, or, while its location is offline, not until it comes back, and never
after the task's delivery deadline. Timers are asyncio tasks in the server's own loop, which is
fine for a simulator: a restart forgets everything, like a fresh trial account.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine, Iterable
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx
import structlog

from sandbox.auth import TokenStore
from sandbox.businesses import Business, Directory
from sandbox.config import SandboxConfig
from sandbox.formats import Clock, SystemClock
from sandbox.ledger import Ledger
from sandbox.notifier import Notifier
from sandbox.pos import POS, OrderRequest, PaymentRequest
from sandbox.views import (
    order_failure,
    order_notification,
    payment_failure,
    payment_success,
)
from sandbox.webhooks import WebhookRegistry

__all__ = ["TIMEOUT_REASON", "Accepted", "Sandbox"]

log = structlog.get_logger("sandbox")
TIMEOUT_REASON = "Not processed before validity ended"
Accepted = Literal["accepted", "duplicate"]


class Sandbox:
    """Config, RNG, POS, ledger, businesses, webhooks, tokens and pending timers, in one place."""

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        businesses: Iterable[Business] | None = None,
        clock: Clock | None = None,
        notify_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config or SandboxConfig()
        self.clock: Clock = clock or SystemClock()
        self.rng = random.Random(self.config.seed)  # noqa: S311 - simulation, not security
        self.ledger = Ledger()
        self.pos = POS(self.rng)
        self.businesses = Directory(businesses)
        self.webhooks = WebhookRegistry(self.businesses)
        self.tokens = TokenStore(self.config, self.clock, self.ledger)
        self.notifier = Notifier(
            self.config,
            rng=self.rng,
            ledger=self.ledger,
            clock=self.clock,
            endpoints=self.webhooks,
            transport=notify_transport,
        )
        self._order_refs: dict[int, set[str]] = {}
        self._payment_refs: dict[int, set[str]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()

    # --- lifecycle -----------------------------------------------------------------------

    async def aclose(self) -> None:
        await self._cancel_tasks()
        await self.notifier.aclose()

    async def reset(self, *, webhooks: bool = False, tokens: bool = False) -> None:
        """Forget orders, checks, payments and the ledger; keep config (and, unless told,
        webhook registrations and tokens, so a running orderflow stays connected)."""
        await self._cancel_tasks()
        self.rng.seed(self.config.seed)
        self.pos = POS(self.rng)
        self.ledger.clear()
        self._order_refs.clear()
        self._payment_refs.clear()
        if webhooks:
            self.webhooks.clear()
        if tokens:
            self.tokens.clear()

    def config_changed(self, *, reseed: bool = False) -> None:
        """Wake every task waiting for an offline location; re-seed when the seed changed."""
        if reseed:
            self.rng.seed(self.config.seed)
        self._changed.set()
        self._changed = asyncio.Event()

    def set_online(self, business_location_id: int, online: bool) -> None:
        offline = set(self.config.offline_locations)
        if online:
            offline.discard(business_location_id)
        else:
            offline.add(business_location_id)
        self.config.offline_locations = offline
        self.config_changed()

    async def _cancel_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("sandbox.task.crashed", exc_info=task.exception())

    def roll(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate

    def is_online(self, business_location_id: int) -> bool:
        return business_location_id not in self.config.offline_locations

    # --- what K-Series decides at once -----------------------------------------------------

    def submit_order(self, order: OrderRequest) -> Accepted:
        """Accept for delivery unless the reference was used at this location."""
        bl, ref = order.business_location_id, order.reference
        if ref in self._order_refs.get(bl, set()) or ref in self._payment_refs.get(bl, set()):
            return "duplicate"
        self._order_refs.setdefault(bl, set()).add(ref)
        self.ledger.order_accepted(bl, ref, self.clock.now())
        log.info("sandbox.order.accepted", business_location_id=bl, reference=ref)
        self._spawn(self._run_order(order, self.clock.now()))
        return "accepted"

    def submit_payment(self, payment: PaymentRequest) -> Accepted:
        """Accept unless the reference was used, by a payment or an order, at this location."""
        bl, ref = payment.business_location_id, payment.reference
        if ref in self._payment_refs.get(bl, set()) or ref in self._order_refs.get(bl, set()):
            return "duplicate"
        self._payment_refs.setdefault(bl, set()).add(ref)
        self.ledger.payment_accepted(ref, self.clock.now())
        log.info("sandbox.payment.accepted", business_location_id=bl, reference=ref)
        self._spawn(self._run_payment(payment, self.clock.now()))
        return "accepted"

    # --- what the POS does later -----------------------------------------------------------

    async def _sleep_until(self, moment: datetime) -> None:
        delay = (moment - self.clock.now()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _reach_pos(
        self, business_location_id: int, due: datetime, deadline: datetime
    ) -> bool:
        """Wait until the POS takes the task; False when its deadline passes first."""
        await self._sleep_until(due)
        while True:
            now = self.clock.now()
            if now >= deadline:
                return False
            if self.is_online(business_location_id):
                return True
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), (deadline - now).total_seconds())
            except TimeoutError:
                return False
            if self.is_online(business_location_id):
                await asyncio.sleep(self.config.pos_delay_s)  # a device picks it up

    async def _run_order(self, order: OrderRequest, accepted_at: datetime) -> None:
        start = order.scheduled_at or accepted_at
        due = start + timedelta(seconds=self.config.pos_delay_s)
        deadline = start + timedelta(milliseconds=order.ttl_ms)
        bl, ref = order.business_location_id, order.reference
        if not await self._reach_pos(bl, due, deadline):
            await self._fail_order(order, TIMEOUT_REASON)
            return
        outcome = self.pos.open_order(order, self.clock.now(), self.config.service_charge_rate)
        if not outcome.ok or outcome.account is None:
            await self._fail_order(order, outcome.reason or "UNKNOWN")
            return
        account = outcome.account
        self.ledger.order_outcome(
            bl, ref, "SUCCESS", account_identifier=account.identifier, at=self.clock.now()
        )
        log.info(
            "sandbox.order.on_pos",
            business_location_id=bl,
            reference=ref,
            account=account.identifier,
            due=str(account.due),
        )
        endpoint = order.endpoint_id
        sequence = [(endpoint, order_notification(account, "SUCCESS"))]
        if account.closed is not None:
            sequence.append((endpoint, order_notification(account, "CLOSED")))
        if self.roll(self.config.webhook_reorder_rate):
            sequence.insert(0, (endpoint, order_notification(account, "CHECK_WAS_UPDATED")))
        await self.notifier.deliver(sequence)

    async def _fail_order(self, order: OrderRequest, reason: str) -> None:
        bl, ref = order.business_location_id, order.reference
        self.ledger.order_outcome(bl, ref, "FAILURE", reason=reason, at=self.clock.now())
        log.info("sandbox.order.failed", business_location_id=bl, reference=ref, reason=reason)
        await self.notifier.deliver([(order.endpoint_id, order_failure(bl, ref, reason))])

    async def _run_payment(self, payment: PaymentRequest, accepted_at: datetime) -> None:
        due = accepted_at + timedelta(seconds=self.config.pos_delay_s)
        deadline = accepted_at + timedelta(milliseconds=payment.ttl_ms)
        bl, ref = payment.business_location_id, payment.reference
        if not await self._reach_pos(bl, due, deadline):
            self.ledger.payment_failed(ref, TIMEOUT_REASON, "TIMEOUT")
            failure = payment_failure(bl, ref, TIMEOUT_REASON, timeout=True)
            await self.notifier.deliver([(payment.endpoint_id, failure)])
            return
        outcome = self.pos.apply_payment(payment, self.clock.now())
        account = outcome.account
        if not outcome.ok or account is None:
            reason = outcome.reason or "UNKNOWN"
            self.ledger.payment_failed(ref, reason, outcome.error_type)
            log.info("sandbox.payment.failed", reference=ref, reason=reason)
            failure = payment_failure(
                bl, ref, reason, error_type=outcome.error_type, account=account
            )
            await self.notifier.deliver([(payment.endpoint_id, failure)])
            return
        self.ledger.payment_applied(
            account.identifier, ref, payment.amount, payment.tip, self.clock.now()
        )
        log.info("sandbox.payment.applied", reference=ref, account=account.identifier)
        # ORDER notifications go to the order's endpoint, PAYMENT ones to the payment's.
        order_endpoint = account.order.endpoint_id
        sequence = [(payment.endpoint_id, payment_success(account, ref))]
        if outcome.closed_now:
            sequence.append((order_endpoint, order_notification(account, "CLOSED")))
        if self.roll(self.config.webhook_reorder_rate):
            if len(sequence) > 1:
                sequence.reverse()
            else:
                update = order_notification(account, "CHECK_WAS_UPDATED")
                sequence.insert(0, (order_endpoint, update))
        await self.notifier.deliver(sequence)

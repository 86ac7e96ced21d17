"""In-flight capacity: many orders waiting on a POS that has not answered yet.

The waiting orders are written straight into Redis (not POSTed): the first through the store's
own `create` + `transition` (the producer's path, then the lifecycle's SubmitAccepted), the rest
as copies of that record under their own references, written in pipelines with exactly the
keys those two calls leave behind (record, timer, status index, reference index). Each waits in
`submitted` with a `wake_at` in the future, for a sale the sandbox has never heard of.

Measured: Redis `used_memory` per waiting order; worker slots held while they wait (`inspect
active`, expected 0); and how late timers fire: a subset comes due at a steady rate and, later,
a burst comes due at one instant; lateness = first history entry the engine appends - `wake_at`.
The stack polls with a 60-120 s backoff here, so each fired order polls once (404) within the
measurement and the figure is the timer path's, not a growing pile of re-polls.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis
import structlog.testing

from bench.harness import (
    active_tasks,
    orderflow_celery,
    percentile,
    redis_client,
    start_stack,
    stop_stack,
    used_memory,
)
from bench.orders import bench_bodies, key_of, read_orders
from worker import constants as k
from worker.events import SubmitAccepted
from worker.lifecycle import Policy, apply
from worker.order import Order, Status
from worker.producer import Producer
from worker.record_codec import decode
from worker.stack import StackConfig
from worker.store import OrderStore

__all__ = ["CapacityResult", "run_capacity"]

BATCH = 1000
WORK_TASKS = ("orderflow.advance", "orderflow.apply_notification")


@dataclass
class CapacityResult:
    orders: int = 0
    write_s: float = 0.0
    used_memory_before: int = 0
    used_memory_after: int = 0
    record_bytes: int = 0
    slot_samples: list[int] = field(default_factory=list)  # advance/apply tasks running
    active_samples: list[int] = field(default_factory=list)  # any task (sweeps included)
    steady_due: int = 0
    steady_rate: float = 0.0
    steady_lateness_s: list[float] = field(default_factory=list)
    steady_unfired: int = 0
    burst_due: int = 0
    burst_lateness_s: list[float] = field(default_factory=list)
    burst_unfired: int = 0
    timers_pending: int = 0

    @property
    def bytes_per_order(self) -> float:
        return (self.used_memory_after - self.used_memory_before) / max(1, self.orders)

    def summary(self) -> dict[str, Any]:
        def ms(values: list[float], p: float) -> float | None:
            v = percentile(values, p)
            return None if v is None else round(v * 1000, 1)

        return {
            "waiting_orders": self.orders,
            "write_s": round(self.write_s, 2),
            "used_memory_before": self.used_memory_before,
            "used_memory_after": self.used_memory_after,
            "redis_bytes_per_waiting_order": round(self.bytes_per_order, 1),
            "order_record_bytes": self.record_bytes,
            "worker_slots_held_max": max(self.slot_samples, default=0),
            "slot_samples": self.slot_samples,
            "active_tasks_samples": self.active_samples,
            "steady": {
                "due": self.steady_due,
                "due_rate_per_s": self.steady_rate,
                "fired": len(self.steady_lateness_s),
                "unfired": self.steady_unfired,
                "lateness_p50_ms": ms(self.steady_lateness_s, 50),
                "lateness_p99_ms": ms(self.steady_lateness_s, 99),
                "lateness_max_ms": ms(self.steady_lateness_s, 100),
            },
            "burst": {
                "due_at_once": self.burst_due,
                "fired": len(self.burst_lateness_s),
                "unfired": self.burst_unfired,
                "lateness_p50_ms": ms(self.burst_lateness_s, 50),
                "lateness_p99_ms": ms(self.burst_lateness_s, 99),
                "lateness_max_ms": ms(self.burst_lateness_s, 100),
                # How fast the whole burst was worked off: timers fired per second.
                "fired_per_s": round(len(self.burst_lateness_s) / max(self.burst_lateness_s), 1)
                if self.burst_lateness_s and max(self.burst_lateness_s) > 0
                else None,
            },
            "timers_pending": self.timers_pending,
        }


def _now() -> datetime:
    return datetime.now(UTC)


def _template(store: OrderStore, settings: Any, body: dict[str, Any], far: datetime) -> Order:
    """One waiting order through the real paths: the producer's create, then a transition."""
    producer = Producer(store=store, settings=settings, enqueue=lambda *_: None)
    with structlog.testing.capture_logs():  # its "order.queued" line is not the bench's output
        receipt = producer.submit(body)
    policy = Policy.from_settings(settings)
    bl, ref = receipt.businessLocationId, receipt.thirdPartyReference

    def accepted(order: Order) -> Order:
        after = apply(order, SubmitAccepted(), _now(), policy)
        return after.model_copy(
            update={"wake_at": far, "confirm_deadline": far + timedelta(hours=1)}
        )

    after = store.transition(bl, ref, accepted)
    assert after.status is Status.SUBMITTED
    return after


def _copy(template: Order, body: dict[str, Any], wake_at: datetime) -> Order:
    bl, ref = key_of(body)
    sub = template.submission
    order = sub.order.model_copy(update={"businessLocationId": bl, "thirdPartyReference": ref})
    return template.model_copy(
        update={
            "business_location_id": bl,
            "reference": ref,
            "submission": sub.model_copy(update={"order": order}),
            "wake_at": wake_at,
            "confirm_deadline": wake_at + timedelta(hours=1),
        }
    )


def _write(r: redis.Redis, orders: list[Order]) -> None:
    """What `create` + `transition` leave for a waiting order, in pipelines: the store's own
    writes (`put_many`), so the bytes measured are exactly what production keeps."""
    store = OrderStore(r)
    for i in range(0, len(orders), BATCH):
        store.put_many(orders[i : i + BATCH])


def _lateness(
    r: redis.Redis, orders: list[Order], history_len: int, timeout_s: float
) -> tuple[list[float], int]:
    """Seconds from each order's wake_at to the first history entry the engine appended."""
    keys = [(o.business_location_id, o.reference) for o in orders]
    wake = {
        (o.business_location_id, o.reference): o.wake_at.timestamp() for o in orders if o.wake_at
    }
    deadline = time.monotonic() + timeout_s
    late: dict[tuple[int, str], float] = {}
    while time.monotonic() < deadline:
        pending = [key for key in keys if key not in late]
        for times in read_orders(r, pending):
            if len(times.events) > history_len:
                late[(times.bl, times.ref)] = (
                    times.events[history_len][0] - wake[(times.bl, times.ref)]
                )
        if len(late) == len(keys):
            break
        time.sleep(0.5)
    return list(late.values()), len(keys) - len(late)


def run_capacity(  # noqa: PLR0917 -- one call site
    concurrency: int,
    pos_delay_s: float,
    orders: int,
    steady_due: int,
    steady_rate: float,
    burst_due: int,
    workdir: Path,
    log: Any = print,
    lead_s: float = 8.0,
) -> CapacityResult:
    """`orders` wait; `steady_due` of them come due at `steady_rate` from `lead_s` after they
    are written (meanwhile worker slots are sampled), then `burst_due` at one instant."""
    config = StackConfig.private(
        concurrency=concurrency,
        pos_delay_s=pos_delay_s,
        env={"ORDERFLOW_POLL_INITIAL_MS": "120000", "ORDERFLOW_POLL_MAX_MS": "120000"},
    )
    result = CapacityResult(orders=orders)
    stack = start_stack(config, workdir)
    try:
        r = redis_client(stack.redis_url)
        settings = stack.settings()
        store = OrderStore(
            redis.Redis.from_url(stack.redis_url, decode_responses=True),
            lease_ms=settings.timer_lease_ms,
        )
        celery = orderflow_celery(stack)
        time.sleep(1.0)
        result.used_memory_before = used_memory(r)

        steady_due = min(steady_due, max(0, orders - 1))
        burst_due = min(burst_due, max(0, orders - 1 - steady_due))
        far_count = orders - steady_due - burst_due
        bodies = bench_bodies(orders, "c", 20)
        began = time.monotonic()
        far0 = _now() + timedelta(hours=1)
        template = _template(store, settings, bodies[0], far0)
        raw = str(r.get(store.order_key(template.business_location_id, template.reference)))
        assert decode(raw) == template  # the bytes measured are a record the store reads back
        result.record_bytes = len(raw.encode())  # as stored: compressed (worker.record_codec)
        history_len = len(template.history)
        far = [
            _copy(template, body, far0 + timedelta(seconds=3600 * i / max(1, far_count)))
            for i, body in enumerate(bodies[1:far_count], start=1)
        ]
        _write(r, far)
        log(f"  capacity: {far_count} far orders written in {time.monotonic() - began:.1f} s")
        # The steady subset comes due `lead` seconds from now at `steady_rate`; the burst after it.
        t_steady = _now() + timedelta(seconds=lead_s)
        steady = [
            _copy(template, body, t_steady + timedelta(seconds=j / steady_rate))
            for j, body in enumerate(bodies[far_count : far_count + steady_due])
        ]
        steady_span = steady_due / steady_rate if steady_due else 0.0
        t_burst = t_steady + timedelta(seconds=steady_span + lead_s)
        burst = [_copy(template, body, t_burst) for body in bodies[far_count + steady_due :]]
        _write(r, steady + burst)
        result.write_s = time.monotonic() - began
        result.used_memory_after = used_memory(r)
        result.timers_pending = int(r.zcard(k.TIMERS))
        log(
            f"  capacity: {orders} waiting orders in {result.write_s:.1f} s, "
            f"{result.bytes_per_order:.0f} B each"
        )

        # While they all wait (nothing due yet): how many worker slots do they hold?
        _sample_slots(celery, t_steady - timedelta(seconds=1.0), result)

        result.steady_due, result.steady_rate = steady_due, steady_rate
        if steady:
            _sleep_until(t_steady + timedelta(seconds=steady_span + 1.0))
            result.steady_lateness_s, result.steady_unfired = _lateness(
                r, steady, history_len, 30.0
            )
        result.burst_due = len(burst)
        if burst:
            _sleep_until(t_burst + timedelta(seconds=1.0))
            result.burst_lateness_s, result.burst_unfired = _lateness(
                r, burst, history_len, 30.0 + len(burst) / 20
            )
        return result
    finally:
        stop_stack(stack)


def _sample_slots(celery: Any, until: datetime, result: CapacityResult) -> None:
    while _now() < until:
        names = active_tasks(celery, timeout=1.0)
        result.active_samples.append(len(names))
        result.slot_samples.append(sum(1 for n in names if n in WORK_TASKS))
        time.sleep(0.3)


def _sleep_until(moment: datetime) -> None:
    pause = (moment - _now()).total_seconds()
    if pause > 0:
        time.sleep(pause)

"""Producing orders and reading back what became of them (order records, notifications, ledger)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import httpx
import redis

from bench.demo import SCENARIOS, scenario_body
from worker import constants as k
from worker.order import Status
from worker.record_codec import decode
from worker.store import OrderStore

__all__ = [
    "FIRST_LOCATION",
    "OrderTimes",
    "Producer",
    "bench_bodies",
    "ledger",
    "order_success_received",
    "read_orders",
    "terminal_count",
]

FIRST_LOCATION = 770_000_000_000_000
SCENARIO = next(s for s in SCENARIOS if s.name == "remainder settled")


def bench_bodies(n: int, tag: str, locations: int) -> list[dict[str, Any]]:
    """`n` POST /orders bodies: submit, confirm by webhook, settle a remainder (1.65 of 18.15)."""
    run = uuid.uuid4().hex[:6]
    return [
        scenario_body(
            replace(SCENARIO, location=FIRST_LOCATION + i % locations),
            reference=f"b{tag}-{run}-{i}",
        )
        for i in range(n)
    ]


def key_of(body: dict[str, Any]) -> tuple[int, str]:
    order = body["order"]
    return int(order["businessLocationId"]), str(order["thirdPartyReference"])


def terminal_count(r: redis.Redis) -> int:
    """Orders that have ended, from the store's status indexes: one round trip of a `ZCOUNT`
    per terminal status (live entries only; the bench trims nothing, that is the store's job),
    so a harness that asks often costs Redis little."""
    now = int(time.time() * 1000)
    pipe = r.pipeline(transaction=False)
    for status in Status:
        if status.terminal:
            pipe.zcount(k.STATUS_INDEX.format(status=status), now, "+inf")
    return sum(int(n) for n in pipe.execute())


@dataclass
class Producer:
    """Posts bodies to `POST /orders` from a few threads, as a producer on this machine would.

    `rate` paces submissions (orders/s); without it, each submission waits for `gate()` to
    admit it (it blocks a moment and says whether it did: the runner keeps the worker's queue
    short, so the stack is saturated but not flooded)."""

    api_url: str
    bodies: list[dict[str, Any]]
    threads: int = 8
    rate: float | None = None
    gate: Callable[[], bool] | None = None
    sent: list[tuple[float, int]] = field(default_factory=list)  # (epoch s, index)
    failures: int = 0
    started_at: float = 0.0
    finished_at: float = 0.0

    def run(self) -> None:
        lock = threading.Lock()
        cursor = iter(range(len(self.bodies)))
        self.started_at = time.time()
        begin = time.monotonic()

        def work() -> None:
            with httpx.Client(base_url=self.api_url, timeout=30.0) as http:
                while True:
                    with lock:
                        index = next(cursor, None)
                    if index is None:
                        return
                    if self.rate:
                        pause = begin + index / self.rate - time.monotonic()
                        if pause > 0:
                            time.sleep(pause)
                    elif self.gate is not None:
                        while not self.gate():  # blocks until admitted or a moment passed
                            pass
                    if self._post(http, self.bodies[index]):
                        with lock:
                            self.sent.append((time.time(), index))

        workers = [threading.Thread(target=work, daemon=True) for _ in range(self.threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        self.finished_at = time.time()

    def _post(self, http: httpx.Client, body: dict[str, Any]) -> bool:
        for _ in range(50):
            try:
                response = http.post("/orders", json=body)
            except httpx.HTTPError:
                time.sleep(0.1)
                continue
            if response.status_code == 202:
                return True
            time.sleep(0.1)
        self.failures += 1
        return False


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


@dataclass
class OrderTimes:
    """One order's timeline, epoch seconds, from its record."""

    bl: int
    ref: str
    status: str
    created: float
    events: list[tuple[float, str, str]]  # (at, status, event)
    payment_refs: list[str]
    wake_at: float | None

    def first(self, *, status: str | None = None, event: str | None = None) -> float | None:
        for at, st, ev in self.events:
            if (status is None or st == status) and (event is None or ev == event):
                return at
        return None

    @property
    def completed(self) -> float | None:
        return self.first(status="completed")


def read_orders(r: redis.Redis, keys: list[tuple[int, str]], batch: int = 500) -> list[OrderTimes]:
    """The timelines of these orders, read as the store wrote them (missing ones skipped)."""
    out = []
    for i in range(0, len(keys), batch):
        chunk = keys[i : i + batch]
        for raw in r.mget([OrderStore.order_key(bl, ref) for bl, ref in chunk]):
            if not raw:
                continue
            order = decode(raw)
            out.append(
                OrderTimes(
                    bl=order.business_location_id,
                    ref=order.reference,
                    status=str(order.status),
                    created=order.created_at.timestamp(),
                    events=[(h.at.timestamp(), str(h.status), h.event) for h in order.history],
                    payment_refs=[p.reference for p in order.payments],
                    wake_at=order.wake_at.timestamp() if order.wake_at else None,
                )
            )
    return out


def order_success_received(r: redis.Redis) -> dict[tuple[int, str], float]:
    """When our API recorded each order's first ORDER SUCCESS notification (`received_at`)."""
    received: dict[tuple[int, str], float] = {}
    keys = list(r.scan_iter(match=k.NOTIFICATION_KEY.format(id="*"), count=2000))
    for i in range(0, len(keys), 1000):
        for raw in r.mget(keys[i : i + 1000]):
            if not raw:
                continue
            document = json.loads(raw)
            payload = document.get("payload") or {}
            if payload.get("type") != "ORDER" or payload.get("status") != "SUCCESS":
                continue
            key = (int(payload.get("businessLocationId") or 0), str(payload["thirdPartyReference"]))
            at = _epoch(document["received_at"])
            if key not in received or at < received[key]:
                received[key] = at
    return received


def ledger(sandbox_url: str) -> dict[str, Any]:
    response = httpx.get(f"{sandbox_url}/_sandbox/ledger", timeout=120.0)
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data

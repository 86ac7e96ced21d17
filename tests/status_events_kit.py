"""A store with status events on, a controllable clock and a scripted receiver (MockTransport)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import fakeredis
import httpx

from tests.builders import BL, new_order
from worker.order import HistoryEntry, Order, Status
from worker.status_events import Deliverer, EventOutbox, RetryPolicy
from worker.store import OrderStore
from worker.web.views import order_view

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
URL = "https://shop.example/orderflow-events"
Answer = Callable[[httpx.Request], httpx.Response]


class Clock:
    """Starts at the real now (receivers check webhook-timestamp against theirs); moves by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Receiver:
    """Records every request; answers with `answer` (2xx by default)."""

    answer: Answer = field(default=lambda _: httpx.Response(204))
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)

    @property
    def types(self) -> list[str]:
        return [json.loads(r.content)["type"] for r in self.requests]

    def orders(self) -> list[str]:
        return [json.loads(r.content)["data"]["thirdPartyReference"] for r in self.requests]


class Kit:
    """Everything one test needs, wired as `Runtime` wires it."""

    def __init__(self, *, window: timedelta = timedelta(hours=24), concurrency: int = 2) -> None:
        self.redis = fakeredis.FakeRedis(decode_responses=True)
        self.clock = Clock()
        self.outbox = EventOutbox(self.redis, view=order_view, lease_ms=5_000)
        self.store = OrderStore(self.redis, lease_ms=5_000, on_status=self.outbox.record)
        self.receiver = Receiver()
        self.http = httpx.Client(transport=httpx.MockTransport(self.receiver), timeout=5.0)
        policy = RetryPolicy(
            window=window,
            initial=timedelta(seconds=1),
            cap=timedelta(minutes=5),
            rand=lambda: 1.0,
        )
        self.deliverer = Deliverer(
            outbox=self.outbox,
            store=self.store,
            http=self.http,
            url=URL,
            secret=SECRET,
            policy=policy,
            concurrency=concurrency,
            clock=self.clock,
        )

    def create(self, ref: str = "shop-1") -> Order:
        order, _ = self.store.create(new_order(ref, now=self.clock.now), self.clock.now)
        return order

    def move(self, ref: str, *statuses: Status) -> Order:
        """One write that enters each of `statuses` in turn (usually one)."""

        def change(order: Order) -> Order:
            entries = tuple(
                HistoryEntry(at=self.clock.now, status=s, event=f"test.{s}") for s in statuses
            )
            return order.model_copy(
                update={"status": statuses[-1], "history": (*order.history, *entries)}
            )

        return self.store.transition(BL, ref, change)

    def note(self, ref: str) -> Order:
        """A write that changes no status."""
        return self.store.transition(
            BL,
            ref,
            lambda o: o.model_copy(
                update={
                    "history": (
                        *o.history,
                        HistoryEntry(at=self.clock.now, status=o.status, event="test.note"),
                    )
                }
            ),
        )

    def timer(self, ref: str = "shop-1") -> float | None:
        return self.redis.zscore("orderflow:timers", f"e:{BL}:{ref}")

    def ms(self, seconds_from_now: float = 0) -> int:
        return int((self.clock.now.timestamp() + seconds_from_now) * 1000)

"""An engine against fakeredis and a scripted K-Series, swept on the test's own clock.

`sweep` does what `orderflow beat` and the workers do together (claim what is due, advance it)
every half second of the test's clock, so a simulated minute takes milliseconds. `follow` makes
fakeredis read the same clock, so key TTLs (a location's 429 throttle) run on simulated time.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import fakeredis
import httpx
import pytest

from tests.builders import BL, T0, new_order, policy
from worker.engine import Engine
from worker.kseries.client import KSeriesClient
from worker.order import Order
from worker.store import OrderStore

__all__ = ["OK", "SALE", "Clock", "Script", "engine", "follow", "order_of", "queued", "sweep"]

OK = {"status": "ok"}
SALE = {
    "accountFiscId": "A1.1",
    "salesLines": [{"totalNetAmountWithTax": "18.15"}],
    "payments": [{"netAmountWithTax": "16.50"}],
}
Answer = tuple[Any, ...] | Exception | Callable[[httpx.Request], "Answer"]


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Script:
    """Answers per path fragment (`order_local` is `order/local`), in order, the last one
    repeating; an answer may be a function of the request. Records every request with the
    clock's time."""

    def __init__(self, clock: Clock, **answers: list[Answer]) -> None:
        self.clock = clock
        self.answers = answers
        self.requests: list[tuple[datetime, httpx.Request]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((self.clock.now, request))
        key = next(k for k in self.answers if k.replace("_", "/") in request.url.path)
        queue = self.answers[key]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        while callable(answer):
            answer = answer(request)
        if isinstance(answer, Exception):
            raise answer
        status, body, *headers = answer
        return httpx.Response(status, json=body, headers=headers[0] if headers else None)

    def count(self, fragment: str, since: datetime | None = None) -> int:
        return sum(
            1
            for at, r in self.requests
            if fragment in r.url.path and (since is None or at >= since)
        )


def engine(script: Script, *, lease_ms: int = 8_000, **policy_kwargs: Any) -> Engine:
    http = httpx.Client(base_url="https://k.example", transport=httpx.MockTransport(script))
    store = OrderStore(fakeredis.FakeRedis(decode_responses=True), lease_ms=lease_ms)
    return Engine(
        store=store,
        client=KSeriesClient(http),
        policy=policy(lease=timedelta(milliseconds=lease_ms), **policy_kwargs),
        clock=script.clock,
    )


def queued(e: Engine, ref: str = "shop-1", **kwargs: Any) -> Order:
    order, _ = e.store.create(new_order(ref, now=e.clock(), **kwargs), e.clock())
    return order


class _RedisTime:
    """fakeredis' `time` module, reading the test's clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def time(self) -> float:
        return self._clock.now.timestamp()

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def follow(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    """Key TTLs in fakeredis run on `clock`."""
    monkeypatch.setattr("fakeredis._socket._base.time", _RedisTime(clock))


def sweep(e: Engine, seconds: float, every: float = 0.5) -> None:
    """Sweep every `every` seconds of the clock for `seconds`: advance each order that is due."""
    clock = e.clock
    assert isinstance(clock, Clock)
    end = clock.now + timedelta(seconds=seconds)
    while clock.now < end:
        due = e.store.claim_due(clock.now) + e.store.claim_due(clock.now, new=True)
        random.Random(clock.now.timestamp()).shuffle(due)  # workers take them in any order
        for member in due:
            kind, _, rest = member.partition(":")
            if kind == "o":
                bl, _, ref = rest.partition(":")
                e.advance(int(bl), ref)
        clock.tick(every)


def order_of(e: Engine, ref: str) -> Order:
    order = e.store.get(BL, ref)
    assert order is not None
    return order

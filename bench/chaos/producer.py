"""The chaos run's producer: orders POSTed at a steady rate, as a shop's backend would send them.

Each order is sent again until the API answers `202`: on a network error, a `503` (Redis is
down) or any 5xx. A 4xx will not mend by itself (a token the API wants, a body it refuses): the
order is counted as refused with the answer, and the run stops and says so.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx

from bench.demo import Scenario, scenario_body

__all__ = ["Producer"]

RETRY_S = 0.1
GIVE_UP_S = 120.0  # one order's retries at most (Redis is down for seconds, not minutes)


class Producer:
    def __init__(
        self, http: httpx.Client, api_url: str, orders: list[tuple[Scenario, str]], rate: float
    ) -> None:
        self.http, self.api_url, self.orders, self.rate = http, api_url, orders, rate
        self.accepted: list[tuple[Scenario, str]] = []
        self.refused: Counter[str] = Counter()  # "401 Unauthorized: ..." -> orders
        self.api_503s = 0
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._produce_all, name="chaos-producer")

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self._thread.join()

    def _produce_all(self) -> None:
        begin = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            for i, item in enumerate(self.orders):
                if self.stop.is_set():
                    break
                pause = begin + i / self.rate - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                pool.submit(self._produce, item)

    def _produce(self, item: tuple[Scenario, str]) -> None:
        scenario, ref = item
        body = scenario_body(scenario, reference=ref)
        give_up = time.monotonic() + GIVE_UP_S
        while not self.stop.is_set() and time.monotonic() < give_up:
            try:
                response = self.http.post(f"{self.api_url}/orders", json=body)
            except httpx.HTTPError:
                time.sleep(RETRY_S)
                continue
            if response.status_code == 202:
                with self._lock:
                    self.accepted.append(item)
                return
            if response.status_code == 503:
                with self._lock:
                    self.api_503s += 1
            elif response.status_code < 500:
                with self._lock:
                    self.refused[_answer(response)] += 1
                return
            time.sleep(RETRY_S)


def _answer(response: httpx.Response) -> str:
    """`401 Unauthorized: {"detail": ...}`, cut short: enough for a person to act on."""
    return f"{response.status_code} {response.reason_phrase}: {response.text[:120]}"

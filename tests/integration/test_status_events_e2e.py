"""Every status event of the demo's orders reaches a real receiver, signed, in order, none lost,
though the receiver answers 503 and then refuses connections for part of the run."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from standardwebhooks import Webhook

from bench.demo import SCENARIOS, run_scenarios
from tests.integration.conftest import FAST_ENV, fast_stack_config
from worker.order import Status
from worker.stack import Stack, free_port
from worker.status_events import EventOutbox
from worker.web.views import order_view

pytestmark = pytest.mark.integration

SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
EVENTS_ENV = {
    "ORDERFLOW_EVENTS_SECRET": SECRET,
    "ORDERFLOW_EVENTS_RETRY_HOURS": "0.1",  # 6 minutes: far longer than the receiver is down
    "ORDERFLOW_EVENTS_BACKOFF_INITIAL_MS": "200",
    "ORDERFLOW_EVENTS_BACKOFF_MAX_MS": "1000",
    "ORDERFLOW_EVENTS_TIMEOUT_S": "2",
}


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int
    verified: bool


@dataclass
class Receiver:
    """A producer's backend on loopback: verifies each event as it arrives, answers `code`;
    `stop()` closes its socket (connections refused) and `start()` opens it again."""

    port: int = field(default_factory=free_port)
    code: int = 204
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/orderflow-events"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    Webhook(SECRET).verify(body, headers)
                    verified = True
                except Exception:
                    verified = False
                code = receiver.code
                with receiver._lock:
                    receiver.received.append(Received(headers, body, code, verified))
                self.send_response(code)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def count(self, code: int) -> int:
        with self._lock:
            return sum(1 for r in self.received if r.answered == code)

    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if 200 <= r.answered < 300]


def wait_for(what: str, check: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def statuses_entered(view: dict[str, Any]) -> list[str]:
    """The statuses an order went through, in order, from its history."""
    entered: list[str] = []
    for entry in view["history"]:
        if not entered or entered[-1] != entry["status"]:
            entered.append(entry["status"])
    return entered


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    running.start()
    yield running
    running.stop()


@pytest.fixture
def events_stack(receiver: Receiver, tmp_path: Path) -> Iterator[Stack]:
    env = FAST_ENV | EVENTS_ENV | {"ORDERFLOW_EVENTS_URL": receiver.url}
    with Stack(fast_stack_config(env=env), tmp_path) as running:
        yield running


def test_every_status_event_of_the_demo_arrives_signed_and_in_order_despite_an_outage(
    receiver: Receiver, events_stack: Stack
) -> None:
    outbox = EventOutbox(
        redis.Redis.from_url(events_stack.redis_url, decode_responses=True), view=order_view
    )
    rows: list[dict[str, Any]] = []
    run = threading.Thread(
        target=lambda: rows.extend(
            run_scenarios(events_stack.api_url, token=FAST_ENV["ORDERFLOW_API_TOKEN"], ttl_ms=3_000)
        )
    )

    # Given the receiver up while the demo's orders start
    run.start()
    wait_for("the first events", lambda: receiver.count(204) >= 3)
    # When it answers 503 for a while, then refuses connections until every order has ended
    receiver.code = 503
    wait_for("events answered 503", lambda: receiver.count(503) >= 3)
    receiver.stop()

    def refused() -> bool:
        return any(d.error == "could not connect" for o in outbox.recent() for d in o.deliveries)

    wait_for("deliveries refused", refused)
    run.join(150)
    # Then the orders never waited for their events: all ended while the receiver was down
    assert len(rows) == len(SCENARIOS)
    assert {r["scenario"]: r["status"] for r in rows} == {s.name: s.expected for s in SCENARIOS}

    # When the receiver comes back
    receiver.code = 204
    receiver.start()
    expected = {r["thirdPartyReference"]: statuses_entered(r) for r in rows}

    def received_types() -> dict[str, list[str]]:
        seen: dict[str, list[str]] = {ref: [] for ref in expected}
        ids: set[str] = set()
        for r in receiver.accepted():
            if r.headers["webhook-id"] not in ids:  # a receiver dedupes on webhook-id
                ids.add(r.headers["webhook-id"])
                payload = json.loads(r.body)
                seen[payload["data"]["thirdPartyReference"]].append(payload["type"])
        return seen

    # Then every status of every order arrives, once each after dedupe, in the order entered
    want = {ref: [f"order.{s}" for s in statuses] for ref, statuses in expected.items()}
    wait_for("every status event", lambda: received_types() == want, timeout=120)
    assert all(r.verified for r in receiver.received), "a signature did not verify"
    assert {r.headers["webhook-id"] for r in receiver.received if r.answered == 503} <= {
        r.headers["webhook-id"] for r in receiver.accepted()
    }, "an event answered 503 was never delivered"
    # and no order ever went backwards, counting every request (duplicates included)
    last_rank: dict[str, int] = {}
    for r in receiver.received:
        payload = json.loads(r.body)
        ref, rank = payload["data"]["thirdPartyReference"], Status(payload["type"][6:]).rank
        assert rank >= last_rank.get(ref, 0), f"{ref} went back to {payload['type']}"
        last_rank[ref] = rank
    # no customer data left orderflow
    assert not any(b"jane@example.com" in r.body or b"Doe" in r.body for r in receiver.received)

    # The metrics and the command tell the same story
    metrics = httpx.get(f"{events_stack.api_url}/metrics", timeout=10).text
    delivered = sum(len(types) for types in want.values())
    assert f'orderflow_status_events_total{{outcome="delivered"}} {float(delivered)}' in metrics
    assert 'orderflow_status_events_total{outcome="retried"}' in metrics
    assert 'outcome="undelivered"' not in metrics
    listed = subprocess.run(
        [sys.executable, "-m", "worker.cli", "events", "--undelivered"],
        env=events_stack.env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert listed.stdout.splitlines() == ["id\torder\ttype\tattempts\tstate\tlast error"]

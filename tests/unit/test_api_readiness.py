"""`/readyz` is 503 naming the culprit for any Redis or broker failure, including Redis answering
with an error instead of refusing the connection (issue 9, item 19); the other routes answer 503
with Retry-After for the same failures, never 500."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import redis
from fastapi.testclient import TestClient
from redis.backoff import NoBackoff
from redis.retry import Retry

from config.settings import Settings
from tests.builders import BL, submission_body
from worker.api import create_app
from worker.stack import find_redis_server, free_port
from worker.store import OrderStore

# redis-py retries connection errors (NOAUTH is one) for ~5 s by default; the answer is the same.
NO_RETRY = Retry(NoBackoff(), 0)


def client(store: OrderStore, broker_ping: Any = None) -> TestClient:
    app = create_app(
        settings=Settings(_env_file=None),  # type: ignore[call-arg]
        store=store,
        enqueue=lambda *_: None,
        enqueue_notification=lambda _: None,
        broker_ping=broker_ping,
    )
    return TestClient(app)


def assert_not_ready_and_nothing_500(http: TestClient, culprit: str, words: str) -> None:
    ready = http.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert words.lower() in ready.json()["problems"][culprit].lower()
    assert http.get("/healthz").status_code == 200


def assert_routes_answer_503(http: TestClient) -> None:
    for response in (
        http.post("/orders", json=submission_body("r1")),
        http.get(f"/orders/{BL}/r1"),
    ):
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"


@pytest.fixture
def redis_process(tmp_path: Path) -> Iterator[Any]:
    """Start a redis-server with extra arguments on a free TCP port; stopped afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> int:
        port = free_port()
        process = subprocess.Popen(
            [find_redis_server(), "--port", str(port), "--save", "", "--dir", str(tmp_path), *args],
            stdout=subprocess.DEVNULL,
        )
        started.append(process)
        deadline = time.monotonic() + 15
        while True:  # the positive signal: the port accepts connections
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return port
            except OSError:
                assert process.poll() is None, "redis-server exited"
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.02)

    yield start
    for process in started:
        process.terminate()
        process.wait(10)


def this_hosts_outside_address() -> str | None:
    """An address of this machine that is not loopback (Redis' protected mode refuses it)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the interface
        address = str(probe.getsockname()[0])
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_redis_in_protected_mode_is_not_ready_and_no_route_answers_500(redis_process: Any) -> None:
    # Given a Redis in protected mode (no password) reached from a non-loopback address: it
    # accepts the connection and answers every command with a -DENIED error
    address = this_hosts_outside_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address")
    port = redis_process("--bind", "0.0.0.0", "--protected-mode", "yes")
    store = OrderStore(redis.Redis(host=address, port=port, decode_responses=True, retry=NO_RETRY))
    http = client(store)
    # Then readiness is 503 naming Redis and the error, and the routes answer 503
    assert_not_ready_and_nothing_500(http, "redis", "DENIED")
    assert_routes_answer_503(http)


def test_redis_that_requires_a_password_is_not_ready(redis_process: Any) -> None:
    port = redis_process("--bind", "127.0.0.1", "--requirepass", "sekrit")
    http = client(OrderStore(redis.Redis(port=port, decode_responses=True, retry=NO_RETRY)))
    assert_not_ready_and_nothing_500(http, "redis", "Auth")
    assert_routes_answer_503(http)


class Failing(fakeredis.FakeRedis):
    """A Redis that answers every command with the given error reply."""

    error: redis.RedisError

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error

    def pipeline(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        redis.ResponseError("DENIED Redis is running in protected mode"),
        redis.BusyLoadingError("LOADING Redis is loading the dataset in memory"),
        redis.ReadOnlyError("READONLY You can't write against a read only replica."),
        redis.ResponseError("MISCONF Redis is configured to save RDB snapshots"),
        redis.AuthenticationError("NOAUTH Authentication required."),
    ],
    ids=["denied", "loading", "readonly", "misconf", "noauth"],
)
def test_any_redis_error_reply_is_not_ready(error: redis.RedisError) -> None:
    failing = Failing(decode_responses=True)
    failing.error = error
    http = client(OrderStore(failing))
    assert_not_ready_and_nothing_500(http, "redis", str(error).split()[0])
    assert_routes_answer_503(http)


def test_a_broker_failure_is_not_ready_naming_the_broker() -> None:
    def broker_ping() -> None:
        raise redis.ResponseError("NOAUTH Authentication required.")

    http = client(OrderStore(fakeredis.FakeRedis(decode_responses=True)), broker_ping)
    assert_not_ready_and_nothing_500(http, "broker", "NOAUTH")
    assert "redis" not in http.get("/readyz").json()["problems"]

"""The body limit holds for chunked bodies: counted while streaming, cut off at the limit, the
rest never read (issue 9, item 5). Proved on the ASGI app with a streamed `receive` that counts
what was pulled, and on a real uvicorn server fed a 64 MiB chunked upload through a socket."""

from __future__ import annotations

import asyncio
import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from tests.builders import submission_body
from tests.unit.api_harness import BASIC, TOKEN, Harness

LIMIT = 20_000
CHUNK = 4_096
HUGE = 64 * 1024 * 1024


class StreamedBody:
    """An ASGI `receive` that hands out a body chunk by chunk and counts what was taken."""

    def __init__(self, total: int, chunk: int = CHUNK) -> None:
        self.total = total
        self.chunk = chunk
        self.pulled = 0

    async def __call__(self) -> dict[str, Any]:
        size = min(self.chunk, self.total - self.pulled)
        self.pulled += size
        return {"type": "http.request", "body": b"x" * size, "more_body": self.pulled < self.total}


async def call(app: Any, path: str, receive: Any, headers: list[tuple[bytes, bytes]]) -> Any:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body)


@pytest.mark.parametrize(
    ("path", "auth"), [("/orders", f"Bearer {TOKEN}"), ("/webhooks/kseries", BASIC)]
)
def test_a_chunked_body_over_the_limit_is_refused_without_reading_the_rest(
    path: str, auth: str
) -> None:
    # Given the API with a 20 kB limit and a 64 MiB body arriving in 4 KiB chunks, no length
    api = Harness(max_body_bytes=LIMIT)
    body = StreamedBody(HUGE)
    headers = [
        (b"authorization", auth.encode()),
        (b"content-type", b"application/json"),
        (b"transfer-encoding", b"chunked"),
    ]
    # When it is posted
    status, answer = asyncio.run(call(api.app, path, body, headers))
    # Then the answer is 413, and no more than the limit and one chunk was ever read
    assert status == 413
    assert answer == {"detail": f"body larger than {LIMIT} bytes"}
    assert body.pulled <= LIMIT + CHUNK
    assert api.redis.dbsize() == 0


def test_a_chunked_body_within_the_limit_is_read_whole_and_accepted() -> None:
    api = Harness(max_body_bytes=LIMIT)
    raw = json.dumps(submission_body("r1")).encode()
    chunks = [raw[i : i + 100] for i in range(0, len(raw), 100)]

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": chunks.pop(0), "more_body": bool(chunks)}

    headers = [
        (b"authorization", f"Bearer {TOKEN}".encode()),
        (b"content-type", b"application/json"),
    ]
    status, answer = asyncio.run(call(api.app, "/orders", receive, headers))
    assert status == 202
    assert answer["thirdPartyReference"] == "r1"


@pytest.fixture
def server() -> Iterator[tuple[str, int]]:
    """The API (20 kB limit) on a real uvicorn, in a thread of this process."""
    api = Harness(max_body_bytes=LIMIT)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(api.app, log_level="warning", lifespan="off")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    while not running.started:  # the positive signal: uvicorn says it serves
        assert thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)
    yield listener.getsockname()
    running.should_exit = True
    thread.join(10)
    listener.close()


def test_a_real_server_answers_413_to_a_chunked_upload_long_before_it_ends(
    server: tuple[str, int],
) -> None:
    # Given a 64 MiB chunked upload to a real server with a 20 kB limit
    head = (
        "POST /orders HTTP/1.1\r\nHost: test\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"  # 64 KiB per chunk
    sent = 0
    with socket.create_connection(server, timeout=10) as conn:
        conn.sendall(head)
        # When chunks are sent until the server answers (or stops reading)
        while sent < HUGE:
            readable, _, _ = select.select([conn], [], [], 0)
            if readable:
                break
            try:
                conn.sendall(chunk)
            except OSError:  # the server closed: what it answered is already on its way
                break
            sent += 0x10000
        answer = conn.recv(4096)
    # Then it answered 413, and the upload was cut short: most of it was never sent at all
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert sent < HUGE // 4

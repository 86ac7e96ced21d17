"""Shared fixtures: a real redis-server per session, fakeredis per test."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import fakeredis
import pytest
import redis

from worker.stack import find_redis_server, free_port


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free loopback port, with AOF like production."""
    workdir: Path = tmp_path_factory.mktemp("redis")
    port = free_port()
    process = subprocess.Popen(
        [
            find_redis_server(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(workdir),
            "--appendonly",
            "yes",
            "--save",
            "",
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(200):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield url
    client.close()
    process.terminate()
    process.wait(10)


@pytest.fixture(params=["fakeredis", "redis-server"])
def redis_client(request: pytest.FixtureRequest) -> Iterator[redis.Redis]:
    """The store's contract holds on fakeredis and on a real server alike."""
    if request.param == "fakeredis":
        client: redis.Redis = fakeredis.FakeRedis(decode_responses=True)
    else:
        client = redis.Redis.from_url(
            request.getfixturevalue("redis_server"), decode_responses=True
        )
    client.flushdb()
    yield client
    client.flushdb()
    client.close()

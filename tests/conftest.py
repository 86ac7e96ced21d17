"""Shared fixtures: a hermetic environment, a real redis-server per session, fakeredis per test.

Hermetic: no test sees the caller's `ORDERFLOW_*` variables or a `.env` file in the working
directory, so `ORDERFLOW_API_TOKEN=x pytest` behaves like plain `pytest`. The Redis server
listens on a unix socket in the session's temporary directory and on no TCP port, so no other
process can answer in its place (and the fixtures never flush someone else's Redis).
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import redis
import structlog
from hypothesis import settings as hypothesis_settings
from hypothesis.database import DirectoryBasedExampleDatabase

from config.settings import Settings, get_settings
from worker.stack import find_redis_server

ROOT = Path(__file__).resolve().parents[1]

if "MUTANT_UNDER_TEST" in os.environ:
    # mutmut forks each mutant's run from a parent with threads: libuuid's clock-file lock can be
    # held at the fork, and redis-py's Lock (uuid1 tokens) then hangs the child until the
    # pytest timeout, which mutmut counts as a kill. Python's own uuid1 takes no such lock.
    uuid._generate_time_safe = None  # type: ignore[attr-defined]
# The session runs in an empty directory (below): keep hypothesis' examples with the project.
hypothesis_settings.register_profile(
    "orderflow", database=DirectoryBasedExampleDatabase(ROOT / ".hypothesis" / "examples")
)
hypothesis_settings.load_profile("orderflow")

# Knobs of the test suite itself, not settings of orderflow: kept when the environment is cleaned.
TEST_KNOBS = frozenset({"ORDERFLOW_CHAOS_ORDERS"})
# AF_UNIX paths are limited to 107 bytes; pytest's temporary directories are far shorter.
MAX_SOCKET_PATH = 100


def _callers_settings_variables() -> list[str]:
    return [name for name in os.environ if name.startswith("ORDERFLOW_") and name not in TEST_KNOBS]


@pytest.fixture(scope="session", autouse=True)
def _hermetic_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """For the whole session (session fixtures too): no caller `ORDERFLOW_*`, no `.env`.

    In this process Settings ignore `.env`; the processes a real stack starts (worker, beat,
    API, CLI) read `.env` from their working directory, so the session runs in an empty one.
    """
    with pytest.MonkeyPatch.context() as patch:
        for name in _callers_settings_variables():
            patch.delenv(name)
        # pydantic-settings reads `model_config["env_file"]` each time a Settings is built.
        patch.setitem(Settings.model_config, "env_file", None)
        patch.chdir(tmp_path_factory.mktemp("cwd"))
        get_settings.cache_clear()
        yield
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _hermetic_test(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Per test: whatever an earlier test left in the environment or the settings cache is gone."""
    for name in _callers_settings_variables():
        monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _logging_restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Logging is process-global: each test ends with the configuration it started with, and no
    logger is cached meanwhile. (structlog keeps a cached logger on the configuration of its
    first use: after a test that called `configure_logging`, `capture_logs` in any later test
    would miss the lines of every module logger that test had used.)"""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {
        name: logger.level
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    configure = structlog.configure

    def configure_uncached(**settings: Any) -> None:
        configure(**{**settings, "cache_logger_on_first_use": False})

    monkeypatch.setattr(structlog, "configure", configure_uncached)
    yield
    configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, logger_level in levels.items():
        logging.getLogger(name).setLevel(logger_level)


def _socket_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("redis")
    path = workdir / "redis.sock"
    if len(str(path)) > MAX_SOCKET_PATH:
        import tempfile

        path = Path(tempfile.mkdtemp(prefix="of-redis-")) / "redis.sock"
    return path


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a private unix socket (no TCP port), with AOF like production.

    Yields a `unix://` URL (redis-py); `tests.redis_urls` gives kombu's form and other dbs.
    """
    socket = _socket_path(tmp_path_factory)
    process = subprocess.Popen(
        [
            find_redis_server(),
            "--port",
            "0",
            "--unixsocket",
            str(socket),
            "--unixsocketperm",
            "700",
            "--dir",
            str(socket.parent),
            "--appendonly",
            "yes",
            "--save",
            "",
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"unix://{socket}?db=0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 15
    while True:  # wait for the positive signal: the server answers on its socket
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode}")
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.02)
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

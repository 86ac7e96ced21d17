"""The suite is hermetic: the caller's ORDERFLOW_* variables and `.env` files never reach a test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import redis

from config.settings import Settings, get_settings


def test_no_orderflow_variable_of_the_caller_is_visible_to_a_test() -> None:
    leaked = [name for name in os.environ if name.startswith("ORDERFLOW_")]
    assert leaked in ([], ["ORDERFLOW_CHAOS_ORDERS"])
    assert get_settings() == Settings()
    assert get_settings().api_token is None
    assert get_settings().redis_url == "redis://127.0.0.1:6379/0"


def test_a_dot_env_file_in_the_working_directory_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a developer's .env in the directory the tests run from
    (tmp_path / ".env").write_text(
        "ORDERFLOW_API_TOKEN=from-dot-env\nORDERFLOW_CONFIRMATION=poll\n"
    )
    monkeypatch.chdir(tmp_path)
    # When settings are built, directly or through the cached accessor
    built, cached = Settings(), get_settings()
    # Then neither took anything from it
    assert built.api_token is None and cached.api_token is None
    assert str(built.confirmation) == "hybrid"


def test_the_session_does_not_run_in_the_project_directory() -> None:
    # Processes a real stack starts read `.env` from their working directory.
    root = Path(__file__).resolve().parents[2]
    assert Path.cwd().resolve() != root
    assert not (Path.cwd() / ".env").exists()


def test_the_test_redis_server_listens_on_its_own_unix_socket_only(redis_server: str) -> None:
    assert redis_server.startswith("unix://")
    client = redis.Redis.from_url(redis_server)
    assert client.config_get("port") == {"port": "0"}  # no TCP listener another process could hold
    assert client.ping()

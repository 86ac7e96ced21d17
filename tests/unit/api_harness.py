"""The API on fakeredis, as the tests of `worker.api` drive it."""

from __future__ import annotations

import base64
from typing import Any

import fakeredis
from fastapi.testclient import TestClient

from config.settings import Settings
from worker.api import create_app
from worker.store import OrderStore

TOKEN = "producer-secret"
BASIC = "Basic " + base64.b64encode(b"kseries:hook-secret").decode()


class Harness:
    """The app with a producer token and webhook credentials; `http` sends the token."""

    def __init__(self, **settings: Any) -> None:
        self.redis = fakeredis.FakeRedis(decode_responses=True)
        self.store = OrderStore(self.redis)
        self.enqueued: list[tuple[int, str]] = []
        self.notes: list[str] = []
        self.settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            **{
                "api_token": TOKEN,
                "webhook_username": "kseries",
                "webhook_password": "hook-secret",
                "max_body_bytes": 20_000,
                **settings,
            },
        )
        self.app = create_app(
            settings=self.settings,
            store=self.store,
            enqueue=lambda bl, ref: self.enqueued.append((bl, ref)),
            enqueue_notification=self.notes.append,
        )
        self.http = TestClient(self.app, headers={"Authorization": f"Bearer {TOKEN}"})

    def post(self, body: Any, **kwargs: Any) -> Any:
        return self.http.post("/orders", json=body, **kwargs)

    def post_raw(self, content: bytes, content_type: str | None = "application/json") -> Any:
        headers = {"Content-Type": content_type} if content_type is not None else {}
        return self.http.post("/orders", content=content, headers=headers)

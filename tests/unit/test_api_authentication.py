"""Who may call the API, checked over HTTP: K-Series' webhook Basic credentials (both halves,
decodable or refused) and the producer's bearer token (exactly, not a prefix of it)."""

from __future__ import annotations

import base64
from typing import Any

import fakeredis
import pytest
from fastapi.testclient import TestClient

from config.settings import Settings
from tests.builders import BL, submission_body
from worker.api import create_app
from worker.store import OrderStore

TOKEN = "producer-secret"
NOTE = {"type": "ORDER", "status": "SUCCESS", "thirdPartyReference": "r1", "businessLocationId": BL}


def basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


class Api:
    def __init__(self) -> None:
        self.redis = fakeredis.FakeRedis(decode_responses=True)
        self.notes: list[str] = []
        self.enqueued: list[Any] = []
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            api_token=TOKEN,
            webhook_username="kseries",
            webhook_password="hook-secret",
        )
        app = create_app(
            settings=settings,
            store=OrderStore(self.redis),
            enqueue=lambda *key: self.enqueued.append(key),
            enqueue_notification=self.notes.append,
        )
        self.http = TestClient(app)

    def webhook(self, authorization: str | None) -> int:
        headers = {} if authorization is None else {"Authorization": authorization}
        return self.http.post("/webhooks/kseries", json=NOTE, headers=headers).status_code

    def order(self, authorization: str | None) -> int:
        headers = {} if authorization is None else {"Authorization": authorization}
        return self.http.post("/orders", json=submission_body("r1"), headers=headers).status_code


@pytest.fixture
def api() -> Api:
    return Api()


# --- webhooks: Basic ------------------------------------------------------------------------


def test_a_webhook_with_both_halves_right_is_recorded(api: Api) -> None:
    assert api.webhook(basic(b"kseries:hook-secret")) == 200
    assert api.webhook("basic " + base64.b64encode(b"kseries:hook-secret").decode()) == 200
    assert len(api.notes) == 2


@pytest.mark.parametrize(
    "credentials",
    [
        b"intruder:hook-secret",  # the right password under another username
        b"KSERIES:hook-secret",  # usernames are compared exactly
        b":hook-secret",
        b"hook-secret",
        b"kseries:",
        b"kseries",
        b"kseries:hook-secret:",
        b"kseries:hook-secre",
    ],
    ids=lambda c: c.decode() or "empty",
)
def test_a_webhook_with_either_half_wrong_is_refused_and_nothing_is_recorded(
    api: Api, credentials: bytes
) -> None:
    assert api.webhook(basic(credentials)) == 401
    assert api.notes == []
    assert api.redis.dbsize() == 0


@pytest.mark.parametrize(
    "header",
    [
        "Basic !!!not-base64!!!",
        "Basic a3Nlcmllczpob29rLXNlY3JldA=!",  # valid prefix, then garbage
        "Basic ",
        "Basic",
        basic(b"\xff\xfe:\xff"),  # decodes, but to no credentials of ours
        "Bearer " + base64.b64encode(b"kseries:hook-secret").decode(),  # right bytes, wrong scheme
        "kseries:hook-secret",
    ],
)
def test_a_webhook_with_undecodable_credentials_is_refused_and_nothing_is_recorded(
    api: Api, header: str
) -> None:
    assert api.webhook(header) == 401
    assert api.notes == []
    assert api.redis.dbsize() == 0


# --- producers: Bearer -----------------------------------------------------------------------


def test_a_producer_with_the_exact_token_is_accepted(api: Api) -> None:
    assert api.order(f"Bearer {TOKEN}") == 202
    assert api.enqueued == [(BL, "r1")]


@pytest.mark.parametrize(
    "header",
    [
        None,
        TOKEN,  # no scheme
        f"Bearer {TOKEN[:-1]}",  # a prefix of the token
        f"Bearer {TOKEN}x",  # the token and more
        f"Bearer  {TOKEN}",
        f"Basic {TOKEN}",
        "Bearer ",
    ],
)
def test_a_producer_without_the_exact_token_is_refused_and_nothing_is_stored(
    api: Api, header: str | None
) -> None:
    assert api.order(header) == 401
    assert api.enqueued == []
    assert api.redis.dbsize() == 0

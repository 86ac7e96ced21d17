"""`orderflow webhook register` with every business's tokens (issue 14, item 4): K-Series keeps a
registration per business, so each is made on that business's own tokens; one business failing
leaves the others registered and names itself."""

from __future__ import annotations

from datetime import UTC, datetime

import fakeredis
import httpx
import pytest

from tests.auth.business_fakes import PIZZA, SUSHI, BusinessKSeries
from tests.auth.fakes import Clock, endpoint, new_store, settings
from worker import webhooks
from worker.oauth import log_in


@pytest.fixture
def kseries(
    clock: Clock, server: fakeredis.FakeServer, monkeypatch: pytest.MonkeyPatch
) -> BusinessKSeries:
    """Pizza One and Sushi Two logged in; `worker.webhooks` talks to this fake K-Series."""
    fake = BusinessKSeries(clock, ttl_s=3600)
    # (the real clock: the webhook commands judge token expiry by it)
    clock.moment = datetime.now(UTC)
    for business in (PIZZA, SUSHI):
        code = fake.code(business)
        log_in(settings(), new_store(server), code, endpoint=endpoint(fake), now=clock())
    monkeypatch.setattr(
        webhooks, "_redis", lambda _: fakeredis.FakeRedis(server=server, decode_responses=True)
    )
    monkeypatch.setattr(webhooks, "_transport", lambda: httpx.MockTransport(fake.handle))
    return fake


def test_register_goes_to_every_business_on_its_own_tokens(kseries: BusinessKSeries) -> None:
    answer = webhooks.register(settings())

    assert answer == "updated for business 101, updated for business 202"
    # each business: a look for the registration (the fake has one), then its update, both on
    # its own tokens
    assert kseries.unscoped == [(PIZZA, "GET"), (PIZZA, "POST"), (SUSHI, "GET"), (SUSHI, "POST")]


def test_one_business_failing_does_not_stop_the_others_and_is_named(
    kseries: BusinessKSeries,
) -> None:
    kseries.failing = PIZZA

    with pytest.raises(webhooks.WebhookSetupError) as failed:
        webhooks.register(settings())

    assert "failed for business 101" in str(failed.value)
    assert "done for business 202" in str(failed.value)
    assert (SUSHI, "POST") in kseries.unscoped


def test_with_nobody_logged_in_nothing_is_registered(
    server: fakeredis.FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        webhooks, "_redis", lambda _: fakeredis.FakeRedis(server=server, decode_responses=True)
    )
    with pytest.raises(webhooks.WebhookSetupError, match="auth login"):
        webhooks.register(settings())

"""The webhook as K-Series calls it, and the task that applies what it recorded: the API
harness and an engine on the same fakeredis store, K-Series faked (`tests.kseries_fake`)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.builders import new_order, policy
from tests.kseries_fake import SALE, Clock, FakeKSeries
from tests.unit.api_harness import BASIC, Harness
from worker.engine import Engine
from worker.kseries.client import KSeriesClient
from worker.order import Order

__all__ = ["EXAMPLE_LOCATION", "NotificationHarness"]

EXAMPLE_LOCATION = 247158188015618  # the location K-Series' published examples name
EXAMPLE_ORDERS = ("order-wFUBVgHNGPAJsryIrSaE", "REF11", "REF12212")


class NotificationHarness:
    def __init__(self) -> None:
        self.api = Harness()
        self.clock = Clock()
        self.kseries = FakeKSeries({**SALE, "accountFiscId": "A17700.3"})
        http = httpx.Client(
            base_url="https://k.example", transport=httpx.MockTransport(self.kseries)
        )
        self.engine = Engine(
            store=self.api.store, client=KSeriesClient(http), policy=policy(), clock=self.clock
        )

    def post(self, body: Any) -> httpx.Response:
        response: httpx.Response = self.api.http.post(
            "/webhooks/kseries", json=body, headers={"Authorization": BASIC}
        )
        return response

    def order(self, ref: str, bl: int = EXAMPLE_LOCATION, **kwargs: Any) -> Order:
        """A submitted order at `bl`, waiting for news."""
        order = new_order(ref, **kwargs).model_copy(update={"business_location_id": bl})
        self.api.store.create(order, self.clock())
        sent = self.engine.advance(bl, ref)
        assert sent is not None
        return sent

    def orders_named_by_the_examples(self) -> None:
        for ref in EXAMPLE_ORDERS:
            self.order(ref)

    def apply(self, note_id: str) -> Order | None:
        return self.engine.apply_notification(note_id)

    def failures(self, note_id: str) -> str | None:
        """The engine's count of unexpected errors on this notification (None: never failed)."""
        count: str | None = self.api.redis.get(f"orderflow:failures:n:{note_id}")
        return count

    def pending(self, note_id: str) -> bool:
        return self.api.redis.zscore("orderflow:timers", f"n:{note_id}") is not None

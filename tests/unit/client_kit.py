"""One K-Series answer for every call (httpx.MockTransport), each request kept: what the
client-level tests (`test_client_requests.py`, `test_client_answers.py`) need and no more."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from worker.kseries.client import AuthFor, KSeriesClient
from worker.kseries.models import ApplyPayment, LocalOrder, WebhookRegistration

__all__ = ["BASE", "ORDER", "PAYMENT", "REGISTRATION", "Answer", "client_for"]

BASE = "https://k.example"
ORDER = LocalOrder.model_validate(
    {
        "businessLocationId": 7,
        "thirdPartyReference": "r1",
        "endpointId": "orderflow",
        "customerInfo": {"firstName": "Jane"},
        "items": [{"sku": "BURGER", "quantity": 1}],
        "payment": {"paymentMethod": "OOPAYMENT", "paymentAmount": "6.1"},
    }
)
PAYMENT = ApplyPayment(
    iKaccountIdentifier="A1.1",
    thirdPartyPaymentReference="pay-1",
    endpointId="orderflow",
    businessLocationId=7,
    taskTtlInMs=60000,
    paymentMethod="OOPAYMENT",
    paymentAmount=Decimal("3.44"),
)
REGISTRATION = WebhookRegistration(endpointId="orderflow", url="https://us.example/hook")


class Answer:
    """K-Series answering `status` with `body` as JSON (or raw `content`) to every request."""

    def __init__(
        self,
        status: int = 200,
        body: Any = None,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status, self.body, self.content, self.headers = status, body, content, headers
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.content is not None:
            return httpx.Response(self.status, content=self.content, headers=self.headers)
        return httpx.Response(self.status, json=self.body, headers=self.headers)

    @property
    def only(self) -> httpx.Request:
        """The one request K-Series received."""
        assert len(self.requests) == 1, [str(r.url) for r in self.requests]
        return self.requests[0]


def client_for(
    kseries: Any, *, auth: httpx.Auth | None = None, auth_for: AuthFor | None = None
) -> KSeriesClient:
    http = httpx.Client(base_url=BASE, transport=httpx.MockTransport(kseries), auth=auth)
    return KSeriesClient(http, auth_for=auth_for)

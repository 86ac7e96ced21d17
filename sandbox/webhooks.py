"""Webhook registrations (`/o/wh/1/webhook`): where each endpointId's notifications go.

`PUT` on an existing endpointId overwrites it (K-Series' answer is undocumented; overwriting
keeps re-registration idempotent). `POST` updates an existing one and, as documented, resets
`provideAccount`, `expandTransactions` and `expandPayments` to false when left out.

Registrations belong to a business, the one the registering token is bound to: a location's
notifications go to its business's endpoint of that endpointId, so a platform registers once per
business it serves. An unbound token (lenient mode) registers for every business.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sandbox.businesses import Directory
from sandbox.spring import FieldError
from sandbox.validation import Checker

__all__ = ["OBJECT_NAME", "WebhookEndpoint", "WebhookRegistry", "parse_endpoint"]

OBJECT_NAME = "webhookEndpointDto"


@dataclass
class WebhookEndpoint:
    endpoint_id: str
    url: str
    with_basic_auth: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    provide_account: bool = False
    expand_transactions: bool = False
    expand_payments: bool = False
    subscribe_to: list[dict[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The registration as GET answers it: the password is never echoed."""
        return {
            "endpointId": self.endpoint_id,
            "url": self.url,
            "withBasicAuth": self.with_basic_auth,
            "username": self.username,
            "provideAccount": self.provide_account,
            "expandTransactions": self.expand_transactions,
            "expandPayments": self.expand_payments,
            "subscribeTo": list(self.subscribe_to),
        }

    def shape(self, payload: dict[str, Any]) -> dict[str, Any]:
        """What this endpoint receives: `account` only with provideAccount, lines if expanded."""
        shaped = dict(payload)
        account = shaped.pop("account", None)
        if account is not None and self.provide_account:
            account = dict(account)
            if not self.expand_transactions:
                account.pop("salesEntries", None)
            if not self.expand_payments:
                account.pop("paymentEntries", None)
            shaped["account"] = account
        return shaped


def parse_endpoint(body: Mapping[str, Any]) -> tuple[WebhookEndpoint | None, list[FieldError]]:
    check = Checker()
    endpoint_id = check.text(body, "endpointId", "endpointId", required=True, not_blank=True)
    url = check.text(body, "url", "url", required=True, not_blank=True)
    if url is not None and not url.startswith(("http://", "https://")):
        check.fail("url", "URL", "must be a valid URL")
    basic = check.boolean(body, "withBasicAuth", "withBasicAuth")
    username = check.text(body, "username", "username")
    password = check.text(body, "password", "password")
    subscriptions: list[dict[str, str]] = []
    for index, entry in enumerate(check.array(body, "subscribeTo", "subscribeTo")):
        if isinstance(entry, Mapping):
            subscriptions.append(
                {"name": str(entry.get("name", "")), "resource": str(entry.get("resource", ""))}
            )
        else:
            check.fail(f"subscribeTo[{index}]", "typeMismatch", "must be an object", "Object")
    endpoint = WebhookEndpoint(
        endpoint_id=endpoint_id or "",
        url=url or "",
        with_basic_auth=basic,
        username=username,
        password=password,
        provide_account=check.boolean(body, "provideAccount", "provideAccount"),
        expand_transactions=check.boolean(body, "expandTransactions", "expandTransactions"),
        expand_payments=check.boolean(body, "expandPayments", "expandPayments"),
        subscribe_to=subscriptions,
    )
    if check.errors:
        return None, check.errors
    return endpoint, []


class WebhookRegistry:
    """Endpoints per business; `scope` is the businesses a request acts for."""

    def __init__(self, directory: Directory) -> None:
        self._directory = directory
        self._by_business: dict[int, dict[str, WebhookEndpoint]] = {}

    def clear(self) -> None:
        self._by_business.clear()

    def save(self, scope: list[int], endpoint: WebhookEndpoint) -> None:
        for business_id in scope:
            self._by_business.setdefault(business_id, {})[endpoint.endpoint_id] = endpoint

    def get(self, scope: list[int], endpoint_id: str) -> WebhookEndpoint | None:
        for business_id in scope:
            found = self._by_business.get(business_id, {}).get(endpoint_id)
            if found is not None:
                return found
        return None

    def delete(self, scope: list[int], endpoint_id: str) -> bool:
        removed = [self._by_business.get(b, {}).pop(endpoint_id, None) for b in scope]
        return any(r is not None for r in removed)

    def route(self, endpoint_id: str, business_location_id: object) -> WebhookEndpoint | None:
        """Where a notification for this location goes: its business's registration (any
        business's for a location nobody owns)."""
        owner = None
        if isinstance(business_location_id, int) and not isinstance(business_location_id, bool):
            owner = self._directory.owner_of(business_location_id)
        scope = [owner.id] if owner is not None else list(self._by_business)
        return self.get(scope, endpoint_id)

    def as_json(self) -> list[dict[str, Any]]:
        return [
            {**endpoint.as_json(), "businessId": business_id}
            for business_id, endpoints in self._by_business.items()
            for endpoint in endpoints.values()
        ]

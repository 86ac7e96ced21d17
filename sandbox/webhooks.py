"""Webhook registrations (`/o/wh/1/webhook`): where each endpointId's notifications go.

`PUT` on an existing endpointId overwrites it (K-Series' answer is undocumented; overwriting
keeps re-registration idempotent). `POST` updates an existing one and, as documented, resets
`provideAccount`, `expandTransactions` and `expandPayments` to false when left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sandbox.spring import FieldError
from sandbox.validation import Checker

__all__ = ["OBJECT_NAME", "WebhookEndpoint", "parse_endpoint"]

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

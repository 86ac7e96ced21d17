"""K-Series notifications as the lifecycle sees them: which model a webhook body is, our own
dedup key for it, and the lifecycle event it carries.

A notification is news, not truth: anyone who can reach the webhook could have sent it. So the
snapshot it carries is marked unverified, and the lifecycle takes an account identifier or an
amount only from K-Series' own answers about our order (the sale found by our reference, the
check read by that sale's account): orderflow never pays a check a notification alone named.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel

from worker.events import AccountNews, Event, OrderNews, PaymentNews, Snapshot
from worker.kseries.models import AccountSnapshot, Sale
from worker.kseries.notifications import (
    AccountNotification,
    ItemNotification,
    OrderNotification,
    PaymentNotification,
    ReadinessNotification,
)
from worker.money import MAX_AMOUNT

__all__ = [
    "Notification",
    "as_event",
    "from_account",
    "from_sale",
    "kind_of",
    "notification_key",
    "parse_notification",
]

Notification = (
    OrderNotification
    | PaymentNotification
    | AccountNotification
    | ItemNotification
    | ReadinessNotification
)
_BY_TYPE: dict[str, type[Notification]] = {
    "ORDER": OrderNotification,
    "PAYMENT": PaymentNotification,
    "ITEM": ItemNotification,
    "ORDER_API": ReadinessNotification,
}


class _Kind(BaseModel):
    """Which notification a body is: `type`, ORDER when left out (K-Series' FAILURE example)."""

    type: Literal["ORDER", "PAYMENT", "ITEM", "ORDER_API"] = "ORDER"


def parse_notification(payload: Any) -> Notification:
    """The notification model for a webhook body.

    Raises:
        ValidationError: not a JSON object, an unknown `type`, or a field that fails validation
            (`describe_error` names it).
    """
    if isinstance(payload, dict) and "notificationType" in payload:
        return AccountNotification.model_validate(payload)
    return _BY_TYPE[_Kind.model_validate(payload).type].model_validate(payload)


def notification_key(note: Notification) -> str:
    """Our own dedup key: K-Series sends no event id (kseries-api.md)."""
    parts: list[Any]
    if isinstance(note, AccountNotification):
        a = note.account
        parts = ["ACCOUNT", note.notificationType, a.accountNumber, a.totalAmount, a.paidAmount]
    elif isinstance(note, ItemNotification | ReadinessNotification):
        parts = [note.type, note.businessLocationId, note.status]
    else:
        account = getattr(note, "account", None)
        amounts = (account.currentAmount, account.paidAmount) if account else ()
        parts = [
            note.type,
            note.thirdPartyReference,
            note.status,
            note.ikentooAccountIdentifier,
            note.reason,
        ]
        parts += [getattr(note, "error_type", None), *amounts]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:32]


def from_account(
    account: AccountSnapshot, identifier: str | None = None, *, verified: bool = True
) -> Snapshot:
    """A check as K-Series answered it (`verified`), or as a notification claims it."""
    return Snapshot(
        account_identifier=account.ikaccountId or identifier,
        total=account.currentAmount,
        paid=account.paidAmount,
        payment_references=account.payment_references,
        verified=verified,
    )


def from_sale(sale: Sale) -> Snapshot:
    """The sale K-Series found for our reference: its account is ours. Amounts it cannot vouch
    for (unreadable lines, a negative or absurd sum) are left out and said why, so the check is
    read for them instead."""
    total, paid, problem = sale.total, sale.paid, sale.unreadable
    if problem is None and total is not None and paid is not None:
        problem = _implausible("salesLines", total) or _implausible("payments", paid)
    if problem is not None:
        total = paid = None
    return Snapshot(
        account_identifier=sale.accountFiscId,
        total=total,
        paid=paid,
        payment_references=sale.payment_references if problem is None else frozenset(),
        unreadable=problem,
        cancelled=bool(sale.cancelled),
    )


def _implausible(name: str, amount: Decimal) -> str | None:
    if amount < 0:
        return f"{name}: the sum {amount} is negative"
    if amount > MAX_AMOUNT:
        return f"{name}: the sum is above {MAX_AMOUNT}"
    return None


def kind_of(note: Notification) -> str:
    if isinstance(note, AccountNotification):
        return note.notificationType
    return f"{note.type}:{note.status}"


def as_event(note: OrderNotification | PaymentNotification | AccountNotification) -> Event:
    """The lifecycle event of a notification naming an order; its snapshot is unverified."""
    key = notification_key(note)
    if isinstance(note, AccountNotification):
        a = note.account
        snap = Snapshot(
            account_identifier=a.accountNumber,
            total=a.totalAmount,
            paid=a.paidAmount,
            verified=False,
            unreadable=a.unreadable,
        )
        return AccountNews(key=key, kind=note.notificationType, snapshot=snap)
    if isinstance(note, PaymentNotification):
        return PaymentNews(
            key=key,
            reference=note.thirdPartyReference,
            status=note.status,
            reason=note.reason,
            error_type=note.error_type,
            timed_out=note.timed_out,
            account_identifier=note.ikentooAccountIdentifier,
        )
    if note.account is not None:
        snap = from_account(note.account, note.ikentooAccountIdentifier, verified=False)
    else:
        snap = Snapshot(
            account_identifier=note.ikentooAccountIdentifier,
            verified=False,
            unreadable=note.unreadable,
        )
    return OrderNews(key=key, status=note.status, reason=note.reason, snapshot=snap)

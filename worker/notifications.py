"""K-Series notifications as the lifecycle sees them: which model a webhook body is, our own
dedup key for it, and the lifecycle event it carries."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from worker.events import AccountNews, Event, OrderNews, PaymentNews, Snapshot
from worker.kseries.models import (
    AccountNotification,
    AccountSnapshot,
    OrderNotification,
    PaymentNotification,
    Sale,
)

__all__ = [
    "Notification",
    "as_event",
    "from_account",
    "from_sale",
    "kind_of",
    "notification_key",
    "parse_notification",
]

Notification = OrderNotification | PaymentNotification | AccountNotification


def parse_notification(payload: Any) -> Notification:
    """The notification model for a webhook body.

    Raises:
        ValidationError: the body is none of ORDER, PAYMENT or an account notification.
    """
    if isinstance(payload, dict) and "notificationType" in payload:
        return AccountNotification.model_validate(payload)
    if isinstance(payload, dict) and payload.get("type") == "PAYMENT":
        return PaymentNotification.model_validate(payload)
    return OrderNotification.model_validate(payload)


def notification_key(note: Notification) -> str:
    """Our own dedup key: K-Series sends no event id (kseries-api.md)."""
    if isinstance(note, AccountNotification):
        a = note.account
        parts: list[Any] = [
            "ACCOUNT",
            note.notificationType,
            a.accountNumber,
            a.totalAmount,
            a.paidAmount,
        ]
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


def from_account(account: AccountSnapshot, identifier: str | None = None) -> Snapshot:
    return Snapshot(
        account_identifier=account.ikaccountId or identifier,
        total=account.currentAmount,
        paid=account.paidAmount,
        payment_references=account.payment_references,
    )


def from_sale(sale: Sale) -> Snapshot:
    return Snapshot(
        account_identifier=sale.accountFiscId,
        total=sale.total,
        paid=sale.paid,
        payment_references=sale.payment_references,
    )


def kind_of(note: Notification) -> str:
    return (
        note.notificationType
        if isinstance(note, AccountNotification)
        else f"{note.type}:{note.status}"
    )


def as_event(note: Notification) -> Event:
    key = notification_key(note)
    if isinstance(note, AccountNotification):
        a = note.account
        snap = Snapshot(account_identifier=a.accountNumber, total=a.totalAmount, paid=a.paidAmount)
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
        snap = from_account(note.account, note.ikentooAccountIdentifier)
    else:
        snap = Snapshot(account_identifier=note.ikentooAccountIdentifier)
    return OrderNews(key=key, status=note.status, reason=note.reason, snapshot=snap)

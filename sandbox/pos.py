"""The restaurant's POS behind K-Series: checks (accounts), their lines and payments.

Pure state plus decisions, no I/O and no timers: `engine.py` decides *when* the POS sees an
order or payment, this module decides *what* happens to it. Identifiers follow the real forms:
account `A{posId}.{n}`, receipt `R{posId}.{n}`, numeric ids as long digit strings.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

from sandbox.formats import cents
from sandbox.menu import SERVICE_SKU, lookup

__all__ = [
    "POS",
    "Account",
    "ItemRequest",
    "OrderKind",
    "OrderOutcome",
    "OrderPaymentRequest",
    "OrderRequest",
    "PaymentLine",
    "PaymentOutcome",
    "PaymentRequest",
    "SaleLine",
    "sale_reference",
]

OrderKind = Literal["local", "toGo"]
FIRST_POS_ID = 17700
FIRST_NUMERIC_ID = 304_087_979_524_000
DEFAULT_METHOD = "APM"
OVERPAID_REASON = "the payment amount is greater than the amount due"


def sale_reference(business_location_id: int, reference: str) -> str:
    """How the finance API names an online order's sale: `TASK:OO-{bl}-{ref}`."""
    return f"TASK:OO-{business_location_id}-{reference}"


# --- what the API hands the POS -------------------------------------------------------------


@dataclass(frozen=True)
class ItemRequest:
    sku: str
    quantity: int
    custom_name: str | None = None
    custom_price: Decimal | None = None
    sub_items: tuple[ItemRequest, ...] = ()


@dataclass(frozen=True)
class OrderPaymentRequest:
    """An order's upfront payment; `amount` includes the tip, as K-Series documents."""

    method: str
    amount: Decimal
    tip: Decimal


@dataclass(frozen=True)
class OrderRequest:
    kind: OrderKind
    business_location_id: int
    reference: str
    endpoint_id: str
    items: tuple[ItemRequest, ...]
    payment: OrderPaymentRequest | None
    ttl_ms: int
    scheduled_at: datetime | None = None
    table_number: str | None = None
    client_count: int | None = None
    collection_code: str | None = None
    staff_id: int | None = None
    account_profile_code: str | None = None


@dataclass(frozen=True)
class PaymentRequest:
    """`/o/op/1/pay`; `amount` excludes the tip."""

    business_location_id: int
    reference: str
    endpoint_id: str
    account_identifier: str | None
    account_id: int | None
    method: str
    amount: Decimal
    tip: Decimal
    ttl_ms: int


# --- what the POS holds ----------------------------------------------------------------------


@dataclass
class SaleLine:
    id: int
    uuid: str
    sku: str
    name: str
    unit: Decimal
    quantity: int
    at: datetime
    sub_lines: list[SaleLine] = field(default_factory=list)

    @property
    def amount(self) -> Decimal:
        return cents(self.unit * self.quantity)

    def flat(self) -> list[SaleLine]:
        return [self, *(s for sub in self.sub_lines for s in sub.flat())]


@dataclass
class PaymentLine:
    id: int
    uuid: str
    reference: str
    method: str
    amount: Decimal
    tip: Decimal
    at: datetime


@dataclass
class Account:
    """One check. `lines` includes the service charge line (sku SERVICE)."""

    identifier: str
    numeric_id: int
    uuid: str
    business_location_id: int
    pos_id: int
    number: int
    order: OrderRequest
    opened: datetime
    lines: list[SaleLine] = field(default_factory=list)
    payments: list[PaymentLine] = field(default_factory=list)
    closed: datetime | None = None

    @property
    def receipt_id(self) -> str:
        return f"R{self.pos_id}.{self.number}"

    @property
    def external_reference(self) -> str:
        return sale_reference(self.business_location_id, self.order.reference)

    @property
    def total(self) -> Decimal:
        return cents(sum((ln.amount for top in self.lines for ln in top.flat()), Decimal(0)))

    @property
    def service_charge(self) -> Decimal:
        return sum((ln.amount for ln in self.lines if ln.sku == SERVICE_SKU), Decimal("0.00"))

    @property
    def paid(self) -> Decimal:
        return cents(sum((p.amount for p in self.payments), Decimal(0)))

    @property
    def due(self) -> Decimal:
        return self.total - self.paid


@dataclass(frozen=True)
class OrderOutcome:
    ok: bool
    reason: str | None = None
    account: Account | None = None


@dataclass(frozen=True)
class PaymentOutcome:
    ok: bool
    reason: str | None = None
    error_type: str | None = None
    account: Account | None = None
    closed_now: bool = False


class POS:
    """All locations' checks. Randomness (UUIDs) comes from the sandbox's one seeded RNG."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._next_id = FIRST_NUMERIC_ID
        self._pos_ids: dict[int, int] = {}
        self._numbers: dict[int, int] = {}
        self.accounts: dict[tuple[int, str], Account] = {}
        self._by_sale_ref: dict[str, Account] = {}

    # --- identifiers ---------------------------------------------------------------------

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def pos_id(self, business_location_id: int) -> int:
        if business_location_id not in self._pos_ids:
            self._pos_ids[business_location_id] = FIRST_POS_ID + len(self._pos_ids)
        return self._pos_ids[business_location_id]

    # --- lookups -------------------------------------------------------------------------

    def account(self, business_location_id: int, identifier: str) -> Account | None:
        return self.accounts.get((business_location_id, identifier))

    def account_by_numeric_id(self, business_location_id: int, numeric_id: int) -> Account | None:
        for acc in self.accounts.values():
            if acc.business_location_id == business_location_id and acc.numeric_id == numeric_id:
                return acc
        return None

    def sale(self, business_location_id: int, external_reference: str) -> Account | None:
        acc = self._by_sale_ref.get(external_reference)
        return acc if acc and acc.business_location_id == business_location_id else None

    # --- decisions -----------------------------------------------------------------------

    def open_order(self, order: OrderRequest, now: datetime, service_rate: Decimal) -> OrderOutcome:
        """Ring the order up: unknown SKU or overpayment fail it whole, else a check opens."""
        lines: list[SaleLine] = []
        for item in order.items:
            line = self._line(item, now)
            if isinstance(line, str):
                return OrderOutcome(False, f"Could not add item {line} (not found)")
            lines.append(line)
        subtotal = cents(sum((ln.amount for top in lines for ln in top.flat()), Decimal(0)))
        service = cents(subtotal * service_rate)
        if service > 0:
            lines.append(self._service_line(service, now))
        total = subtotal + service
        pay = order.payment
        paid = cents(pay.amount - pay.tip) if pay else Decimal("0.00")
        if paid > total:
            return OrderOutcome(False, OVERPAID_REASON)
        acc = self._new_account(order, now, lines)
        if pay and paid > 0:
            acc.payments.append(
                PaymentLine(
                    self._id(), self._uuid(), order.reference, pay.method, paid, pay.tip, now
                )
            )
        if acc.paid >= acc.total:
            acc.closed = now
        return OrderOutcome(True, account=acc)

    def apply_payment(self, payment: PaymentRequest, now: datetime) -> PaymentOutcome:
        """Add a payment to an open check, refusing anything above what is due."""
        bl = payment.business_location_id
        acc = None
        if payment.account_identifier:
            acc = self.account(bl, payment.account_identifier)
        elif payment.account_id:
            acc = self.account_by_numeric_id(bl, payment.account_id)
        if acc is None:
            return PaymentOutcome(False, "Account not found", "ACCOUNT_NOT_FOUND")
        if acc.closed is not None:
            return PaymentOutcome(False, "Account is already closed", "ACCOUNT_ALREADY_CLOSED", acc)
        amount = cents(payment.amount)
        if amount > acc.due:
            return PaymentOutcome(False, OVERPAID_REASON, "OVERPAID", acc)
        acc.payments.append(
            PaymentLine(
                self._id(),
                self._uuid(),
                payment.reference,
                payment.method,
                amount,
                cents(payment.tip),
                now,
            )
        )
        closed_now = acc.paid >= acc.total
        if closed_now:
            acc.closed = now
        return PaymentOutcome(True, account=acc, closed_now=closed_now)

    # --- helpers -------------------------------------------------------------------------

    def _line(self, item: ItemRequest, now: datetime) -> SaleLine | str:
        """A priced line with its sub-lines, or the first unknown SKU."""
        menu_item = lookup(item.sku)
        if menu_item is None:
            return item.sku
        subs: list[SaleLine] = []
        for sub in item.sub_items:
            sub_line = self._line(sub, now)
            if isinstance(sub_line, str):
                return sub_line
            subs.append(sub_line)
        price = item.custom_price if item.custom_price is not None else menu_item.price
        name = item.custom_name or menu_item.name
        return SaleLine(
            self._id(), self._uuid(), item.sku, name, cents(price), item.quantity, now, subs
        )

    def _service_line(self, amount: Decimal, now: datetime) -> SaleLine:
        return SaleLine(self._id(), self._uuid(), SERVICE_SKU, "Service charge", amount, 1, now)

    def _new_account(self, order: OrderRequest, now: datetime, lines: list[SaleLine]) -> Account:
        bl = order.business_location_id
        pos_id = self.pos_id(bl)
        number = self._numbers.get(bl, 0) + 1
        self._numbers[bl] = number
        acc = Account(
            identifier=f"A{pos_id}.{number}",
            numeric_id=self._id(),
            uuid=self._uuid(),
            business_location_id=bl,
            pos_id=pos_id,
            number=number,
            order=order,
            opened=now,
            lines=lines,
        )
        self.accounts[(bl, acc.identifier)] = acc
        self._by_sale_ref[acc.external_reference] = acc
        return acc

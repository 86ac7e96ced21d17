"""Orders for the record codec's tests: realistic ones through the lifecycle (none of them the
bench's template, whose copies would flatter any compression), and any order hypothesis draws."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from tests.builders import T0
from worker.events import (
    OrderNews,
    PaymentAccepted,
    PaymentNews,
    Retry,
    SaleFound,
    Snapshot,
    SubmitAccepted,
    SubmitRejected,
)
from worker.kseries.models import REFERENCE_PATTERN
from worker.lifecycle import Policy, apply
from worker.order import (
    HistoryEntry,
    Order,
    Payment,
    PaymentStatus,
    Status,
    SubmissionAdapter,
    fingerprint,
)

__all__ = ["dine_in", "journey", "orders", "to_go"]


def _order(body: dict[str, Any], created: datetime = T0) -> Order:
    submission = SubmissionAdapter.validate_python(body)
    ttl_ms = submission.order.maxTimeToAttemptOrderDeliverToPos or 300_000
    return Order.queued(
        submission, created, ttl_ms, event="submitted", detail=f"{submission.type} order queued"
    )


def dine_in() -> Order:
    return _order(
        {
            "type": "local",
            "settleRemaining": {"paymentMethod": "CARD-ONLINE", "maxAmount": "40.00"},
            "order": {
                "businessLocationId": 9_311_224_000_017,
                "thirdPartyReference": "web-88213-a",
                "endpointId": "shopfront-eu",
                "customerInfo": {
                    "firstName": "Zoë",
                    "lastName": "Łukasiewicz-Brandt",
                    "email": "zoe.lb@posteo.de",
                    "contactNumberAsE164": "+4915123456789",
                    "notes": "Allergic to peanuts — please, no sesame either",
                },
                "tableNumber": "14B",
                "clientCount": 3,
                "orderNote": 'Birthday: bring the cake after mains 🎂, "no candles"',
                "maxTimeToAttemptOrderDeliverToPos": 600_000,
                "payment": {
                    "paymentMethod": "CARD-ONLINE",
                    "paymentAmount": "31.70",
                    "tipAmount": "2.50",
                },
                "items": [
                    {"sku": "PIZ-MARG-12", "quantity": 2, "modifiers": [{"modifierId": "BASIL"}]},
                    {"sku": "LEMONADE-L", "quantity": 3, "course": 1},
                    {
                        "sku": "TIRAMISU",
                        "quantity": 1,
                        "subItems": [{"sku": "RISTR", "quantity": 1}],
                    },
                ],
            },
        }
    )


def to_go() -> Order:
    return _order(
        {
            "type": "toGo",
            "order": {
                "businessLocationId": 88_410_552_001,
                "thirdPartyReference": "app-7f3e2c91",
                "customerInfo": {
                    "firstName": "Mateus",
                    "lastName": "Gonçalves",
                    "email": "m.goncalves@example.org",
                },
                "deliveryAddress": {
                    "addressLine1": "Rua das Flores 112, 3º Esq",
                    "zip": "4050-262",
                    "city": "Porto",
                },
                "collectionCode": "K7Q2",
                "orderCollectionTimeAsIso8601": "2026-11-22T19:45:00+00:00",
                "items": [
                    {
                        "sku": "BACALHAU-BRAS",
                        "quantity": 1,
                        "customItemName": "Bacalhau à Brás (sem ovo)",
                        "customItemPrice": "14.90",
                    },
                    {"sku": "PASTEL-NATA", "quantity": 6},
                ],
            },
        }
    )


def journey() -> dict[str, Order]:
    """The dine-in order at each status of a settled order's life, and a rejected to-go order,
    through the lifecycle itself (real payment references, notification keys, histories)."""
    policy = Policy(rand=lambda: 1.0)
    at = {"now": T0}

    def step(order: Order, event: Any) -> Order:
        at["now"] += timedelta(seconds=3, microseconds=271_828)
        return apply(order, event, at["now"], policy)

    account = "A17700.3"
    orders = {"queued": dine_in()}
    orders["submitted"] = step(orders["queued"], SubmitAccepted())
    news = OrderNews(
        key="3f9a0c1d2b4e5f60718293a4b5c6d7e8",
        status="SUCCESS",
        snapshot=Snapshot(account_identifier=account, verified=False),
    )
    orders["confirmed"] = step(orders["submitted"], news)
    check = Snapshot(account_identifier=account, total=Decimal("71.70"), paid=Decimal("31.70"))
    orders["settling"] = step(orders["confirmed"], SaleFound(check))
    payment = orders["settling"].payments[-1].reference
    accepted = step(orders["settling"], PaymentAccepted(reference=payment))
    success = PaymentNews(
        key="9c8b7a6f5e4d3c2b1a09f8e7d6c5b4a3", reference=payment, status="SUCCESS"
    )
    orders["completed"] = step(accepted, success)
    retried = step(to_go(), Retry(call="submit", error="503: service unavailable"))
    orders["failed"] = step(retried, SubmitRejected(reason="400: unknown sku PASTEL-NATA"))
    return orders


money = st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False, allow_infinity=False)
moments = st.datetimes(
    min_value=datetime(2020, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
)
texts = st.text(max_size=40)  # any unicode: quotes, backslashes, control characters, emoji


@st.composite
def submissions(draw: st.DrawFn) -> Any:
    item = st.fixed_dictionaries(
        {"sku": st.text(min_size=1, max_size=25), "quantity": st.integers(1, 10_000)},
        optional={
            "customItemName": st.text(max_size=128),
            "customItemPrice": money,
            "modifiers": st.lists(
                st.fixed_dictionaries({"modifierId": st.text("ab1-", min_size=1, max_size=64)})
            ),
            "discountCode": st.text(max_size=64),
        },
    )
    customer = st.fixed_dictionaries(
        {"firstName": st.text(min_size=1, max_size=128)},
        optional={
            "lastName": texts,
            "email": texts,
            "notes": texts,
            "salutation": st.text(max_size=32),
        },
    )
    order = {
        "businessLocationId": draw(st.integers(1, 2**63 - 1)),
        "thirdPartyReference": draw(st.from_regex(REFERENCE_PATTERN, fullmatch=True)),
        "customerInfo": draw(customer),
        "items": draw(st.lists(item, min_size=1, max_size=4)),
    }
    body: dict[str, Any] = {"type": draw(st.sampled_from(["local", "toGo"])), "order": order}
    if draw(st.booleans()):
        order["payment"] = {
            "paymentMethod": draw(st.text(min_size=1, max_size=64)),
            "paymentAmount": draw(money),
            "tipAmount": draw(money),
        }
    if draw(st.booleans()):
        body["settleRemaining"] = {"paymentMethod": "OOPAYMENT", "maxAmount": draw(money)}
    return SubmissionAdapter.validate_python(body)


payments = st.builds(
    Payment,
    reference=texts,
    amount=money,
    attempt=st.integers(0, 5),
    status=st.sampled_from(PaymentStatus),
    created_at=moments,
    last_sent_at=st.none() | moments,
    deadline=moments,
    failure_kind=st.none() | texts,
    reason=st.none() | texts,
)
entries = st.builds(
    HistoryEntry, at=moments, status=st.sampled_from(Status), event=texts, detail=texts
)


@st.composite
def orders(draw: st.DrawFn) -> Order:
    submission = draw(submissions())
    maybe = {
        "accepted_at": moments,
        "confirm_deadline": moments,
        "wake_at": moments,
        "account_identifier": texts,
        "total": money,
        "paid": money,
        "outstanding": money,
        "last_error": texts,
        "failure_reason": texts,
        "replay_of": texts,
        "replayed_as": texts,
    }
    return Order(
        business_location_id=submission.order.businessLocationId,
        reference=submission.order.thirdPartyReference,
        status=draw(st.sampled_from(Status)),
        submission=submission,
        fingerprint=fingerprint(submission),
        version=draw(st.integers(0, 10**6)),
        created_at=draw(moments),
        delivery_ttl_ms=draw(st.integers(1, 86_400_000)),
        submit_deadline=draw(moments),
        submit_attempts=draw(st.integers(0, 3)),
        poll_attempts=draw(st.integers(0, 3)),
        late_lookups=draw(st.integers(0, 3)),
        outcome_unknown=draw(st.booleans()),
        attempt_base=draw(st.integers(0, 3)),
        payments=tuple(draw(st.lists(payments, max_size=3))),
        seen=tuple(draw(st.lists(texts, max_size=3))),
        history=tuple(draw(st.lists(entries, max_size=5))),
        **{name: draw(st.none() | values) for name, values in maybe.items()},
    )

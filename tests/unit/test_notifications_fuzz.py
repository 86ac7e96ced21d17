"""Property-based: any notification body (any shape, any amounts: nested junk, huge, negative
or missing amounts, wrong types) through `POST /webhooks/kseries` and `apply_notification`.

Nothing escapes the task (and nothing even trips its last-resort guard), every order record
and every recorded notification reads back, and no check but K-Series' own is ever paid.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api_harness_notes import NotificationHarness
from tests.builders import BL, new_order
from tests.kseries_fake import SALE, FakeKSeries, engine_with, stored
from worker.engine import Engine
from worker.web.views import order_view

REFS = ["o-queued", "o-submitted", "o-settling", "o-done"]
CHECK = {
    "ikaccountId": "A1.1",
    "currentAmount": "18.15",
    "paidAmount": "16.50",
    "paymentEntries": [],
}

text = st.text(max_size=12)
numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(width=32, allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
)
amount_texts = st.sampled_from(
    ["1e27", "-1e27", "1E+400", "-5", "-0.01", "1.1234567", "NaN", "Infinity", "abc", "", "٣"]
)
leaves = st.one_of(st.none(), st.booleans(), numbers, text, amount_texts)
junk = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=12,
)
# Amounts are what the fuzz is after: as often absurd (negative, huge, not a number) as sane.
amounts = st.one_of(st.sampled_from(["18.15", "16.50", "0.00", "20", "1.65"]), amount_texts, junk)


def spoiled(base: st.SearchStrategy[dict[str, Any]], fields: list[str]) -> st.SearchStrategy[Any]:
    """A well-formed body (so it reaches an order and the engine goes deep), then some of its
    fields replaced by junk or dropped, and junk keys added."""
    return st.builds(
        lambda body, replaced, dropped: {
            k: v for k, v in {**body, **replaced}.items() if k not in dropped
        },
        base,
        st.just({}) | st.dictionaries(st.sampled_from(fields) | text, junk, max_size=2),
        st.just(set()) | st.sets(st.sampled_from(fields), max_size=1),
    )


accounts = st.one_of(
    st.none(),
    junk,
    spoiled(
        st.fixed_dictionaries(
            {
                "ikaccountId": st.sampled_from(["A1.1", "A999.9", "../pay"]),
                "currentAmount": amounts,
                "paidAmount": amounts,
                "paymentEntries": st.lists(
                    st.fixed_dictionaries(
                        {
                            "externalReference": st.sampled_from(["pay-1", "x"]),
                            "amountPaid": amounts,
                        }
                    ),
                    max_size=2,
                ),
            }
        ),
        ["ikaccountId", "currentAmount", "paidAmount", "paymentEntries"],
    ),
)
order_notes = spoiled(
    st.fixed_dictionaries(
        {
            "type": st.just("ORDER"),
            "thirdPartyReference": st.sampled_from(REFS),
            "status": st.sampled_from(
                ["SUCCESS", "FAILURE", "CLOSED", "CANCELLED", "CHECK_WAS_UPDATED", "ABANDONED"]
            ),
            "ikentooAccountIdentifier": st.sampled_from(["A1.1", "A999.9"]),
        },
        optional={"businessLocationId": st.just(BL), "reason": text, "account": accounts},
    ),
    ["type", "thirdPartyReference", "status", "businessLocationId", "reason", "account"],
)
payment_notes = spoiled(
    st.fixed_dictionaries(
        {
            "type": st.just("PAYMENT"),
            "thirdPartyReference": st.sampled_from(["pay-1", "pay-2"]),
            "status": st.sampled_from(["SUCCESS", "FAILURE"]),
        },
        optional={
            "businessLocationId": st.just(BL),
            "reason": text,
            "errors": st.one_of(
                junk,
                st.fixed_dictionaries(
                    {},
                    optional={
                        "timeout": st.just({"errorKey": "errors.payment.pos.task_timeout"}),
                        "account": st.fixed_dictionaries(
                            {"type": st.sampled_from(["OVERPAID", "ACCOUNT_NOT_FOUND"]) | junk}
                        ),
                    },
                ),
            ),
        },
    ),
    ["thirdPartyReference", "status", "businessLocationId", "reason", "errors"],
)
account_notes = spoiled(
    st.fixed_dictionaries(
        {
            "notificationType": st.sampled_from(["OPEN", "UPDATE", "CLOSE", "CANCEL"]),
            "account": spoiled(
                st.fixed_dictionaries(
                    {
                        "accountNumber": st.sampled_from(["A1.1", "A999.9"]),
                        "totalAmount": amounts,
                        "paidAmount": amounts,
                        "externalReferences": st.lists(
                            st.fixed_dictionaries(
                                {"reference": st.sampled_from([f"OO-{BL}-{r}" for r in REFS])},
                                optional={"prefix": st.just("TASK")},
                            ),
                            min_size=1,
                            max_size=2,
                        ),
                    }
                ),
                ["accountNumber", "totalAmount", "paidAmount", "externalReferences"],
            ),
        }
    ),
    ["notificationType", "account", "businessLocationId"],
)
other_notes = spoiled(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["ITEM", "ORDER_API", "TABLE"]),
            "businessLocationId": st.just(BL),
            "status": st.sampled_from(["READY", "NOT_READY", "RESTRICTED"]),
            "sku": st.just("UGG-BB-PUR-06"),
            "lastUpdatedAt": st.sampled_from(["2025-10-04T09:40:00+00:00", "2025-10-04T09:40"]),
        },
        optional={"posStatus": junk, "count": junk},
    ),
    ["type", "businessLocationId", "status", "sku", "lastUpdatedAt", "posStatus"],
)
bodies = st.one_of(
    order_notes, payment_notes, account_notes, other_notes, st.dictionaries(text, junk)
)


def world(engine: Engine) -> None:
    """Orders in each state a notification may meet: queued, submitted, settling, completed."""
    clock = engine.clock
    engine.store.create(new_order("o-queued"), clock())
    stored(engine, "o-submitted")
    stored(engine, "o-settling")
    stored(engine, "o-done", settle=None)
    clock.tick(5)  # type: ignore[attr-defined]
    engine.advance(BL, "o-settling")
    engine.advance(BL, "o-done")


def assert_all_readable(engine: Engine, note_ids: list[str], kseries: FakeKSeries) -> None:
    for ref in REFS:
        order = engine.store.get(BL, ref)  # parses, or raises
        assert order is not None
        order_view(order)
    for note_id in note_ids:
        assert engine.store.notification(note_id) is not None
        assert engine.store._r.get(f"orderflow:failures:n:{note_id}") is None, "task failed"
    assert set(kseries.paid_accounts()) <= {"A1.1"}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(notes=st.lists(bodies, min_size=1, max_size=3))
def test_any_notification_body_applied_by_the_engine_leaves_every_record_readable(
    notes: list[dict[str, Any]],
) -> None:
    kseries = FakeKSeries(SALE, **{"A1.1": CHECK, "A999.9": CHECK})
    engine = engine_with(kseries)
    world(engine)
    note_ids = []
    for body in notes:
        note_ids.append(engine.store.record_notification(body, engine.clock()))
        engine.apply_notification(note_ids[-1])  # raises nothing
    assert_all_readable(engine, note_ids, kseries)


MISSING = object()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ref=st.sampled_from(REFS),
    status=st.sampled_from(["SUCCESS", "CLOSED", "CHECK_WAS_UPDATED"]),
    notification=st.sampled_from(["ORDER", "ACCOUNT"]),
    total=amounts | st.just(MISSING),
    paid=amounts | st.just(MISSING),
)
def test_any_amounts_in_news_of_an_order_never_poison_its_record(
    ref: str, status: str, notification: str, total: Any, paid: Any
) -> None:
    kseries = FakeKSeries(SALE, **{"A1.1": CHECK})
    engine = engine_with(kseries)
    world(engine)
    amounts_given = {
        name: value
        for name, value in (("currentAmount", total), ("paidAmount", paid))
        if value is not MISSING
    }
    if notification == "ORDER":
        body: dict[str, Any] = {
            "type": "ORDER",
            "status": status,
            "thirdPartyReference": ref,
            "businessLocationId": BL,
            "account": {"ikaccountId": "A999.9", **amounts_given},
        }
    else:
        body = {
            "notificationType": "UPDATE",
            "account": {
                "accountNumber": "A999.9",
                "externalReferences": [{"prefix": "TASK", "reference": f"OO-{BL}-{ref}"}],
                **{k.replace("current", "total"): v for k, v in amounts_given.items()},
            },
        }
    note_id = engine.store.record_notification(body, engine.clock())
    engine.apply_notification(note_id)
    assert_all_readable(engine, [note_id], kseries)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(notes=st.lists(bodies, min_size=1, max_size=2))
def test_any_notification_body_posted_to_the_webhook_gets_a_200_and_its_task_never_fails(
    notes: list[dict[str, Any]],
) -> None:
    hook = NotificationHarness()
    hook.kseries.sale = SALE
    hook.kseries.checks = {"A1.1": CHECK}
    world(hook.engine)
    for body in notes:
        response = hook.post(body)
        assert response.status_code == 200, response.text
        hook.apply(response.json()["id"])
    assert_all_readable(hook.engine, hook.api.notes, hook.kseries)

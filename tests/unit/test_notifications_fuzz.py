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
    [
        "1e27",
        "-1e27",
        "1E+400",
        "-5",
        "-0.01",
        "0",
        "18.15",
        "1.1234567",
        "NaN",
        "Infinity",
        "abc",
        "",
        " 4.00 ",
        "1_000",
        "0x10",
        "٣",
    ]  # fmt: skip
)
leaves = st.one_of(st.none(), st.booleans(), numbers, text, amount_texts)
junk = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=12,
)
amounts = st.one_of(amount_texts, numbers, junk)
references = st.one_of(st.sampled_from(REFS), text, junk)
locations = st.one_of(st.just(BL), st.just(str(BL)), st.integers(), text, junk)


def some(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with any subset of `fields`, plus junk keys."""
    return st.builds(
        lambda chosen, extra: {**extra, **chosen},
        st.fixed_dictionaries({}, optional=fields),
        st.dictionaries(text, junk, max_size=2),
    )


accounts = st.one_of(
    junk,
    some(
        ikaccountId=st.one_of(st.sampled_from(["A1.1", "A999.9", "../pay", "A1.1/x"]), junk),
        currentAmount=amounts,
        paidAmount=amounts,
        paymentEntries=st.one_of(
            junk, st.lists(some(externalReference=st.sampled_from(["pay-1", "x"]) | junk))
        ),
    ),
)
order_notes = some(
    type=st.one_of(st.just("ORDER"), junk),
    thirdPartyReference=references,
    businessLocationId=locations,
    status=st.one_of(
        st.sampled_from(["SUCCESS", "FAILURE", "CLOSED", "CANCELLED", "CHECK_WAS_UPDATED"]), junk
    ),
    reason=st.one_of(text, junk),
    ikentooAccountIdentifier=st.one_of(st.sampled_from(["A1.1", "A999.9"]), junk),
    ikentooAccountId=junk,
    account=accounts,
)
payment_notes = some(
    type=st.just("PAYMENT"),
    thirdPartyReference=st.one_of(st.sampled_from(["pay-1", "pay-2"]), junk),
    businessLocationId=locations,
    status=st.one_of(st.sampled_from(["SUCCESS", "FAILURE"]), junk),
    reason=st.one_of(text, junk),
    errors=st.one_of(
        junk, some(timeout=some(errorKey=junk), account=some(type=st.one_of(text, junk)))
    ),
)
account_notes = some(
    notificationType=st.one_of(st.sampled_from(["OPEN", "UPDATE", "CLOSE", "CANCEL"]), junk),
    businessLocationId=locations,
    account=st.one_of(
        junk,
        some(
            accountNumber=junk,
            totalAmount=amounts,
            paidAmount=amounts,
            externalReferences=st.lists(
                some(
                    prefix=st.one_of(st.just("TASK"), junk),
                    reference=st.one_of(st.sampled_from([f"OO-{BL}-{r}" for r in REFS]), junk),
                ),
                max_size=3,
            ),
        ),
    ),
)
other_notes = some(
    type=st.sampled_from(["ITEM", "ORDER_API", "TABLE"]),
    businessLocationId=locations,
    status=st.one_of(st.sampled_from(["READY", "NOT_READY", "RESTRICTED"]), junk),
    sku=junk,
    count=junk,
    lastUpdatedAt=st.one_of(st.sampled_from(["2025-10-04T09:40:00+00:00", "2025-10-04"]), junk),
    posStatus=junk,
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


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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

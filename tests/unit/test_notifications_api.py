"""`POST /webhooks/kseries` takes everything K-Series may send: each published example gets 200,
is recorded, and is applied, kept (readiness) or ignored (item availability) by its task."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.api_harness_notes import EXAMPLE_LOCATION, NotificationHarness
from tests.kseries_examples import (
    OPENAPI_DIRS,
    fixture_examples,
    openapi_examples,
    published_examples,
)
from tests.unit.api_harness import BASIC

EXAMPLES = published_examples()
BL = EXAMPLE_LOCATION


@pytest.fixture
def hook() -> NotificationHarness:
    return NotificationHarness()


def test_the_fixture_copies_are_the_published_examples() -> None:
    # CI without the shared folder runs on the copies; with it, they must not have drifted.
    directory = next((d for d in OPENAPI_DIRS if d.is_dir()), None)
    if directory is None:
        pytest.skip("the shared OpenAPI files are not beside the repository")
    assert openapi_examples(directory) == fixture_examples()
    assert len(fixture_examples()) >= 12


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_notification_example_k_series_publishes_gets_a_200_and_is_handled(
    hook: NotificationHarness, name: str
) -> None:
    # Given the orders and payments K-Series' examples name
    hook.orders_named_by_the_examples()
    # When K-Series sends the example
    response = hook.post(EXAMPLES[name])
    # Then it is answered 200, recorded, and its task handles it without failing
    assert response.status_code == 200, response.text
    note_id = response.json()["id"]
    assert hook.api.notes == [note_id]
    hook.apply(note_id)
    assert hook.failures(note_id) is None
    assert hook.pending(note_id) is False
    body = EXAMPLES[name]
    if body.get("type", "ORDER") == "ORDER":  # ORDER news lands in its order's history
        bl = body.get("businessLocationId", EXAMPLE_LOCATION)
        order = hook.api.store.get(bl, body["thirdPartyReference"])
        assert order is not None
        assert f"OrderNews:{body['status']}" in [h.event for h in order.history]


def test_a_readiness_notification_keeps_the_latest_readiness_of_its_location(
    hook: NotificationHarness,
) -> None:
    ready = next(b for n, b in EXAMPLES.items() if n.endswith("onlineOrderingAPIReady"))
    not_ready = next(b for n, b in EXAMPLES.items() if n.endswith("onlineOrderingAPINotReady"))
    later = copy.deepcopy(not_ready) | {"lastUpdatedAt": "2025-10-04T09:45:00.000+00:00"}
    for body in (ready, later, not_ready):  # the older NOT_READY arrives last
        hook.apply(hook.post(body).json()["id"])
    kept = hook.api.store.readiness(BL)
    assert kept is not None
    assert kept["status"] == "NOT_READY"
    assert kept["lastUpdatedAt"] == "2025-10-04T09:45:00Z"
    assert kept["posStatus"]["salesPeriod"] == "CLOSED"
    hook.apply(hook.post(ready | {"lastUpdatedAt": "2025-10-04T10:00:00+00:00"}).json()["id"])
    assert hook.api.store.readiness(BL)["status"] == "READY"  # type: ignore[index]


def test_item_availability_is_recorded_and_ignored(hook: NotificationHarness) -> None:
    body = next(b for n, b in EXAMPLES.items() if n.endswith("itemRestricted"))
    note_id = hook.post(body).json()["id"]
    hook.apply(note_id)
    assert hook.api.store.notification(note_id)["payload"]["sku"] == "UGG-BB-PUR-06"  # type: ignore[index]
    assert hook.api.store.unmatched() == []
    assert hook.pending(note_id) is False


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"type": "ORDER", "status": "SUCCESS"}, "unreadable: thirdPartyReference: Field required"),
        ({"type": "TABLE", "status": "OPEN"}, "unreadable: type: Input should be"),
        ({"type": "ORDER", "status": "SUCCESS", "thirdPartyReference": "nobody"}, "no order"),
    ],
    ids=["no reference", "unknown type", "unknown order"],
)
def test_a_body_orderflow_cannot_use_gets_a_200_and_is_kept_as_unmatched_with_why(
    hook: NotificationHarness, body: dict[str, Any], reason: str
) -> None:
    response = hook.post(body)
    assert response.status_code == 200
    hook.apply(response.json()["id"])
    [parked] = hook.api.store.unmatched()
    assert parked["reason"].startswith(reason)


def test_json_that_is_not_an_object_is_a_422_and_nothing_is_recorded(
    hook: NotificationHarness,
) -> None:
    response = hook.api.http.post(
        "/webhooks/kseries", json=["not", "a", "notification"], headers={"Authorization": BASIC}
    )
    assert response.status_code == 422
    assert hook.api.notes == []
    assert hook.api.redis.dbsize() == 0

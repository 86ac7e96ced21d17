"""A fault storm hits the locations it is told to, wherever a request names its location."""

from __future__ import annotations

import pytest

from tests.sandbox.harness import BEARER, BL, Harness, local_order, on_pos, pay, payment, place

pytestmark = pytest.mark.anyio

STORMY = BL + 1


async def test_a_storm_location_is_rate_limited_by_body_path_and_query_and_others_are_not(
    kseries: Harness,
) -> None:
    account = (await on_pos(kseries, "calm-1"))["ikentooAccountIdentifier"]
    # Given a 429 storm on one location only
    await kseries.configure(storm_locations=[STORMY], storm_rate_limit_rate=1.0, retry_after_s=1)

    # When that location submits an order, looks up a sale and reads a check
    order = await place(kseries, local_order("storm-1", businessLocationId=STORMY))
    sale = await kseries.client.get(
        f"/f/finance/{STORMY}/saleByExternalReference",
        params={"reference": "x"},
        headers=BEARER,
    )
    check = await kseries.client.get(
        f"/o/op/1/order/accounts/{account}", params={"businessLocationId": STORMY}
    )

    # Then each is refused with 429 and Retry-After, and nothing was done
    assert [r.status_code for r in (order, sale, check)] == [429, 429, 429]
    assert order.headers["Retry-After"] == "1"
    ledger = await kseries.ledger()
    assert f"{STORMY}:storm-1" not in ledger["orders_accepted"]
    assert ledger["faults"] == {"storm_rate_limit": 3}

    # And another location's order and payment go through, their bodies read intact
    assert (await place(kseries, local_order("calm-2"))).json() == {"status": "ok"}
    assert (await pay(kseries, payment(account, "pay-calm", "1.65"))).status_code == 200
    assert (await kseries.ledger())["faults"] == {"storm_rate_limit": 3}


async def test_a_storm_of_server_errors_is_counted_apart_from_the_global_faults(
    kseries: Harness,
) -> None:
    await kseries.configure(storm_locations=[STORMY], storm_error_rate=1.0)

    response = await place(kseries, local_order("storm-2", businessLocationId=STORMY))

    assert response.status_code in (500, 502, 503)
    assert (await kseries.ledger())["faults"] == {"storm_error": 1}
    config = (await kseries.client.get("/_sandbox/config")).json()
    assert config["storm_locations"] == [STORMY]

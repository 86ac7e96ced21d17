"""The producer API fuzzed from its own OpenAPI description (Schemathesis, in-process over ASGI,
on fakeredis): no input is a server error, and every record it stored reads back afterwards.

Bounded (a few hundred examples, well under a minute) so it runs in every CI build; raise
FUZZ_EXAMPLES locally for a longer hunt.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.unit.api_harness import TOKEN, Harness
from worker import constants as k
from worker.order import Order, Status

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "400"))


def producer_operations(api: Harness) -> st.SearchStrategy[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app).include(path_regex="^/orders")
    return st.one_of(schema.as_strategy(mode) for mode in GenerationMode)


def stored_records(api: Harness) -> list[tuple[int, str]]:
    prefix = k.ORDER_KEY.format(bl="", ref="")[:-1]  # "orderflow:order:"
    keys = []
    for key in api.redis.scan_iter(match=prefix + "*"):
        bl, _, ref = key.removeprefix(prefix).partition(":")
        keys.append((int(bl), ref))
    return keys


def test_the_openapi_description_documents_the_submission_body() -> None:
    spec = Harness().http.get("/openapi.json").json()
    body = spec["paths"]["/orders"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["oneOf"] == [
        {"$ref": "#/components/schemas/LocalSubmission"},
        {"$ref": "#/components/schemas/ToGoSubmission"},
    ]
    order = spec["components"]["schemas"]["LocalOrder"]["properties"]
    assert order["thirdPartyReference"]["pattern"] == r"^[A-Za-z0-9_:~-][A-Za-z0-9._:~-]{0,47}$"
    assert order["maxTimeToAttemptOrderDeliverToPos"]["anyOf"][0]["maximum"] == 86_400_000


def test_fuzzing_the_producer_api_finds_no_server_error_and_no_unreadable_record() -> None:
    # Given the API on fakeredis and its own OpenAPI description
    api = Harness(max_body_bytes=256 * 1024)
    statuses: list[int] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=producer_operations(api))
    def fuzz(case: Any) -> None:
        # When any generated request (valid by the schema or not) is sent with the token
        response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
        statuses.append(response.status_code)
        # Then it is never a server error, and what is accepted is served at its statusUrl
        assert response.status_code < 500, (case.path, case.body, response.text)
        if response.status_code == 202:
            status_url = response.json()["statusUrl"]
            assert api.http.get(status_url).status_code == 200, status_url

    fuzz()
    # And the fuzz reached the store, and every record it left there reads back
    assert 202 in statuses, sorted(set(statuses))
    records = stored_records(api)
    assert records
    for bl, ref in records:
        order = api.store.get(bl, ref)
        assert isinstance(order, Order)
        assert order.status is Status.QUEUED
        assert api.http.get(f"/orders/{bl}/{ref}").status_code == 200

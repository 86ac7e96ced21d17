"""Log lines never carry customer data or secrets: the real processor chain of
`config.logging.configure_logging`, rendering JSON, on lines that carry both."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from config.logging import REDACTED, configure_logging

CUSTOMER = {
    "firstName": "Jane",
    "lastName": "Doe",
    "email": "jane@example.com",
    "contactNumberAsE164": "+14155552671",
    "notes": "ring twice",
}
ADDRESS = {"addressLine1": "12 Main Street", "zip": "94107", "city": "Springfield"}
SECRETS = ("eyJ-access", "rt-refresh", "producer-secret", "hook-secret", "client-s3cret")
PERSONAL = ("Jane", "Doe", "jane@example.com", "+14155552671", "ring twice", "Main Street")


@pytest.fixture
def lines() -> Iterator[Any]:
    """Configure logging as every process does (JSON), yield a reader of the lines it wrote,
    and put the previous logging configuration back."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("INFO", json=True)
    (handler,) = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    out = io.StringIO()
    handler.setStream(out)  # the process's stderr, here a buffer; formatter and chain untouched

    def read() -> list[dict[str, Any]]:
        return [json.loads(line) for line in out.getvalue().splitlines() if line]

    try:
        yield read
    finally:
        structlog.configure(**saved)
        root.handlers[:] = handlers
        root.setLevel(level)


def test_a_line_with_a_customer_and_tokens_keeps_its_event_and_loses_their_values(
    lines: Any,
) -> None:
    log = structlog.get_logger("test.redaction")
    log.info(
        "order.received",
        reference="shop-1",
        customerInfo=CUSTOMER,
        token=SECRETS[0],
        Authorization=f"Bearer {SECRETS[2]}",
        body={
            "order": {
                "customerInfo": CUSTOMER,
                "deliveryAddress": ADDRESS,
                "items": [{"sku": "B"}],
            },
            "grant": {"refresh_token": SECRETS[1], "client_secret": SECRETS[4]},
            "hooks": [{"password": SECRETS[3], "username": "kseries"}],
        },
    )
    (line,) = lines()
    text = json.dumps(line)
    for needle in (*PERSONAL, *SECRETS):
        assert needle not in text, needle
    # what is not sensitive is kept, so the line is still useful
    assert line["event"] == "order.received"
    assert line["reference"] == "shop-1"
    assert line["body"]["order"]["items"] == [{"sku": "B"}]
    assert line["body"]["hooks"][0]["username"] == "kseries"
    # and each sensitive value is replaced where it was, at any depth, whatever the key's case
    assert line["customerInfo"] == REDACTED
    assert line["token"] == REDACTED
    assert line["Authorization"] == REDACTED
    assert line["body"]["order"]["customerInfo"] == REDACTED
    assert line["body"]["order"]["deliveryAddress"] == REDACTED
    assert line["body"]["grant"] == {"refresh_token": REDACTED, "client_secret": REDACTED}
    assert line["body"]["hooks"][0]["password"] == REDACTED


def test_customer_fields_are_redacted_one_by_one_when_not_under_customer_info(lines: Any) -> None:
    structlog.get_logger("test.redaction").warning("webhook.odd", **CUSTOMER, **ADDRESS)
    (line,) = lines()
    for key in (*CUSTOMER, *ADDRESS):
        assert line[key] == REDACTED, key


def test_context_bound_for_a_task_is_redacted_too(lines: Any) -> None:
    structlog.contextvars.bind_contextvars(email="jane@example.com", reference="shop-1")
    try:
        structlog.get_logger("test.redaction").info("order.transition")
    finally:
        structlog.contextvars.clear_contextvars()
    (line,) = lines()
    assert line["email"] == REDACTED
    assert line["reference"] == "shop-1"

"""The ops page's "what to do" is README's: the tables and the code cannot drift apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.ops.advice import REASONS, STATUSES, advice_for
from worker.order import Status

README = Path(__file__).resolve().parents[2] / "README.md"


def table(header: str) -> list[list[str]]:
    """The rows of the README table whose header line is `header`."""
    lines = README.read_text().splitlines()
    start = lines.index(header) + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows


def test_readme_failure_reasons_table_is_the_code_s_mapping_row_for_row() -> None:
    rows = table("| failure reason | meaning | what to do |")
    code = [[a.reason, a.meaning, a.what_to_do] for a in REASONS]
    assert rows == code, "README's failure reasons changed: update worker/ops/advice.py REASONS"


def test_readme_statuses_table_is_the_code_s_mapping_row_for_row() -> None:
    rows = table("| status | meaning | what to do |")
    code = [[f"`{s}`", *STATUSES[s]] for s in Status]
    assert rows == code, "README's statuses changed: update worker/ops/advice.py STATUSES"


@pytest.mark.parametrize(
    ("reason", "row"),
    [
        ("Not processed before validity ended", 0),
        ("No devices available to handle the task, the task has been rejected.", 1),
        ("Could not add item NOPE-404 (not found)", 2),
        (
            "not sent: location not ready for online orders (sales period CLOSED) until the submit deadline",
            5,
        ),
        ("not on the POS before its delivery deadline", 6),
        ("FAILURE without a reason", 7),
        ("not confirmed: accepted by K-Series, but its sale could not be looked up (503)", 8),
        ("could not be confirmed before its delivery deadline: GET ...: ConnectError", 8),
        ("K-Series unreachable: POST /o/op/1/order/local: ReadTimeout", 9),
        ("rejected by K-Series: items[0].sku: must not be blank", 10),
        ("remainder 22.50 exceeds the allowed 2.00", 11),
        ("payment failed: timed out (TIMEOUT)", 12),
        ("payment failed (overpaid) and 3.00 is still outstanding", 13),
        ("payment failed (closed) and 3.00 is still outstanding", 13),
        ("payment not applied after 3 attempts", 12),
        ("payment rejected by K-Series: paymentAmount: too large", 14),
        ("payment pay-1 could not be verified: 503", 14),
        ("on the POS, but its check could not be read: 500", 15),
        ("check A1.1 not found on K-Series", 15),
        ("cancelled on the POS", 16),
        ("abandoned on the POS", 16),
        ("on the POS, though reported failed (Not processed before validity ended)", 17),
        ("on the POS after all (K-Series unreachable: ...)", 17),
        ("not sent: location rate-limited by K-Series (429) until the submit deadline", 18),
        ("not sent: access denied by K-Series until the submit deadline (403)", 19),
        (
            "not sent: K-Series refused our tokens; orderflow auth login until the submit deadline",
            20,
        ),
        ("stopped after 5 unexpected errors: KeyError at worker/engine.py:120", 21),
        ("not sent: no worker was free to send it before the submit deadline", 22),
    ],
)
def test_each_reason_the_lifecycle_gives_finds_its_readme_row(reason: str, row: int) -> None:
    assert advice_for(Status.FAILED, reason) is REASONS[row]


def test_an_unknown_reason_gets_what_readme_says_of_its_status() -> None:
    advice = advice_for(Status.NEEDS_ATTENTION, "something new")
    assert advice.what_to_do == STATUSES[Status.NEEDS_ATTENTION][1]
    assert advice_for(Status.FAILED, None).what_to_do == STATUSES[Status.FAILED][1]

"""What a failure reason means and what to do about it: README's tables, in one place in code.

The ops page shows these next to every `failed` and `needs_attention` order. README.md's
"failure reason" and statuses tables are the source of the wording; `tests/unit/test_ops_advice.py`
compares them with these rows, so the page and the README cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from worker.order import Status

__all__ = ["REASONS", "STATUSES", "Advice", "advice_for"]


@dataclass(frozen=True)
class Advice:
    """One row of README's failure-reasons table, and the reasons it covers."""

    reason: str  # the first column, as README writes it
    meaning: str
    what_to_do: str
    pattern: str  # a regular expression matching the reasons this row covers

    def covers(self, reason: str) -> bool:
        return re.search(self.pattern, reason) is not None


_RESUBMIT = (
    "check the location's devices are on and online ordering is enabled; "
    "resubmit under a new reference"
)
_ON_THE_POS = "look at the check on the POS; settle by hand"

REASONS: tuple[Advice, ...] = (
    Advice(
        "`Not processed before validity ended`",
        "no POS device took the order within its delivery limit",
        _RESUBMIT,
        r"^Not processed before validity ended",
    ),
    Advice(
        "`No devices available to handle the task, the task has been rejected.`",
        "no POS device connected",
        _RESUBMIT,
        r"^No devices available to handle the task",
    ),
    Advice(
        "`Could not add item X (not found)`",
        "SKU unknown at that location",
        "fix the shop's menu mapping",
        r"^Could not add item .*\(not found\)",
    ),
    Advice(
        "`the payment amount is greater than the amount due`",
        "the order's upfront payment exceeds the POS total",
        "align prices/discounts with the POS",
        r"^the payment amount is greater than the amount due",
    ),
    Advice(
        "`The specified business location doesn't accept online orders at the moment.`",
        "online ordering disabled or the location closed",
        "enable it in K-Series; resubmit",
        r"^The specified business location doesn't accept online orders",
    ),
    Advice(
        "`not sent: location not ready … until the submit deadline`",
        "K-Series said `NOT_READY` (its readiness notification, or the pre-flight) until the "
        "order's submit deadline",
        "open the location or enable online ordering; resubmit under a new reference",
        r"^not sent: location not ready",
    ),
    Advice(
        "`not on the POS before its delivery deadline`",
        "neither a notification nor the sale arrived in time",
        "check the webhook registration and the location",
        r"^not on the POS before its delivery deadline",
    ),
    Advice(
        "`FAILURE without a reason`",
        "K-Series sent an ORDER `FAILURE` notification that named no reason",
        "look the order up in K-Series' back office; resubmit under a new reference",
        r"^FAILURE without a reason$",
    ),
    Advice(
        "`not confirmed: accepted by K-Series, but its sale could not be looked up (…)`, "
        "`not confirmed: sent without a usable answer before the submit deadline, but its sale "
        "could not be looked up (…)`",
        "`needs_attention`: whether the order reached the POS could not be learnt "
        "(finance API, network or credentials down)",
        "look for the order on the POS before replaying it; a later `SUCCESS` settles it by itself",
        # and the older wording of records kept from before
        r"^not confirmed: |^could not be confirmed before its delivery deadline",
    ),
    Advice(
        "`K-Series unreachable: …`",
        "every submit try failed until the deadline",
        "check connectivity and credentials",
        r"^K-Series unreachable: ",
    ),
    Advice(
        "`rejected by K-Series: field: message`",
        "K-Series' validation refused the order",
        "fix the producer's payload",
        r"^rejected by K-Series: ",
    ),
    Advice(
        "`remainder X exceeds the allowed Y`",
        "more is outstanding than `maxAmount` allows",
        "settle on the POS by hand",
        r"^remainder \S+ exceeds the allowed ",
    ),
    Advice(
        "`payment failed: …`, `payment not applied after 3 attempts`",
        "the follow-up payment did not land",
        _ON_THE_POS,
        r"^payment failed: |^payment not applied after ",
    ),
    Advice(
        "`payment failed (overpaid) and X is still outstanding`, "
        "`payment failed (closed) and X is still outstanding`",
        "K-Series answered `OVERPAID` or `ACCOUNT_ALREADY_CLOSED`, yet the check read afterwards "
        "still shows X due",
        _ON_THE_POS,
        r"^payment failed \((overpaid|closed)\) and ",
    ),
    Advice(
        "`payment rejected by K-Series: …`, `payment … could not be verified: …`",
        "K-Series refused the follow-up payment, or it could not be checked for a whole TTL",
        _ON_THE_POS,
        r"^payment rejected by K-Series: |^payment \S+ could not be verified",
    ),
    Advice(
        "`on the POS, but its check could not be read: …`, `check X not found on K-Series`",
        "the order is on the POS but its check could not be read",
        _ON_THE_POS,
        r"^on the POS, but its check could not be read|^check \S+ not found on K-Series",
    ),
    Advice(
        "`cancelled on the POS`, `abandoned on the POS`",
        "staff cancelled or abandoned the check",
        "contact the customer",
        r"^(cancelled|abandoned) on the POS",
    ),
    Advice(
        "`on the POS, though reported failed …`, `on the POS after all …`",
        "`needs_attention`: K-Series says the order is on the POS after orderflow gave up on it "
        "(with a replay, two orders may be there)",
        "tell the shop before it refunds the customer; after a replay, cancel one of the two",
        r"^on the POS, though reported failed|^on the POS after all",
    ),
    Advice(
        "`not sent: location rate-limited by K-Series (429) until the submit deadline`",
        "K-Series answered `429` for the location until the order's submit deadline",
        "lower the location's order rate; resubmit under a new reference",
        r"^not sent: location rate-limited by K-Series",
    ),
    Advice(
        "`not sent: access denied by K-Series until the submit deadline (…)`",
        "`403` or `401`: the token has no access to the location, or was refused; or no login "
        "covers the location any more (`no K-Series login covers this business location`, "
        "after `orderflow auth logout`)",
        "fix the credentials (`orderflow auth login` for the location's business); resubmit "
        "under a new reference",
        r"^not sent: access denied by K-Series",
    ),
    Advice(
        "`not sent: K-Series refused our tokens; … until the submit deadline`",
        "the refresh token of the location's business was refused (`orderflow auth status` says "
        "`REFUSED` for it) from before the order was sent until its deadline: it never reached "
        "K-Series",
        "`orderflow auth login` for that business; resubmit under a new reference",
        r"^not sent: K-Series refused our tokens",
    ),
    Advice(
        "`stopped after … unexpected errors: …`",
        "`needs_attention`: the order's task failed 5 times within an hour with an error that is "
        "not Redis' (a bug, a record that no longer reads); `…` is the error's type and where it "
        "was raised",
        "report it with the order's history; if the record reads, `orderflow replay BL REF` once "
        "fixed",
        r"^stopped after \S+ unexpected errors",
    ),
    Advice(
        "`not sent: no worker was free to send it before the submit deadline`",
        "the order waited behind a backlog of new orders for its whole delivery limit; K-Series "
        "was never asked",
        "add workers (or CPU) for the rate you take orders at; resubmit under a new reference",
        r"^not sent: no worker was free",
    ),
)

# README's statuses table: status -> (meaning, what to do).
STATUSES: dict[Status, tuple[str, str]] = {
    Status.QUEUED: (
        "stored, being sent to K-Series (retrying if K-Series is unreachable)",
        "nothing; watch `kseries_calls`",
    ),
    Status.SUBMITTED: ("K-Series accepted it for delivery; waiting for the POS", "nothing"),
    Status.CONFIRMED: ("on the POS; reading the check", "nothing"),
    Status.SETTLING: ("a follow-up payment is under way", "nothing"),
    Status.COMPLETED: ("on the POS, nothing left to pay", "—"),
    Status.FAILED: (
        "not on the POS; `failureReason` says why",
        "fix the cause, then `orderflow replay BL REF` (new reference)",
    ),
    Status.NEEDS_ATTENTION: (
        "on the POS, but what remains was not paid automatically; "
        "or orderflow could not find out whether it is (`not confirmed: …`)",
        "settle on the POS, or `orderflow replay BL REF [--max-amount X]`; "
        "then mark it resolved by hand on the ops page",
    ),
    Status.RESOLVED: (
        "was `needs_attention`; an operator settled it on the POS and said so (ops page)",
        "—",
    ),
}


def advice_for(status: Status, reason: str | None) -> Advice:
    """The README row for this reason; for an unknown one, what README says of the status."""
    if reason:
        for row in REASONS:
            if row.covers(reason):
                return row
    meaning, what_to_do = STATUSES[status]
    return Advice(reason or "", meaning, what_to_do, pattern="$^")

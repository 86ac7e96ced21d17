"""Is an order where it should be? Judged against what K-Series really did with it.

The sandbox's ledger says, per order, whether K-Series accepted it, whether the POS took it
(`SUCCESS`) or refused it (`FAILURE`, with the reason), and which notifications reached
orderflow. From that, one status is right for each order, with the reasons it may carry:

- on the POS: the scenario's own end (`completed`, or `needs_attention` "remainder X exceeds
  the allowed 2.00");
- refused by the POS: `failed` with K-Series' reason, or with "not on the POS before its
  delivery deadline" only when no `FAILURE` notification reached orderflow (it then learns the
  order is not there by looking, after the deadline);
- whichever: `needs_attention` "not confirmed: ... could not be looked up" only when its
  history shows every lookup after the deadline failed (`MAX_LATE_LOOKUPS`) and no notification
  that would have settled it reached orderflow. Not being able to look is not knowing, and the
  lifecycle says so; such orders are listed apart, never counted as right silently.

Anything else is wrong, e.g. an order failed "K-Series unreachable" although K-Series took it,
or never reached K-Series in a 60 s window while most calls succeed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from bench.demo import Scenario
from worker.lifecycle.retries import MAX_LATE_LOOKUPS

__all__ = ["TERMINAL", "Truth", "Verdict", "judge", "truths"]

TERMINAL = {"completed", "failed", "needs_attention", "resolved"}
ON_POS_NEWS = {"SUCCESS", "CLOSED", "CHECK_WAS_UPDATED"}
NOT_ON_POS = "not on the POS before its delivery deadline"
REMAINDER = re.compile(r"remainder \d+\.\d\d exceeds the allowed \d+\.\d\d")
LATE_LOOKUP = re.compile(r"\(lookup \d+ of \d+ after the deadline\)")


@dataclass(frozen=True)
class Truth:
    """What K-Series did with one order."""

    accepted: int = 0  # times K-Series accepted the reference
    outcome: str = "NONE"  # SUCCESS, FAILURE, PENDING (POS has not decided), NONE (never sent)
    reason: str | None = None
    delivered: frozenset[str] = frozenset()  # ORDER notification statuses orderflow got (200)


@dataclass(frozen=True)
class Verdict:
    kind: Literal["right", "could_not_look", "wrong"]
    why: str = ""


def truths(ledger: dict[str, Any]) -> dict[str, Truth]:
    """The ledger's facts per order, keyed `"{businessLocationId}:{thirdPartyReference}"`."""
    delivered: dict[str, set[str]] = {}
    for note in ledger.get("notifications", []):
        payload = note.get("payload") or {}
        if payload.get("type") != "ORDER" or note.get("status") != 200:
            continue
        key = f"{payload.get('businessLocationId')}:{payload.get('thirdPartyReference')}"
        delivered.setdefault(key, set()).add(str(payload.get("status")))
    return {
        key: Truth(
            accepted=int(entry["accepted"]),
            outcome=str(entry["outcome"]),
            reason=entry.get("reason"),
            delivered=frozenset(delivered.get(key, ())),
        )
        for key, entry in ledger.get("orders", {}).items()
    }


def judge(scenario: Scenario, view: dict[str, Any] | None, truth: Truth) -> Verdict:
    """Right, right-but-could-not-look, or wrong (and why) for one order."""
    if view is None:
        return Verdict("wrong", "orderflow does not know it (lost)")
    status, reason = view["status"], view.get("failureReason") or ""
    if status not in TERMINAL:
        return Verdict("wrong", f"still {status} at the end ({view.get('history', [])[-1:]})")
    if truth.outcome in ("NONE", "PENDING"):
        what = "never reached K-Series" if truth.outcome == "NONE" else "the POS never decided"
        return Verdict("wrong", f"{what}, yet orderflow says {status} ({reason})")
    if status == "needs_attention" and reason.startswith("not confirmed:"):
        return _could_not_look(view, truth)
    if truth.outcome == "FAILURE":
        allowed = {truth.reason or ""} | (
            {NOT_ON_POS} if "FAILURE" not in truth.delivered else set()
        )
        if status == "failed" and reason in allowed:
            return Verdict("right")
        return Verdict("wrong", f"the POS refused it ({truth.reason}); expected failed")
    if status != scenario.expected:
        return Verdict("wrong", f"on the POS; expected {scenario.expected}")
    if status == "needs_attention" and not REMAINDER.fullmatch(reason):
        return Verdict("wrong", "on the POS; expected 'remainder ... exceeds the allowed ...'")
    if status == "completed" and reason:
        return Verdict("wrong", "completed with a failure reason")
    return Verdict("right")


def _late_lookups(view: dict[str, Any]) -> int:
    """Failed lookups past the deadline in the history (the last one is the give-up itself);
    a 429 past the confirm deadline counts too (its history entry has no counter)."""
    deadline = view.get("confirmDeadline")

    def late(entry: dict[str, Any]) -> bool:
        detail = entry.get("detail", "")
        if LATE_LOOKUP.search(detail):
            return True
        limited = entry.get("event") == "throttled" and "answered 429" in detail
        return limited and deadline is not None and _at(entry["at"]) >= _at(deadline)

    return sum(1 for entry in view.get("history", [])[:-1] if late(entry))


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _could_not_look(view: dict[str, Any], truth: Truth) -> Verdict:
    late = _late_lookups(view)
    settled_by = ON_POS_NEWS if truth.outcome == "SUCCESS" else {"FAILURE"}
    if news := truth.delivered & settled_by:
        return Verdict("wrong", f"{sorted(news)} reached orderflow, yet it says it could not look")
    if late < MAX_LATE_LOOKUPS - 1:
        return Verdict("wrong", f"gave up after {late + 1} lookups past the deadline")
    return Verdict("could_not_look", view.get("failureReason") or "")

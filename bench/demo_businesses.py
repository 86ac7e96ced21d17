"""`orderflow demo` on its own stack: two restaurant businesses side by side.

The sandbox knows two businesses, each owning two locations (one of them offline), refuses a
token used for the other business's location (`--require-auth`) and lets access tokens live a
few seconds, so each business's pair rotates during the run. No token is configured: each
business logs in as a restaurant would, through an authorization code bound to it and the call
`orderflow auth login --code` makes; the webhook is registered with both pairs; every scenario
runs for both, submitted interleaved. The sandbox's ledger then says, per business, which
payments were applied and whether any call went on the other business's tokens.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import httpx

from bench.demo import (
    DEMO_LOCATION,
    OFFLINE_LOCATION,
    SCENARIOS,
    DemoError,
    Plan,
    Scenario,
    run_scenarios,
    unexpected,
)
from worker.stack import Stack, StackConfig

__all__ = [
    "RESTAURANTS",
    "TOKEN_TTL_S",
    "BusinessAccount",
    "Restaurant",
    "accounts",
    "accounts_table",
    "interleaved",
    "run_side_by_side",
]

TOKEN_TTL_S = 5  # the sandbox's access-token lifetime: each pair rotates during the run
TTL_MS = 5_000  # every order's delivery limit: the offline scenarios fail within seconds


@dataclass(frozen=True)
class Restaurant:
    """A business of the demo: its online location, and one the sandbox keeps offline."""

    id: int
    name: str
    location: int
    offline_location: int

    @property
    def locations(self) -> tuple[int, int]:
        return (self.location, self.offline_location)

    def sandbox_arg(self) -> str:
        """Its `--business ID:NAME:BL,BL` for the sandbox."""
        return f"{self.id}:{self.name}:{self.location},{self.offline_location}"

    def scenario(self, scenario: Scenario) -> Scenario:
        """The scenario at this business's location (its offline one for the offline case)."""
        offline = scenario.location == OFFLINE_LOCATION
        return replace(scenario, location=self.offline_location if offline else self.location)


RESTAURANTS = (
    Restaurant(101, "Pizza One", DEMO_LOCATION, OFFLINE_LOCATION),
    Restaurant(202, "Sushi Two", 45454565687701, 45454565687799),
)


def interleaved(restaurants: Sequence[Restaurant]) -> Plan:
    """Every scenario for every business, the businesses' orders alternating."""
    return [(r.name, r.scenario(s)) for s in SCENARIOS for r in restaurants]


class LoginsOnlyStack(Stack):
    """A stack with no configured K-Series token: the businesses' logins give the only
    tokens, so the webhook is registered once they have logged in, not at start."""

    @property
    def env(self) -> dict[str, str]:
        env = super().env
        env.pop("ORDERFLOW_KSERIES_ACCESS_TOKEN", None)
        return env

    def register_webhook(self) -> None:
        """Nobody is logged in at start: `run_side_by_side` registers after the logins."""


def stack_config(restaurants: Sequence[Restaurant]) -> StackConfig:
    """A private stack, short deadlines, its sandbox holding the businesses (auth enforced)."""
    businesses = [arg for r in restaurants for arg in ("--business", r.sandbox_arg())]
    return StackConfig.private(
        pos_delay_s=0.5,
        min_ttl_ms=TTL_MS,
        sandbox_args=[
            "--require-auth",
            "--token-ttl-s",
            str(TOKEN_TTL_S),
            *businesses,
            "--offline",
            *(str(r.offline_location) for r in restaurants),
        ],
        env={
            "ORDERFLOW_WEBHOOK_WAIT_MS": "1500",
            "ORDERFLOW_CONFIRM_GRACE_MS": "2000",
            "ORDERFLOW_PAYMENT_GRACE_MS": "2000",
            "ORDERFLOW_ORDER_TTL_MS": str(TTL_MS),
            "ORDERFLOW_PAYMENT_TTL_MS": "10000",
        },
    )


def log_in(stack: Stack, restaurant: Restaurant) -> str:
    """Log the business in as its owner would: the sandbox mints a code bound to it (the
    browser step), then `orderflow auth login --code`'s own call redeems and stores it.

    Raises:
        DemoError: the sandbox gave no code, or the login failed.
    """
    from worker.kseries.auth import TokenStore
    from worker.kseries.tokens import TokenEndpoint
    from worker.oauth import log_in as redeem_and_store
    from worker.redis_client import redis_for

    try:
        minted = httpx.post(
            f"{stack.sandbox_url}/_sandbox/codes",
            params={"business_id": restaurant.id},
            timeout=10.0,
        ).raise_for_status()
        settings = stack.settings()
        store = TokenStore(redis_for(settings))
        logged = redeem_and_store(
            settings, store, minted.json()["code"], endpoint=TokenEndpoint(settings)
        )
    except Exception as exc:  # the sandbox, the token endpoint or Redis: say which
        raise DemoError(
            f"logging business {restaurant.id} in failed: {type(exc).__name__}: {exc}"
        ) from None
    if logged.login is None or logged.login.business_id != restaurant.id:
        raise DemoError(f"the login for business {restaurant.id} was stored under another one")
    locations = ", ".join(map(str, sorted(logged.login.locations)))
    return f"logged in business {restaurant.id} ({restaurant.name}): locations {locations}"


def register_webhooks(stack: Stack) -> str:
    """`orderflow webhook register`: our endpoint, with every business's tokens."""
    from worker.webhooks import WebhookSetupError, register

    try:
        return f"webhook {register(stack.settings())}"
    except WebhookSetupError as exc:
        raise DemoError(f"registering the webhook {exc}") from None


def run_side_by_side(
    log: Callable[[str], None], restaurants: Sequence[Restaurant] = RESTAURANTS
) -> tuple[list[dict[str, Any]], list[BusinessAccount]]:
    """The demo on its own stack: rows per order, and an account per business.

    Raises:
        DemoError, StackError: a step failed; the message says which.
    """
    with LoginsOnlyStack(stack_config(restaurants)) as stack:
        for restaurant in restaurants:
            log(log_in(stack, restaurant))
        log(register_webhooks(stack))
        rows = run_scenarios(stack.api_url, ttl_ms=TTL_MS, plan=interleaved(restaurants))
        ledger = httpx.get(f"{stack.sandbox_url}/_sandbox/ledger", timeout=10.0)
    return rows, accounts(restaurants, rows, ledger.raise_for_status().json())


@dataclass(frozen=True)
class BusinessAccount:
    """How one business's orders went, from its rows and the sandbox's ledger."""

    business: str
    orders: int
    as_expected: int
    statuses: dict[str, int]  # how many of its orders ended in each status
    payments: int  # follow-up payments the POS applied (`/pay`)
    paid: Decimal
    twice: int  # orders accepted or payments applied more than once
    calls: int  # location calls on this business's tokens, for its own locations
    crossed: int  # calls with its tokens for another's location, or another's for its own
    token_pairs: int  # pairs the sandbox issued it: the login, then one per rotation

    @property
    def ok(self) -> bool:
        clean = self.twice == 0 and self.crossed == 0
        return clean and self.calls > 0 and self.as_expected == self.orders


def accounts(
    restaurants: Sequence[Restaurant], rows: list[dict[str, Any]], ledger: dict[str, Any]
) -> list[BusinessAccount]:
    """One account per business (`GET /_sandbox/ledger` is the sandbox's record of calls)."""
    owner = {bl: r.id for r in restaurants for bl in r.locations}
    orders = ledger["orders"].values()
    account_owner = {o["accountIdentifier"]: owner.get(o["businessLocationId"]) for o in orders}
    applied = ledger["payment_applications"]
    found = []
    for r in restaurants:
        mine = [row for row in rows if row.get("business") == r.name]
        payments = [
            p
            for account, entries in ledger["payments"].items()
            if account_owner.get(account) == r.id
            for p in entries
        ]
        accepted_twice = sum(
            o["accepted"] > 1 for o in orders if owner.get(o["businessLocationId"]) == r.id
        )
        paid_twice = sum(applied[p["thirdPartyPaymentReference"]] > 1 for p in payments)
        uses = ledger["token_uses"]
        found.append(
            BusinessAccount(
                business=f"{r.id} {r.name}",
                orders=len(mine),
                as_expected=sum(not unexpected(row) for row in mine),
                statuses=dict(Counter(row["status"] for row in mine)),
                payments=len(payments),
                paid=sum((Decimal(p["amount"]) for p in payments), Decimal("0.00")),
                twice=accepted_twice + paid_twice,
                calls=sum(
                    u["count"]
                    for u in uses
                    if u["tokenBusinessId"] == r.id and u["locationBusinessId"] == r.id
                ),
                crossed=sum(
                    u["count"]
                    for u in uses
                    if (u["tokenBusinessId"] == r.id) != (u["locationBusinessId"] == r.id)
                ),
                token_pairs=int(ledger["tokens_issued_by_business"].get(str(r.id), 0)),
            )
        )
    return found


STATUSES = ("completed", "needs_attention", "failed")  # what the scenarios end in


def accounts_table(found: list[BusinessAccount]) -> str:
    """Per business: orders as expected, how they ended, the payments the POS applied, and
    that no call crossed over to the other business."""
    width = max(len("business"), *(len(a.business) for a in found)) + 2
    columns = ("as expected", *STATUSES, "payments", "amount", "twice", "calls")
    head = f"{'business':<{width}}" + "  ".join(f"{c:>{len(c)}}" for c in columns)
    head += "  wrong tokens  token pairs"
    lines = [head, "-" * len(head)]
    for a in found:
        other = sum(n for status, n in a.statuses.items() if status not in STATUSES)
        cells = [
            f"{a.as_expected} of {a.orders}",
            *(str(a.statuses.get(status, 0)) for status in STATUSES),
            str(a.payments),
            str(a.paid),
            str(a.twice),
            str(a.calls),
        ]
        row = f"{a.business:<{width}}" + "  ".join(
            f"{cell:>{len(c)}}" for cell, c in zip(cells, columns, strict=True)
        )
        mark = f"  <-- unexpected ({other} ended otherwise)" if other else "  <-- unexpected"
        lines.append(f"{row}  {a.crossed:>12}  {a.token_pairs:>11}{'' if a.ok else mark}")
    lines += [
        "payments, amount: follow-up payments the POS applied for its orders; twice: orders",
        "accepted or payments applied more than once; calls: K-Series calls for its locations on",
        "its own tokens; wrong tokens: calls on another business's tokens for its locations, or",
        "on its tokens for another's (the sandbox answers those 403); token pairs: issued to it",
        f"(its login, then one per rotation: access tokens live {TOKEN_TTL_S} s here)",
    ]
    return "\n".join(lines)

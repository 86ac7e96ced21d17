"""What the chaos run does and when: the orders, the stack's settings, the faults, the timeline.

Every orderflow setting is at its product default (timer lease 5 s, sweep every 0.5 s, webhook
wait 3 s, polls 1 s doubling to 30 s, 30 s grace after each deadline) except the delivery limit
and the payment TTL: 60 s each, K-Series' minimum, the tightest a deployment can run with.
"""

from __future__ import annotations

from dataclasses import replace

from bench.demo import SCENARIOS, Scenario

__all__ = [
    "DELIVERY_LIMIT_MS",
    "FAULTS",
    "FIRST_LOCATION",
    "LOCATIONS",
    "MIX",
    "RATE",
    "RECOVERY_TARGET_S",
    "STORM",
    "STORM_LOCATIONS",
    "TIMELINE",
    "scenario_for",
]

FIRST_LOCATION = 880_000_000_000_000
LOCATIONS = 20
RATE = 20.0  # orders submitted per second
DELIVERY_LIMIT_MS = 60_000  # K-Series' minimum; also the payments' TTL
MIX = {"remainder settled": 6, "fully paid": 2, "unknown SKU": 1, "remainder above maxAmount": 1}

# On every K-Series call: 10 % 5xx, 10 % 429, 10 % answers lost after K-Series acted; webhooks
# dropped, duplicated, reordered and delayed.
FAULTS = {
    "error_rate": 0.10,
    "rate_limit_rate": 0.10,
    "retry_after_s": 1,
    "lost_answer_rate": 0.10,
    "lost_answer_mode": "mixed",
    "webhook_drop_rate": 0.10,
    "webhook_duplicate_rate": 0.20,
    "webhook_reorder_rate": 0.20,
    "webhook_delay_s": 0.5,
}
# A storm on 2 of the 20 locations, on top: 25 % more of their calls fail, a third of those 429
# (`Retry-After: 1`), for a stretch of the run.
STORM_LOCATIONS = (FIRST_LOCATION, FIRST_LOCATION + 1)
STORM = {"storm_rate_limit_rate": 0.25 / 3, "storm_error_rate": 0.25 * 2 / 3}

# When each fault starts, as the share of orders the API has accepted (`202`).
TIMELINE = {
    "storm starts": 0.10,
    "worker SIGKILL 1": 0.25,
    "sweeper SIGKILL": 0.35,  # sweeper-1 stays dead until after the second worker kill
    "Redis SIGKILL": 0.45,
    "worker SIGKILL 2": 0.65,
}
RECOVERY_TARGET_S = 10.0  # two leases: whatever a dead process held moves again by then


def scenario_for(index: int) -> Scenario:
    """The demo scenario of the `index`-th order (`MIX`), at its location: every location
    gets every scenario (the storm locations too), each location as many orders."""
    wheel = [name for name, weight in MIX.items() for _ in range(weight)]
    name = wheel[index % len(wheel)]
    scenario = next(s for s in SCENARIOS if s.name == name)
    location = (index + index // len(wheel)) % LOCATIONS
    return replace(scenario, location=FIRST_LOCATION + location)

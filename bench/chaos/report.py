"""The chaos run's findings, and the table `orderflow chaos` prints."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.chaos.plan import DELIVERY_LIMIT_MS, LOCATIONS, RECOVERY_TARGET_S, STORM_LOCATIONS

__all__ = ["ChaosReport", "SweeperKill"]


@dataclass
class SweeperKill:
    """One of two sweepers SIGKILLed: how the other carried on alone."""

    watched: int = 0  # orders whose timers came due in the window after the kill
    unmoved: int = 0  # of them, not moved within the budget
    first_move_s: float = 0.0  # kill -> the first of them moved
    worst_lateness_s: float = 0.0  # the latest one: moved this long after it was due


@dataclass
class ChaosReport:
    orders: int = 0
    lease_ms: int = 0
    accepted_by_api: int = 0
    refused_by_api: dict[str, int] = field(default_factory=dict)  # "401 ..." -> orders
    lost: int = 0
    accepted_twice: int = 0
    payments_applied_twice: int = 0
    checks_overpaid: int = 0
    settled_not_fully_paid: int = 0
    wrong_status: list[str] = field(default_factory=list)
    could_not_look: list[str] = field(default_factory=list)  # right, and said so: see verdict
    statuses: dict[str, int] = field(default_factory=dict)
    storm_statuses: dict[str, int] = field(default_factory=dict)
    kill_recovery_s: list[float] = field(default_factory=list)
    kill_watched: list[int] = field(default_factory=list)  # orders due at each worker kill
    sweeper_kill: SweeperKill = field(default_factory=SweeperKill)
    died: list[str] = field(default_factory=list)  # processes that exited unbidden
    redis_down_s: float = 0.0
    api_503s: int = 0
    wall_s: float = 0.0
    faults_injected: dict[str, int] = field(default_factory=dict)
    notifications_sent: int = 0

    @property
    def recovered_in_time(self) -> bool:
        sweeper = self.sweeper_kill
        return (
            all(s <= RECOVERY_TARGET_S for s in self.kill_recovery_s)
            and sweeper.unmoved == 0
            and sweeper.worst_lateness_s <= RECOVERY_TARGET_S
        )

    @property
    def ok(self) -> bool:
        return (
            self.accepted_by_api == self.orders
            and not (
                self.lost
                or self.accepted_twice
                or self.payments_applied_twice
                or self.checks_overpaid
                or self.settled_not_fully_paid
                or self.wrong_status
                or self.died
            )
            and self.recovered_in_time
        )

    def lines(self) -> list[str]:
        sweeper = self.sweeper_kill
        storm = len(STORM_LOCATIONS)
        refused = f" (refused: {self.refused_by_api})" if self.refused_by_api else ""
        return [
            f"settings                      timer lease {self.lease_ms / 1000:g} s, delivery "
            f"limit {DELIVERY_LIMIT_MS / 1000:g} s, everything else at its default",
            f"orders submitted (202)        {self.accepted_by_api} of {self.orders}{refused}",
            f"orders lost                   {self.lost}",
            f"orders accepted twice         {self.accepted_twice}",
            f"payments applied twice        {self.payments_applied_twice}",
            f"checks over-paid              {self.checks_overpaid}",
            f"settled checks not fully paid {self.settled_not_fully_paid}",
            f"orders in a wrong status      {len(self.wrong_status)}",
            f"needs_attention, K-Series could not be looked up (right under these faults) "
            f"{len(self.could_not_look)}",
            f"terminal statuses             {dict(sorted(self.statuses.items()))}",
            f"  on the {storm} storm locations {dict(sorted(self.storm_statuses.items()))}",
            "worker SIGKILL (1 of 2)       orders due then, unmoved when looked at after the kill, "
            "all moved again within: "
            + ", ".join(
                f"{s:.1f} s ({n} orders)"
                for s, n in zip(self.kill_recovery_s, self.kill_watched, strict=False)
            )
            + f" (target {RECOVERY_TARGET_S:g} s)",
            f"sweeper SIGKILL (1 of 2)      the other alone: first move {sweeper.first_move_s:.1f} s"
            f" after the kill; {sweeper.watched} orders due in the next 5 s moved at most "
            f"{sweeper.worst_lateness_s:.1f} s late, {sweeper.unmoved} never",
            f"Redis SIGKILL                 down {self.redis_down_s:.1f} s "
            f"(API answered 503 {self.api_503s} times)",
            f"processes that died unbidden  {len(self.died)}",
            *(f"  {line}" for line in self.died),
            f"faults injected by K-Series   {dict(sorted(self.faults_injected.items()))} "
            f"(storm_*: {storm} of {LOCATIONS} locations)",
            f"notifications sent            {self.notifications_sent}",
            f"wall time                     {self.wall_s:.1f} s",
        ]

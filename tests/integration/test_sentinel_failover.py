"""Losing the Redis primary mid-run: a primary, a replica and three sentinels (Debian's
`redis-server` / `redis-sentinel`) on loopback, the whole stack on top through
ORDERFLOW_REDIS_SENTINELS, 300 orders in flight and the primary SIGKILLed at 40 % of them
(`bench.failover`, which also restarts the lost node as a replica, as a supervisor would).

Skipped only where no sentinel can be started (`.ci/run` installs `redis-sentinel`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.failover import run_failover
from bench.sentinels import find_redis_sentinel

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        find_redis_sentinel() is None,
        reason="no redis-sentinel (Debian's `redis-sentinel` package) nor a redis-server to run "
        "in sentinel mode: `apt-get install redis-sentinel`",
    ),
]


@pytest.mark.timeout(300)
def test_killing_the_primary_loses_no_accepted_order_and_pays_nothing_twice(
    tmp_path: Path,
) -> None:
    # Given 300 orders of every demo scenario sent at 25/s through the API (producers resend
    # until 202), when the Redis primary is SIGKILLed at 40 % of them,
    report = run_failover(300, workdir=tmp_path, rate=25.0, kill_at=0.4)
    print("\n" + "\n".join(report.lines()))
    # then every order that got 202 is there and ended where its scenario says,
    assert report.accepted == 300
    assert report.lost == []
    assert report.wrong_status == []
    # K-Series saw each order and each payment once, and no check was paid twice,
    assert report.accepted_twice == 0
    assert report.payments_applied_twice == 0
    assert report.checks_overpaid == 0
    # the sentinels promoted the replica, and orders under way moved again on it by themselves
    # (no process was restarted), within seconds.
    assert report.failover_s < 15
    assert report.first_move_s is not None
    assert report.first_move_s < 20
    assert report.all_moved_s is not None
    assert report.all_moved_s < 30
    assert report.accepting_again_s is not None

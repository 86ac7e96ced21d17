"""docker-compose.sentinel.yml: how a Redis node decides its role when it starts, run as compose
runs it (`sh -c`) with a stand-in `redis-cli` answering for the sentinels and a stand-in
`redis-server` that prints what it was asked to be. (The real run: scripts/compose-check
--sentinel, which kills the primary's container and starts it again.)"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BASE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SENTINEL: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.sentinel.yml").read_text())
SENTINELS = ("sentinel-1", "sentinel-2", "sentinel-3")

# `redis-cli -h HOST ...`: the primary's name (then its port) from a sentinel that is up, as
# `--raw` prints it; a sentinel that is not up fails the way a name that does not resolve does.
FAKE_REDIS_CLI = """#!/bin/sh
host=""
while [ $# -gt 0 ]; do [ "$1" = -h ] && host="$2"; shift; done
case " $SENTINELS_UP " in
  *" $host "*) [ -n "$PRIMARY" ] && printf '%s\\n6379\\n' "$PRIMARY"; exit 0 ;;
  *) echo "Could not connect to Redis at $host:26379: Name or service not known" >&2; exit 1 ;;
esac
"""
FAKE_REDIS_SERVER = '#!/bin/sh\necho "$@"\n'


def start(tmp_path: Path, node: str, *, up: tuple[str, ...] = (), primary: str = "") -> str:
    """The arguments the node's command starts redis-server with."""
    service = SENTINEL["services"][node]
    command = service["command"]
    assert command[:2] == ["sh", "-c"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in (("redis-cli", FAKE_REDIS_CLI), ("redis-server", FAKE_REDIS_SERVER)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "SENTINELS_UP": " ".join(up),
        "PRIMARY": primary,
        **service["environment"],
    }
    script = command[2].replace("$$", "$")  # compose's escape for a literal `$`
    done = subprocess.run(
        ["sh", "-c", script], env=env, capture_output=True, text=True, check=True, timeout=10
    )
    return done.stdout.strip().splitlines()[-1]


def test_on_the_first_start_redis_is_the_primary_and_redis_replica_its_replica(
    tmp_path: Path,
) -> None:
    assert "--replicaof" not in start(tmp_path, "redis")
    assert "--replicaof redis 6379" in start(tmp_path, "redis-replica")


def test_the_old_primary_started_after_a_failover_rejoins_as_the_new_primarys_replica(
    tmp_path: Path,
) -> None:
    args = start(tmp_path, "redis", up=SENTINELS, primary="redis-replica")

    assert "--replicaof redis-replica 6379" in args


def test_a_node_comes_back_as_the_primary_when_the_sentinels_still_name_it(
    tmp_path: Path,
) -> None:
    # a crash restarted before the sentinels failed over; and the promoted node restarting
    assert "--replicaof" not in start(tmp_path, "redis", up=SENTINELS, primary="redis")
    promoted = start(tmp_path, "redis-replica", up=("sentinel-3",), primary="redis-replica")
    assert "--replicaof" not in promoted


@pytest.mark.parametrize("node", ["redis", "redis-replica"])
def test_every_node_announces_its_service_name_keeps_an_aof_and_accepts_other_containers(
    tmp_path: Path, node: str
) -> None:
    args = start(tmp_path, node)

    assert f"--replica-announce-ip {node}" in args
    assert "--appendonly yes" in args
    assert "--protected-mode no" in args


def test_every_orderflow_service_reaches_redis_and_the_broker_through_the_sentinels() -> None:
    uses_redis = [
        name
        for name, service in BASE["services"].items()
        if "build" in service and name != "sandbox"  # the sandbox keeps no state in Redis
    ]

    for name in uses_redis:
        env = SENTINEL["services"][name]["environment"]
        assert env["ORDERFLOW_REDIS_SENTINELS"] == ",".join(f"{s}:26379" for s in SENTINELS)
        assert env["ORDERFLOW_REDIS_SENTINEL_MASTER"] == "orderflow"

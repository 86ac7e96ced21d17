"""A Redis primary, its replicas and three sentinels on loopback, as processes (Debian's
`redis-server` and `redis-sentinel`), for the failover test and the WAIT latency measurement.

Every node has its own port, directory and config file in `workdir` (Sentinel rewrites its own
file, and a promoted replica rewrites its one). The data nodes keep an AOF (`everysec`) and
sync replicas without touching disk, so a replica (re)joins in well under a second.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import redis

from worker.stack import find_redis_server, free_port

__all__ = ["Topology", "find_redis_sentinel"]

HOST = "127.0.0.1"
START_TIMEOUT_S = 20.0


def find_redis_sentinel() -> list[str] | None:
    """How to start a sentinel: Debian's `redis-sentinel`, else any redis-server (the same
    program) with `--sentinel` after its config file; None when there is neither."""
    found = shutil.which("redis-sentinel") or (
        "/usr/bin/redis-sentinel" if Path("/usr/bin/redis-sentinel").exists() else None
    )
    if found:
        return [found]
    try:
        return [find_redis_server(), "--sentinel"]
    except RuntimeError:
        return None


def _wait(what: str, ready: Callable[[], bool], timeout_s: float = START_TIMEOUT_S) -> float:
    """Seconds until `ready()` held; RuntimeError naming `what` after `timeout_s`."""
    started = time.monotonic()
    while True:
        try:
            if ready():
                return time.monotonic() - started
        except redis.RedisError:
            pass
        if time.monotonic() - started > timeout_s:
            raise RuntimeError(f"{what} within {timeout_s} s")
        time.sleep(0.05)


@dataclass
class Topology:
    """`replicas` replicas of a primary, watched by `sentinels` sentinels under `master`."""

    workdir: Path
    replicas: int = 1
    sentinels: int = 3
    master: str = "orderflow"
    down_after_ms: int = 1_000
    failover_timeout_ms: int = 3_000
    data_ports: list[int] = field(default_factory=list)
    sentinel_ports: list[int] = field(default_factory=list)
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    _logs: list[IO[bytes]] = field(default_factory=list)
    _clients: dict[int, redis.Redis] = field(default_factory=dict)

    # --- addresses ----------------------------------------------------------------------------

    @property
    def sentinel_list(self) -> str:
        """ORDERFLOW_REDIS_SENTINELS for this topology."""
        return ",".join(f"{HOST}:{port}" for port in self.sentinel_ports)

    @property
    def redis_url(self) -> str:
        """ORDERFLOW_REDIS_URL: the database (the sentinels give the address)."""
        return f"redis://{HOST}:{self.data_ports[0]}/0"

    def node(self, port: int) -> redis.Redis:
        """A client of one node (kept, closed in `stop`)."""
        if port not in self._clients:
            self._clients[port] = redis.Redis(
                HOST, port, socket_timeout=2, socket_connect_timeout=1
            )
        return self._clients[port]

    def named_by(self, sentinel: int) -> int | None:
        """The primary's port as one sentinel names it."""
        address = self.node(sentinel).sentinel_get_master_addr_by_name(self.master)
        return int(cast(tuple[str, int], address)[1]) if address else None

    def primary_port(self) -> int:
        """The primary's port as the sentinels' majority names it now."""
        named = []
        for port in self.sentinel_ports:
            try:
                address = self.named_by(port)
            except redis.RedisError:
                continue
            if address is not None:
                named.append(address)
        if not named:
            raise RuntimeError("no sentinel names a primary")
        return max(set(named), key=named.count)

    # --- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> Topology:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        self.data_ports = [free_port() for _ in range(1 + self.replicas)]
        self.sentinel_ports = [free_port() for _ in range(self.sentinels)]
        primary = self.data_ports[0]
        self.start_data(primary)
        for port in self.data_ports[1:]:
            self.start_data(port, replica_of=primary)
        _wait("the replicas did not sync", lambda: self.synced(primary) >= self.replicas)
        for port in self.sentinel_ports:
            self.start_sentinel(port, primary)
        _wait("the sentinels did not see each other and the replicas", self._watching)

    def stop(self) -> None:
        for port in list(self.processes):
            self.kill(port, signal.SIGTERM)
        for handle in self._logs:
            handle.close()
        self._logs.clear()
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def kill(self, port: int, sig: int = signal.SIGKILL) -> None:
        """Stop one node (SIGKILL: as if its machine were lost)."""
        process = self.processes.pop(port, None)
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def start_data(self, port: int, replica_of: int | None = None) -> None:
        """A data node; `replica_of`: as a replica of that port (a lost node coming back as a
        replica of the current primary, as an entrypoint that asks Sentinel first would)."""
        directory = self.workdir / f"redis-{port}"
        directory.mkdir(parents=True, exist_ok=True)
        lines = [
            f"port {port}",
            f"bind {HOST}",
            f"dir {directory}",
            "protected-mode no",
            "appendonly yes",
            "appendfsync everysec",
            'save ""',
            "repl-diskless-sync yes",
            "repl-diskless-sync-delay 0",
        ]
        if replica_of is not None:
            lines.append(f"replicaof {HOST} {replica_of}")
        config = directory / "redis.conf"
        config.write_text("\n".join(lines) + "\n")
        self._spawn(port, [find_redis_server(), str(config)], f"redis-{port}.log")
        _wait(f"redis-server on {port} did not start", lambda: bool(self.node(port).ping()))

    def start_sentinel(self, port: int, primary: int) -> None:
        directory = self.workdir / f"sentinel-{port}"
        directory.mkdir(parents=True, exist_ok=True)
        quorum = self.sentinels // 2 + 1
        config = directory / "sentinel.conf"
        config.write_text(
            "\n".join(
                [
                    f"port {port}",
                    f"bind {HOST}",
                    f"dir {directory}",
                    "protected-mode no",
                    f"sentinel monitor {self.master} {HOST} {primary} {quorum}",
                    f"sentinel down-after-milliseconds {self.master} {self.down_after_ms}",
                    f"sentinel failover-timeout {self.master} {self.failover_timeout_ms}",
                    f"sentinel parallel-syncs {self.master} 1",
                ]
            )
            + "\n"
        )
        command = find_redis_sentinel()
        if command is None:
            raise RuntimeError("no redis-sentinel: install Debian's redis-sentinel")
        binary, *flags = command
        self._spawn(port, [binary, str(config), *flags], f"sentinel-{port}.log")
        _wait(f"redis-sentinel on {port} did not start", lambda: bool(self.node(port).ping()))

    # --- what the nodes say -------------------------------------------------------------------

    def synced(self, primary: int) -> int:
        """Replicas of `primary` that are online and caught up with it."""
        info = self.node(primary).info("replication")
        offset = int(info.get("master_repl_offset", 0))
        online = [
            value
            for name, value in info.items()
            if name.startswith("slave") and isinstance(value, dict)
        ]
        return sum(1 for r in online if r.get("state") == "online" and r["offset"] >= offset)

    def replicating(self, port: int) -> bool:
        """The node on `port` is a replica whose link to its primary is up (synced)."""
        info = self.node(port).info("replication")
        return bool(info["role"] == "slave" and info.get("master_link_status") == "up")

    def _watching(self) -> bool:
        for port in self.sentinel_ports:
            state = cast(dict[str, Any], self.node(port).sentinel_master(self.master))
            if int(state["num-other-sentinels"]) < self.sentinels - 1:
                return False
            if int(state["num-slaves"]) < self.replicas:
                return False
        return True

    def wait_failover(self, old: int, timeout_s: float = 30.0) -> float:
        """Seconds until every sentinel names a primary other than `old`, and it acts as one."""

        def switched() -> bool:
            named = {self.named_by(port) for port in self.sentinel_ports}
            if len(named) != 1 or old in named or None in named:
                return False
            port = cast(int, named.pop())
            return bool(self.node(port).info("replication")["role"] == "master")

        return _wait("no failover", switched, timeout_s)

    def _spawn(self, port: int, argv: list[str], log_name: str) -> None:
        handle = open(self.workdir / log_name, "ab")  # noqa: SIM115 -- closed in stop()
        self._logs.append(handle)
        self.processes[port] = subprocess.Popen(
            argv, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )

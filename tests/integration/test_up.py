"""`orderflow up` starts everything wired together, and Ctrl-C stops everything."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from worker.stack import free_port

pytestmark = pytest.mark.integration


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _status(url: str) -> int:
    try:
        return httpx.get(url, headers={"Authorization": "Bearer x"}).status_code
    except httpx.HTTPError:
        return 0


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(
    "sigint",
    [
        "inherited as default",
        # a job a non-interactive shell started in the background (`cmd &`, nohup): Python
        # then installs no Ctrl-C handler of its own, and `up` must
        "inherited as ignored",
    ],
)
def test_up_serves_the_whole_stack_and_ctrl_c_stops_all_of_it(sigint: str) -> None:
    api, sandbox, flower = free_port(), free_port(), free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "worker.cli",
            "up",
            "--api-port",
            str(api),
            "--sandbox-port",
            str(sandbox),
            "--flower-port",
            str(flower),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=_ignore_sigint if sigint == "inherited as ignored" else None,  # noqa: PLW1509
        env={k: v for k, v in __import__("os").environ.items() if not k.startswith("ORDERFLOW_")}
        | {
            "ORDERFLOW_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"
        },  # nothing there: embedded Redis
    )
    try:
        deadline = time.monotonic() + 60
        registered = f"http://127.0.0.1:{sandbox}/o/wh/1/webhook/orderflow"
        while time.monotonic() < deadline:  # up prints its table once the webhook is registered
            if listening(flower) and listening(api) and _status(registered) == 200:
                break
            time.sleep(0.2)
        assert httpx.get(f"http://127.0.0.1:{api}/readyz").json() == {"status": "ready"}
        assert _status(registered) == 200
    finally:
        process.send_signal(signal.SIGINT)
        try:
            out, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            # Fail, but leave no stack behind: SIGTERM stops it the other way (its children
            # run in sessions of their own, out of reach of a kill of this one).
            process.terminate()
            process.communicate(timeout=60)
            raise
    assert process.returncode == 0, out.decode()[-2000:]
    assert b"stopping" in out
    redis_port = int(out.decode().split("redis://127.0.0.1:")[1].split("/")[0])
    assert not any(listening(p) for p in (api, sandbox, flower, redis_port))

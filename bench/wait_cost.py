"""What waiting for a replica costs `POST /orders`: latency with and without Redis WAIT.

Three API processes share one primary + replica (+ three sentinels, `bench.sentinels`): one on
the primary's address without Sentinel or WAIT (the single-node baseline), one through Sentinel
without WAIT (`ORDERFLOW_REDIS_WAIT_REPLICAS=0`), one through Sentinel with it (`=1`). Requests
go to them in turn, one at a time and then from 16 threads, so drift on a shared machine falls
on all three alike. No worker runs: only the API's path is measured (validate, store, enqueue,
and the WAIT). `python -m bench.wait_cost [REQUESTS]` prints p50/p99 per variant.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from bench.demo import SCENARIOS, scenario_body
from bench.sentinels import Topology
from worker.stack import free_port

__all__ = ["measure"]

TOKEN = "wait-cost-token"  # noqa: S105 -- a private API's producer token
ROOT = Path(__file__).resolve().parents[1]
# name -> (through Sentinel, ORDERFLOW_REDIS_WAIT_REPLICAS)
VARIANTS = {
    "one Redis, no WAIT": (False, "0"),
    "Sentinel, no WAIT": (True, "0"),
    "Sentinel, WAIT 1 replica": (True, "1"),
}


def _api(
    topology: Topology, workdir: Path, sentinels: bool, wait: str
) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERFLOW_")}
    env |= {
        "ORDERFLOW_REDIS_URL": topology.redis_url,
        "ORDERFLOW_REDIS_WAIT_REPLICAS": wait,
        "ORDERFLOW_API_TOKEN": TOKEN,
        "ORDERFLOW_KSERIES_ACCESS_TOKEN": "unused",  # a configured token covers every location
        "PYTHONPATH": str(ROOT),
    }
    if sentinels:
        env["ORDERFLOW_REDIS_SENTINELS"] = topology.sentinel_list
    log = open(workdir / f"api-{port}.log", "ab")  # noqa: SIM115 -- lives as long as the API
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "worker.api:build_app", "--factory"),
            *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
        ],
        env=env,
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return url, process
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the API did not start: see {workdir}")


def _post(http: httpx.Client, url: str, index: int) -> float:
    body = scenario_body(SCENARIOS[index % 4], reference=f"cost-{uuid.uuid4().hex[:12]}")
    started = time.perf_counter()
    response = http.post(f"{url}/orders", json=body)
    elapsed = time.perf_counter() - started
    if response.status_code != 202:
        raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")
    return elapsed * 1000


def measure(requests: int = 1000, threads: int = 16) -> dict[str, dict[str, float]]:
    """p50/p99 in ms per variant, sequential and with `threads` at once."""
    workdir = Path(tempfile.mkdtemp(prefix="orderflow-wait-cost-"))
    results: dict[str, dict[str, float]] = {}
    with Topology(workdir / "redis") as topology:
        apis = {name: _api(topology, workdir, *variant) for name, variant in VARIANTS.items()}
        try:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            with httpx.Client(headers=headers, timeout=10) as http:
                for url, _ in apis.values():
                    for i in range(50):  # warm up: connections, imports, Lua scripts
                        _post(http, url, i)
                sequential: dict[str, list[float]] = {name: [] for name in apis}
                for i in range(requests):
                    for name, (url, _) in apis.items():
                        sequential[name].append(_post(http, url, i))
                # all three at once, interleaved: each sees the same contention
                jobs = [(name, i) for i in range(requests) for name in apis]
                with ThreadPoolExecutor(threads) as pool:
                    timings = list(pool.map(lambda j: _post(http, apis[j[0]][0], j[1]), jobs))
                parallel: dict[str, list[float]] = {name: [] for name in apis}
                for (name, _), ms in zip(jobs, timings, strict=True):
                    parallel[name].append(ms)
            for name in apis:
                seq, par = np.array(sequential[name]), np.array(parallel[name])
                results[name] = {
                    "p50": float(np.percentile(seq, 50)),
                    "p99": float(np.percentile(seq, 99)),
                    f"p50 x{threads}": float(np.percentile(par, 50)),
                    f"p99 x{threads}": float(np.percentile(par, 99)),
                }
        finally:
            for _, process in apis.values():
                process.terminate()
                process.wait(10)
    return results


def table(results: dict[str, dict[str, float]]) -> str:
    columns = list(next(iter(results.values())))
    lines = [f"{'POST /orders latency (ms)':<28}" + "".join(f"{c:>12}" for c in columns)]
    for name, row in results.items():
        lines.append(f"{name:<28}" + "".join(f"{row[c]:>12.2f}" for c in columns))
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)))

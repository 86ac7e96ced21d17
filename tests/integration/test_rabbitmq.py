"""RabbitMQ as the Celery broker (`ORDERFLOW_BROKER_URL=amqp://...`), against Debian's real
`rabbitmq-server`: the broker only carries messages, orders and timers stay in Redis, webhooks go
ahead of a backlog of submissions, and a worker killed mid-run loses nothing.

The broker runs from the test on free ports with its own epmd, node name, data and log
directories, so it touches no system RabbitMQ. Where `rabbitmq-server` is not installed the
module is skipped (`.ci/run` installs it).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from kombu import Connection, Consumer, Message

from bench.demo import SCENARIOS, run_scenarios, scenario_body
from config.celery import send_options
from config.queues import (
    ADVANCE_TASK,
    EVENT_QUEUE,
    NEW_QUEUE,
    NOTIFICATION_TASK,
    QUEUE,
    WORKER_QUEUES,
)
from config.settings import Settings
from tests.integration.conftest import FAST_ENV, fast_stack_config
from tests.integration.helpers import TERMINAL, wait_terminal
from worker.celery import create_app
from worker.stack import Stack, free_port

pytestmark = pytest.mark.integration

# Debian's server script itself: /usr/sbin/rabbitmq-server would switch to the `rabbitmq` user.
DEBIAN_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
START_TIMEOUT_S = 90.0
TOKEN = FAST_ENV["ORDERFLOW_API_TOKEN"]


def _server_binary() -> str | None:
    if DEBIAN_SERVER.exists():
        return str(DEBIAN_SERVER)
    return shutil.which("rabbitmq-server")


def _answers(url: str) -> bool:
    try:
        with Connection(url, connect_timeout=1) as conn:
            conn.ensure_connection(max_retries=1)
        return True
    except Exception:
        return False


def _stop_group(process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM our own process group (the server script, beam and its helpers), then SIGKILL."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


@pytest.fixture(scope="module")
def rabbitmq_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private RabbitMQ node for this module: `amqp://guest:guest@127.0.0.1:PORT//`."""
    server, epmd = _server_binary(), shutil.which("epmd")
    if server is None or epmd is None:
        pytest.skip(
            "rabbitmq-server is not installed (Debian: apt-get install rabbitmq-server; "
            ".ci/run installs it)"
        )
    home = tmp_path_factory.mktemp("rabbitmq")
    node_port, dist_port, epmd_port = free_port(), free_port(), free_port()
    (home / "enabled_plugins").write_text("[].\n")
    (home / "rabbitmq-env.conf").write_text("")
    env = {
        **os.environ,
        "HOME": str(home),  # its Erlang cookie
        "ERL_EPMD_PORT": str(epmd_port),
        "RABBITMQ_CONF_ENV_FILE": str(home / "rabbitmq-env.conf"),
        "RABBITMQ_CONFIG_FILE": str(home / "rabbitmq"),  # none: defaults
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(home / "advanced.config"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(home / "enabled_plugins"),
        "RABBITMQ_NODENAME": f"orderflow-test-{node_port}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(node_port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_MNESIA_BASE": str(home / "mnesia"),
        "RABBITMQ_LOG_BASE": str(home / "log"),
    }
    log = (home / "server.out").open("wb")
    epmd_process = subprocess.Popen(
        [epmd, "-port", str(epmd_port), "-address", "127.0.0.1"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    rabbit = subprocess.Popen(
        [server], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"amqp://guest:guest@127.0.0.1:{node_port}//"
    try:
        started = time.monotonic()
        while not _answers(url):
            if rabbit.poll() is not None or time.monotonic() - started > START_TIMEOUT_S:
                tail = (home / "server.out").read_text(errors="replace")[-3000:]
                pytest.fail(f"rabbitmq-server did not start ({rabbit.poll()}):\n{tail}")
            time.sleep(0.2)
        print(f"\nrabbitmq-server up in {time.monotonic() - started:.1f}s on {node_port}")
        yield url
    finally:
        _stop_group(rabbit)
        _stop_group(epmd_process, timeout=5)
        log.close()


@pytest.fixture(scope="module")
def rabbit_stack(rabbitmq_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The real stack (Redis, sandbox, Celery worker + sweeper, API) with RabbitMQ as broker."""
    config = fast_stack_config(env=FAST_ENV | {"ORDERFLOW_BROKER_URL": rabbitmq_url})
    with Stack(config, tmp_path_factory.mktemp("rabbit-stack")) as running:
        yield running


def _ledger(stack: Stack) -> dict[str, Any]:
    return dict(httpx.get(f"{stack.sandbox_url}/_sandbox/ledger", timeout=10).json())


def _assert_exactly_once(stack: Stack) -> None:
    ledger = _ledger(stack)
    assert [key for key, n in ledger["orders_accepted"].items() if n > 1] == []
    assert [key for key, n in ledger["payment_applications"].items() if n > 1] == []


def test_webhooks_and_work_under_way_go_ahead_of_new_submissions_on_rabbitmq(
    rabbitmq_url: str,
) -> None:
    app = create_app(Settings(broker_url=rabbitmq_url))

    def send(task: str, queue: str, *args: object) -> None:  # as worker.celery's senders do
        app.send_task(task, args=args, **send_options(rabbitmq_url, queue))

    queues = [app.amqp.queues.select_add(name) for name in WORKER_QUEUES]
    held: list[Message] = []

    def on_message(_body: object, message: Message) -> None:
        held.append(message)

    with Connection(rabbitmq_url) as conn:
        for queue in queues:
            queue.bind(conn.default_channel).declare()
            queue.bind(conn.default_channel).purge()
        # A consumer configured like a worker (one prefetch for the channel, as Celery sets it
        # on RabbitMQ), busy with one submission,
        consumer = Consumer(conn, queues=queues, callbacks=[on_message], accept=["json"])
        consumer.qos(prefetch_count=1, apply_global=True)
        with consumer:
            send(ADVANCE_TASK, NEW_QUEUE, 1, "busy")
            conn.drain_events(timeout=10)
            # Given 20 new submissions waiting, then a poll due, then two webhooks
            for i in range(20):
                send(ADVANCE_TASK, NEW_QUEUE, 1, f"new-{i}")
            send(ADVANCE_TASK, QUEUE, 1, "under-way")
            for note in ("note-1", "note-2"):
                send(NOTIFICATION_TASK, EVENT_QUEUE, note)
            # When the worker finishes its task and takes the next four, one at a time
            taken = []
            while len(taken) < 4:
                held[-1].ack()
                conn.drain_events(timeout=10)
                taken.append((held[-1].headers["task"], held[-1].decode()[0][-1]))
            held[-1].ack()
        for queue in queues:
            queue.bind(conn.default_channel).purge()

    # Then the webhooks come first, then the work under way, then a new submission (round-robin
    # over queues, RabbitMQ's way, would interleave the backlog)
    assert taken == [
        (NOTIFICATION_TASK, "note-1"),
        (NOTIFICATION_TASK, "note-2"),
        (ADVANCE_TASK, "under-way"),
        (ADVANCE_TASK, "new-0"),
    ]


def test_every_demo_scenario_ends_right_with_rabbitmq_as_the_broker(
    rabbit_stack: Stack, rabbitmq_url: str
) -> None:
    # When the demo's scenarios go through a stack whose broker is RabbitMQ
    rows = run_scenarios(rabbit_stack.api_url, token=TOKEN, timeout_s=90, ttl_ms=4_000)

    # Then each ends in its expected status, accepted and paid at most once
    assert {r["scenario"]: r["status"] for r in rows} == {
        r["scenario"]: r["expected"] for r in rows
    }
    _assert_exactly_once(rabbit_stack)
    # and RabbitMQ carried the messages: Redis holds no kombu queue or binding, only state
    state = redis.Redis.from_url(rabbit_stack.redis_url)
    assert state.keys("_kombu*") == []
    assert not state.exists(*WORKER_QUEUES)
    with Connection(rabbitmq_url) as conn:
        _name, _waiting, consumers = conn.default_channel.queue_declare(QUEUE, passive=True)
    assert consumers >= 1


def test_a_worker_killed_mid_run_loses_nothing_with_rabbitmq(rabbit_stack: Stack) -> None:
    api = httpx.Client(
        base_url=rabbit_stack.api_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    scenario = next(s for s in SCENARIOS if s.name == "remainder settled")
    refs = [f"rmq-{uuid.uuid4().hex[:10]}" for _ in range(30)]
    with api:
        # Given 30 orders in flight
        for ref in refs:
            body = scenario_body(scenario, reference=ref, ttl_ms=6_000)
            assert api.post("/orders", json=body).status_code == 202
        _wait_until_one_is_past_queued(api, scenario.location, refs)
        # When the only worker is SIGKILLed while orders are still under way, and a new starts
        rabbit_stack.kill("worker")
        under_way = [
            ref
            for ref in refs
            if api.get(f"/orders/{scenario.location}/{ref}").json()["status"] not in TERMINAL
        ]
        assert under_way, "every order ended before the kill: nothing was tested"
        rabbit_stack.start_worker("worker-2")
        # Then every order still ends completed, accepted and paid once
        views = [wait_terminal(api, scenario.location, ref, timeout=90) for ref in refs]
    assert [v["status"] for v in views] == ["completed"] * len(refs)
    _assert_exactly_once(rabbit_stack)


def _wait_until_one_is_past_queued(
    api: httpx.Client, bl: int, refs: list[str], timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ref in refs:
            if api.get(f"/orders/{bl}/{ref}").json()["status"] != "queued":
                return
        time.sleep(0.05)
    raise AssertionError("no order left `queued`: is the worker consuming from RabbitMQ?")

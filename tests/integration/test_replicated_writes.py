"""What counts as stored when Redis has a replica: an accepted order and a payment reference are
on the replica (Redis WAIT) before the producer hears 202 and before K-Series sees the payment.

A real primary and replica (Debian's redis-server, loopback); the replica is frozen (SIGSTOP)
to play one that lags, as it would before a failover that then loses what it had not received.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import redis
from fastapi.testclient import TestClient

from bench.sentinels import Topology
from config.settings import Settings
from tests.builders import BL, new_order, policy, submission_body
from tests.scripted_kseries import OK, SALE, Clock, Script
from worker.api import create_app
from worker.engine import Engine
from worker.errors import NotReplicated
from worker.kseries.client import KSeriesClient
from worker.order import Order, Status
from worker.replication import Replication
from worker.store import OrderStore

pytestmark = pytest.mark.integration

TOKEN = "replicated-token"
WAIT = Replication(replicas=1, timeout_ms=300)
PAID = {
    "ikaccountId": "A1.1",
    "currentAmount": "18.15",
    "paidAmount": "18.15",
    "paymentEntries": [{"externalReference": "pay-1"}],
}


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    """A primary and one replica, no sentinels (nothing fails over here)."""
    with Topology(Path(tmp_path_factory.mktemp("replicated")), replicas=1, sentinels=0) as up:
        yield up


@pytest.fixture
def primary(nodes: Topology) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(nodes.redis_url, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


@contextmanager
def frozen_replica(nodes: Topology) -> Iterator[None]:
    """The replica stops acknowledging anything (SIGSTOP) until the block ends."""
    replica = nodes.processes[nodes.data_ports[1]]
    replica.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        replica.send_signal(signal.SIGCONT)
    deadline = time.monotonic() + 10
    while nodes.synced(nodes.data_ports[0]) < 1:  # caught up again before the next test
        assert time.monotonic() < deadline, "the replica did not catch up"
        time.sleep(0.02)


def test_an_order_no_replica_confirmed_is_answered_503_and_accepted_when_sent_again(
    nodes: Topology, primary: redis.Redis
) -> None:
    store = OrderStore(primary, replication=WAIT)
    settings = Settings(_env_file=None, api_token=TOKEN)  # type: ignore[call-arg]
    app = create_app(
        settings=settings, store=store, enqueue=lambda *_: None, enqueue_notification=print
    )
    http = TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"})
    body = submission_body("wait-1")
    # Given a replica that acknowledges nothing, when a producer submits an order,
    with frozen_replica(nodes):
        refused = http.post("/orders", json=body)
        # then it is not accepted: 503 with Retry-After, although the primary holds it,
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "1"
        assert "replica" in refused.json()["detail"]
        assert store.get(BL, "wait-1") is not None
    # and the same body sent again once the replica caught up is accepted (the same order).
    accepted = http.post("/orders", json=body)
    assert accepted.status_code == 202
    assert accepted.json()["thirdPartyReference"] == "wait-1"


def test_an_order_is_accepted_at_once_while_the_replica_keeps_up(primary: redis.Redis) -> None:
    store = OrderStore(primary, replication=WAIT)
    order, created = store.create(new_order("wait-2"), new_order("wait-2").created_at)
    assert created
    started = time.monotonic()
    store.confirm_replicated(order)
    assert time.monotonic() - started < 0.25  # no timeout waited out


def test_a_record_the_primary_does_not_hold_is_never_confirmed(primary: redis.Redis) -> None:
    # A failover can promote a replica without the latest write: the record is not there (or
    # older), so nothing may be built on it, however many replicas acknowledge.
    store = OrderStore(primary, replication=WAIT)
    with pytest.raises(NotReplicated, match="not on the primary"):
        store.confirm_replicated(new_order("never-stored"))
    order, _ = store.create(new_order("older"), new_order("older").created_at)
    with pytest.raises(NotReplicated, match="not on the primary"):
        store.confirm_replicated(order.model_copy(update={"version": order.version + 1}))


def _advance_until_due(e: Engine, clock: Clock, ref: str, steps: int = 40) -> Order:
    """Advance whenever the order is due, as the sweeper would, until it ends."""
    order = e.advance(BL, ref)
    for _ in range(steps):
        assert order is not None
        if order.status.terminal:
            return order
        if order.wake_at is not None and order.wake_at > clock.now:
            clock.now = order.wake_at
        order = e.advance(BL, ref)
    raise AssertionError(f"did not end: {order}")


def test_a_payment_is_not_posted_until_a_replica_holds_its_reference(
    nodes: Topology, primary: redis.Redis
) -> None:
    clock = Clock()
    script = Script(
        clock,
        order_local=[(200, OK)],
        saleByExternalReference=[(200, SALE)],
        pay=[(200, OK)],
        accounts=[(200, PAID)],
    )
    http = httpx.Client(base_url="https://k.example", transport=httpx.MockTransport(script))
    store = OrderStore(primary, replication=WAIT)
    e = Engine(store=store, client=KSeriesClient(http), policy=policy(), clock=clock)
    store.create(new_order("pay-wait", now=clock()), clock())
    # Given a replica that acknowledges nothing, when the order reaches its follow-up payment,
    with frozen_replica(nodes), pytest.raises(NotReplicated):
        _advance_until_due(e, clock, "pay-wait")
    # then the payment reference is stored but K-Series has not been asked to pay,
    stored = store.get(BL, "pay-wait")
    assert stored is not None
    assert stored.current_payment is not None
    assert script.count("/pay") == 0
    # and once the replica holds it, it is POSTed once, under that reference.
    order = _advance_until_due(e, clock, "pay-wait")
    assert order.status is Status.COMPLETED
    pays = [r for _, r in script.requests if r.url.path.endswith("/pay")]
    assert len(pays) == 1
    assert stored.current_payment.reference.encode() in pays[0].content

"""The naive peer: what orderflow replaces, measured on the same machine and sandbox.

One Celery task per order: POST it to K-Series, then `sleep` and poll `saleByExternalReference`
until the sale is there, then pay what is left. The task holds its worker slot for the whole
POS delay. Its own Celery app, queue (`naive`) and Redis database, so it never touches
orderflow's keys; started as `celery -A bench.naive worker --pool threads ...`.

Settings come from the environment: NAIVE_BROKER_URL, NAIVE_SANDBOX_URL, NAIVE_POLL_S
(default 0.25 s: a generous poll, so the peer is not slowed by a lazy one).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from decimal import Decimal
from typing import Any

import httpx
from celery import Celery

__all__ = ["ENDPOINT_ID", "QUEUE", "TASK", "app", "place_order"]

QUEUE = "naive"
TASK = "naive.place_order"
ENDPOINT_ID = "naive-bench"  # no webhook registered: the peer never gets notifications
POLL_S = float(os.environ.get("NAIVE_POLL_S", "0.25"))
GIVE_UP_S = 120.0

app = Celery("naive", broker=os.environ.get("NAIVE_BROKER_URL", "redis://127.0.0.1:6379/1"))
app.conf.update(
    task_default_queue=QUEUE,
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
_local = threading.local()


def _http() -> httpx.Client:
    client: httpx.Client | None = getattr(_local, "client", None)
    if client is None:
        client = httpx.Client(
            base_url=os.environ.get("NAIVE_SANDBOX_URL", "http://127.0.0.1:8100"),
            headers={"Authorization": "Bearer naive-bench"},
            timeout=10.0,
        )
        _local.client = client
    return client


@app.task(name=TASK)  # type: ignore[untyped-decorator]
def place_order(body: dict[str, Any]) -> str:
    """Submit, sleep-poll until the POS has the sale, pay the remainder. Returns the outcome."""
    http = _http()
    order = dict(body["order"])
    order.setdefault("endpointId", ENDPOINT_ID)
    order.setdefault("maxTimeToAttemptOrderDeliverToPos", 60_000)
    bl, ref = order["businessLocationId"], order["thirdPartyReference"]
    http.post(f"/o/op/1/order/{body.get('type', 'local')}", json=order).raise_for_status()
    deadline = time.monotonic() + GIVE_UP_S
    while True:
        time.sleep(POLL_S)
        found = http.get(
            f"/f/finance/{bl}/saleByExternalReference",
            params={"externalReferenceId": f"TASK:OO-{bl}-{ref}"},
        )
        if found.status_code == 200:
            break
        if time.monotonic() > deadline:
            return "not found"
    sale = found.json()
    total = sum((Decimal(line["totalNetAmountWithTax"]) for line in sale["salesLines"]), Decimal(0))
    paid = sum((Decimal(p["netAmountWithTax"]) for p in sale["payments"]), Decimal(0))
    due = total - paid
    settle = body.get("settleRemaining")
    if settle is None or due <= 0 or due > Decimal(str(settle["maxAmount"])):
        return "nothing paid"
    http.post(
        "/o/op/1/pay",
        json={
            "iKaccountIdentifier": sale["accountFiscId"],
            "thirdPartyPaymentReference": f"naive-{uuid.uuid4().hex[:24]}",
            "endpointId": ENDPOINT_ID,
            "businessLocationId": bl,
            "taskTtlInMs": 60_000,
            "paymentMethod": settle["paymentMethod"],
            "paymentAmount": float(due),
        },
    ).raise_for_status()
    return "paid"

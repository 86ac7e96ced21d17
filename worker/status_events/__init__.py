"""Status events to the producer: every status an order enters, POSTed signed (Standard Webhooks).

    message.py    the event, its delivery record, its stable id and signature (pure)
    outbox.py     the Redis keys: each order's events, recorded in the store's transaction
    deliverer.py  sending one order's events in order, retrying on the durable timers

Wiring: `Runtime.status_events` (the outbox, passed to the store as its `on_status` hook) and
`Runtime.status_events_deliverer`; the task is `orderflow.deliver_events(bl, ref)`, sent by the
sweeper for timer members `e:{bl}:{ref}`.
"""

from __future__ import annotations

from worker.status_events.deliverer import Deliverer, RetryPolicy
from worker.status_events.message import Delivery, DeliveryState, event_id, signed_headers
from worker.status_events.outbox import EventOutbox, OrderEvents, member

__all__ = [
    "Deliverer",
    "Delivery",
    "DeliveryState",
    "EventOutbox",
    "OrderEvents",
    "RetryPolicy",
    "event_id",
    "member",
    "signed_headers",
]

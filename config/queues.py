"""Celery queue and task names, shared by the Celery configuration, the CLI and the producers.

Producers send tasks by name (`worker.celery.send_advance`), so nothing below `tasks/` is
imported by `worker/` or `config/`.
"""

from __future__ import annotations

QUEUE = "orderflow"  # work under way: timer-driven steps (polls, payments, check reads)
NEW_QUEUE = "orderflow.new"  # new submissions (and replays), until a worker first takes them
EVENT_QUEUE = "orderflow.events"  # recorded webhooks
# What a worker consumes, first first: the broker is read in this order (kombu's "priority"
# strategy), so work already under way (a webhook to apply, a poll, a payment) goes ahead of new
# submissions and a backlog of new orders never delays an order the POS already has.
WORKER_QUEUES = (EVENT_QUEUE, QUEUE, NEW_QUEUE)

ADVANCE_TASK = "orderflow.advance"
NOTIFICATION_TASK = "orderflow.apply_notification"
DELIVER_EVENTS_TASK = "orderflow.deliver_events"  # status events of one order (to QUEUE)

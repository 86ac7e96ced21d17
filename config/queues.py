"""Celery queue and task names, shared by the Celery configuration, the CLI and the producers.

Producers send tasks by name (`worker.celery.send_advance`), so nothing below `tasks/` is
imported by `worker/` or `config/`.
"""

from __future__ import annotations

QUEUE = "orderflow"  # submissions and timer-driven steps
TIMER_QUEUE = "orderflow.timers"  # the sweep
EVENT_QUEUE = "orderflow.events"  # recorded webhooks
# What a worker consumes, first first: the broker is read in this order (kombu's "priority"
# strategy), so work already under way (a webhook to apply, a timer to sweep) goes ahead of new
# submissions and a backlog of new orders never delays a payment.
WORKER_QUEUES = (EVENT_QUEUE, TIMER_QUEUE, QUEUE)

ADVANCE_TASK = "orderflow.advance"
NOTIFICATION_TASK = "orderflow.apply_notification"
SWEEP_TASK = "orderflow.sweep_timers"

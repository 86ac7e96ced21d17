"""`orderflow events`: the status events sent to the producer, and redelivery by hand."""

from __future__ import annotations

import time

import click

from config.settings import get_settings
from worker.errors import StoreUnavailable
from worker.status_events import Delivery, DeliveryState, EventOutbox, OrderEvents

__all__ = ["events"]

HEADER = ("id", "order", "type", "attempts", "state", "last error")


def _outbox() -> EventOutbox:
    from worker.runtime import Runtime

    return Runtime(get_settings()).status_events


def _row(events: OrderEvents, delivery: Delivery) -> str:
    order = f"{events.business_location_id}/{events.reference}"
    cells = (delivery.id, order, delivery.type, str(delivery.attempts), str(delivery.state))
    return "\t".join((*cells, delivery.error or ""))


@click.group(invoke_without_command=True)
@click.option("--undelivered", is_flag=True, help="only events given up after the retry window")
@click.option("--limit", default=50, show_default=True, help="orders listed, newest first")
@click.pass_context
def events(ctx: click.Context, undelivered: bool, limit: int) -> None:
    """Status events sent to ORDERFLOW_EVENTS_URL: one line per event, newest orders first."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        if undelivered:
            rows = [_row(order, d) for order, d in _outbox().undelivered()]
        else:
            rows = [_row(order, d) for order in _outbox().recent(limit) for d in order.deliveries]
    except StoreUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("\t".join(HEADER))
    for row in rows:
        click.echo(row)


@events.command()
@click.argument("event_id", required=False)
@click.option("--all", "everything", is_flag=True, help="every undelivered event")
def redeliver(event_id: str | None, everything: bool) -> None:
    """Send undelivered events again (each with a fresh retry window), in each order's turn."""
    if (event_id is None) != everything:
        raise click.UsageError("give one event ID or --all")
    outbox = _outbox()
    now_ms = int(time.time() * 1000)
    try:
        wanted = (
            [d.id for _, d in outbox.undelivered() if d.state is DeliveryState.UNDELIVERED]
            if everything
            else [str(event_id)]
        )
        queued = [i for i in wanted if outbox.redeliver(i, now_ms)]
    except StoreUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    if event_id is not None and not queued:
        raise click.ClickException(
            f"no undelivered event {event_id} (`orderflow events --undelivered` lists them)"
        )
    click.echo(f"re-queued {len(queued)} event(s)")
    if get_settings().events_url is None:
        click.echo(
            "ORDERFLOW_EVENTS_URL is not set here: they go out once workers have it", err=True
        )

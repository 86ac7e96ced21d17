"""The `orderflow` command (interface.md, 'Commands')."""

from __future__ import annotations

import importlib
import json
import signal
import socket
import sys
import time
from decimal import Decimal
from typing import Any

import click

from config.logging import configure_logging
from config.queues import WORKER_QUEUES
from config.settings import get_settings
from worker.auth_cli import auth
from worker.events_cli import events

__all__ = ["main"]

# Commands that live outside the production package, found by name when asked for: the
# K-Series stand-in and the test bench. worker/ never imports them, and an image without them
# (the production Dockerfile ships no bench/) says so instead of failing on import.
LAZY_COMMANDS = {
    "sandbox": "sandbox.cli:sandbox",
    "demo": "bench.cli:demo",
    "chaos": "bench.cli:chaos",
    "bench": "bench.cli:bench",
}


class LazyGroup(click.Group):
    """A click group whose development commands are imported only when run (or listed)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in LAZY_COMMANDS:
            return super().get_command(ctx, cmd_name)
        module_name, _, attr = LAZY_COMMANDS[cmd_name].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name.split(".")[0]:
                raise
            return _missing(cmd_name, module_name.split(".")[0])
        command = getattr(module, attr)
        assert isinstance(command, click.Command)
        return command


def _missing(name: str, package: str) -> click.Command:
    @click.command(name, help=f"(not installed: {package}/ is not in this installation)")
    def missing() -> None:
        raise click.ClickException(
            f"`orderflow {name}` needs the {package}/ package, which this installation does not "
            "carry (the production image ships only worker/, tasks/, config/ and sandbox/); run "
            "it from a checkout: pip install -e '.[dev,bench]'"
        )

    return missing


def _celery(argv: list[str]) -> None:
    from worker.celery import app

    app.start(argv)


@click.group(cls=LazyGroup)
def main() -> None:
    """orderflow: orders from producers onto Lightspeed K-Series POS, confirmed and settled."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def api(host: str, port: int) -> None:
    """Serve the HTTP API (producers, webhooks, health, metrics)."""
    import uvicorn
    from pydantic import ValidationError

    from worker.web.auth import startup_problems

    try:
        settings = get_settings()
    except ValidationError as exc:  # e.g. one webhook credential without the other
        raise click.ClickException(
            "invalid settings: " + "; ".join(e["msg"] for e in exc.errors())
        ) from None
    problems = startup_problems(settings, host)
    if problems:
        raise click.ClickException("; ".join(problems))
    uvicorn.run("worker.api:build_app", factory=True, host=host, port=port, log_level="warning")


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option(
    "--supervise/--no-supervise",
    default=True,
    show_default=True,
    help="restart the Celery worker when it exits on its own (worker/supervise.py)",
)
@click.pass_context
def worker(ctx: click.Context, supervise: bool) -> None:
    """A Celery worker for all orderflow queues (extra options go to `celery worker`)."""
    defaults = (
        ["--pool", "threads", "--concurrency", "8"]
        if "--pool" not in ctx.args and "-P" not in ctx.args
        else []
    )
    argv = ["worker", "-Q", ",".join(WORKER_QUEUES), "--loglevel", "INFO", *defaults, *ctx.args]
    if not supervise:
        _celery(argv)
        return
    from worker.supervise import supervise as run_supervised

    configure_logging()
    sys.exit(run_supervised([sys.executable, "-m", "celery", "-A", "worker", *argv]))


@main.command()
def sweeper() -> None:
    """Send the work durable timers say is due (run one or more; any number is safe)."""
    from worker.sweeper import serve

    configure_logging()
    serve()


@main.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    help="The timer sweeper, under its former name (= `orderflow sweeper`).",
)
def beat() -> None:
    from worker.sweeper import serve

    configure_logging()
    serve()


@main.group()
def webhook() -> None:
    """Register where K-Series sends ORDER and PAYMENT notifications."""


@webhook.command("register")
def webhook_register() -> None:
    """Create or update ORDERFLOW_WEBHOOK_URL for ORDERFLOW_ENDPOINT_ID (provideAccount on)."""
    from worker.webhooks import register

    settings = get_settings()
    click.echo(f"{register(settings)}: {settings.endpoint_id} -> {settings.webhook_url}")


@webhook.command("show")
def webhook_show() -> None:
    from worker.webhooks import show

    found = show(get_settings())
    click.echo(json.dumps(found, indent=2) if found else "not registered")


@webhook.command("delete")
def webhook_delete() -> None:
    from worker.webhooks import delete

    click.echo("deleted" if delete(get_settings()) else "not registered")


@main.command()
@click.argument("file", type=click.File("rb"))
def submit(file: Any) -> None:
    """Submit one order submission (the body of POST /orders) from FILE (- for stdin)."""
    from worker.errors import InvalidSubmission, ReferenceConflict
    from worker.producer import submit as produce

    try:
        body = json.loads(file.read(), parse_float=Decimal)
        receipt = produce(body)
    except ValueError as exc:
        raise click.ClickException(f"not valid JSON: {exc}") from exc
    except InvalidSubmission as exc:
        for error in exc.errors:
            click.echo(f"  {error['field']}: {error['message']}", err=True)
        raise click.ClickException("invalid submission; nothing was enqueued") from exc
    except ReferenceConflict as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(receipt.model_dump_json(exclude={"created"}))


@main.command()
@click.argument("business_location_id", type=int)
@click.argument("reference")
def status(business_location_id: int, reference: str) -> None:
    """Print an order's status and history."""
    from worker.api import order_view
    from worker.runtime import Runtime

    order = Runtime(get_settings()).store.get(business_location_id, reference)
    if order is None:
        raise click.ClickException(f"no order {business_location_id}/{reference}")
    view = order_view(order)
    click.echo(f"{reference} @ {business_location_id}: {view['status']}")
    for key in ("accountIdentifier", "outstandingAmount", "failureReason"):
        if view[key] is not None:
            click.echo(f"  {key}: {view[key]}")
    for p in view["payments"]:
        click.echo(f"  payment {p['thirdPartyPaymentReference']} {p['amount']} {p['status']}")
    for h in view["history"]:
        click.echo(f"  {h['at']}  {h['status']:<16} {h['event']:<28} {h['detail']}")


@main.command()
@click.option("--status", "wanted", default="needs_attention", show_default=True)
def orders(wanted: str) -> None:
    """List orders in one status (what a person must look at)."""
    from pydantic import ValidationError

    from worker.order import Status
    from worker.runtime import Runtime

    store = Runtime(get_settings()).store
    for bl, ref in store.keys_with_status(Status(wanted)):
        try:
            order = store.get(bl, ref)
        except ValidationError:  # set aside by a task that kept failing on it (worker.parking)
            click.echo(f"{bl}\t{ref}\t{wanted}\tthe stored record cannot be read")
            continue
        if order:
            click.echo(f"{bl}\t{ref}\t{order.status}\t{order.failure_reason or ''}")


@main.command()
@click.argument("business_location_id", type=int)
@click.argument("reference")
@click.option(
    "--new-order", is_flag=True, help="send it again under a new reference even if it is on the POS"
)
@click.option("--max-amount", type=str, default=None, help="a new settleRemaining.maxAmount")
def replay(
    business_location_id: int, reference: str, new_order: bool, max_amount: str | None
) -> None:
    """Re-drive a failed or needs_attention order on purpose."""
    from worker.engine import utcnow
    from worker.errors import OrderflowError
    from worker.producer import celery_enqueue
    from worker.replay import replay as do_replay
    from worker.runtime import Runtime

    store = Runtime(get_settings()).store
    try:
        order = do_replay(
            store,
            business_location_id,
            reference,
            now=utcnow(),
            enqueue=celery_enqueue,
            new_order=new_order,
            max_amount=Decimal(max_amount) if max_amount else None,
        )
    except OrderflowError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"{order.reference} @ {order.business_location_id}: {order.status} ({order.history[-1].detail})"
    )


@main.command()
def unmatched() -> None:
    """Notifications no order claimed, or that could not be read or applied, with why."""
    from worker.runtime import Runtime

    for doc in Runtime(get_settings()).store.unmatched():
        payload = doc["payload"]
        click.echo(
            f"{doc['received_at']}\t{payload.get('type') or payload.get('notificationType')}\t"
            f"{payload.get('thirdPartyReference', '')}\t{payload.get('status', '')}\t"
            f"{doc.get('reason', '')}"
        )


def _stack_config(**overrides: Any) -> Any:
    from worker.stack import StackConfig

    return StackConfig(**overrides)


@main.command()
@click.option("--api-port", default=8000, show_default=True)
@click.option("--sandbox-port", default=8100, show_default=True)
@click.option("--flower-port", default=5555, show_default=True)
@click.option(
    "--pos-delay", default=1.0, show_default=True, help="sandbox POS processing delay (s)"
)
@click.option(
    "--sweepers", default=2, show_default=True, type=click.IntRange(1), help="timer sweepers"
)
def up(api_port: int, sandbox_port: int, flower_port: int, pos_delay: float, sweepers: int) -> None:
    """The whole stack on this machine; Ctrl-C stops everything."""
    from pydantic import ValidationError

    from worker.stack import Stack, StackError

    configure_logging()
    ports = {"--api-port": api_port, "--sandbox-port": sandbox_port, "--flower-port": flower_port}
    for flag, port in ports.items():
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                raise click.ClickException(f"port {port} is in use: free it or pass {flag}")
    config = _stack_config(
        api_port=api_port,
        sandbox_port=sandbox_port,
        flower_port=flower_port,
        pos_delay_s=pos_delay,
        sweepers=sweepers,
    )
    try:
        with Stack(config) as stack:
            click.echo(
                f"redis    {stack.redis_url}\nsandbox  {stack.sandbox_url}\napi      {stack.api_url}\n"
                f"flower   http://127.0.0.1:{flower_port}\nlogs     {stack.workdir}\nCtrl-C to stop."
            )
            _wait_for_interrupt(stack)
    except StackError as exc:
        raise click.ClickException(str(exc)) from None
    except ValidationError as exc:  # the environment's or .env's settings
        raise click.ClickException(f"invalid settings: {exc.errors()[0]['msg']}") from None


def _wait_for_interrupt(stack: Any) -> None:
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    # Ctrl-C stops the stack even when SIGINT came ignored from the parent (a job started in
    # the background by a non-interactive shell, `nohup`): Python installs no handler then.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        while True:
            for name, process in list(stack.processes.items()):
                if process.poll() is not None:
                    raise click.ClickException(
                        f"{name} exited ({process.returncode}); logs in {stack.workdir}"
                    )
            time.sleep(0.5)
    except KeyboardInterrupt:
        click.echo("\nstopping ...")


main.add_command(auth)
main.add_command(events)

if __name__ == "__main__":
    main()

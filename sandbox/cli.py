"""`orderflow sandbox`: the K-Series stand-in, as a subcommand of the orderflow CLI."""

from __future__ import annotations

import sys

import click

from sandbox.server import main as sandbox_main

__all__ = ["sandbox"]


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--port", default=8100, show_default=True, type=int)
@click.pass_context
def sandbox(ctx: click.Context, port: int) -> None:
    """The K-Series sandbox: a local stand-in for the K-Series API and its POS."""
    sys.exit(sandbox_main(["--port", str(port), *ctx.args]))

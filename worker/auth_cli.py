"""`orderflow auth login|status`: log in to K-Series once, then check what is stored."""

from __future__ import annotations

from urllib.parse import urlsplit

import click

from config.settings import Settings, get_settings
from worker.kseries.auth import TokenEndpoint, TokenStore
from worker.oauth import (
    LOOPBACK,
    LoginError,
    authorize_url,
    code_from_paste,
    listen_for_code,
    new_state,
    redeem,
    status,
)

__all__ = ["auth"]


def _store(settings: Settings) -> TokenStore:
    import redis

    client = redis.Redis.from_url(
        settings.redis_url, decode_responses=True, socket_timeout=5, socket_connect_timeout=3
    )
    return TokenStore(client)


def _endpoint(settings: Settings) -> TokenEndpoint:
    return TokenEndpoint(settings)


@click.group()
def auth() -> None:
    """Log in to K-Series (OAuth2 authorization code) and check the stored tokens."""


@auth.command()
@click.option(
    "--listen/--paste",
    default=None,
    help="Catch the browser's redirect on ORDERFLOW_KSERIES_REDIRECT_URI, or paste the code "
    "(default: listen when that URI is on loopback).",
)
@click.option("--code", help="An authorization code you already have: skip the browser step.")
@click.option("--timeout", default=300, show_default=True, help="Seconds to wait for the redirect.")
def login(listen: bool | None, code: str | None, timeout: int) -> None:
    """Authorize orderflow in a browser, exchange the code, store the token pair in Redis."""
    settings = get_settings()
    try:
        if code is None:
            code = _obtain_code(settings, listen, timeout)
        pair = redeem(settings, _store(settings), code, endpoint=_endpoint(settings))
    except LoginError as exc:
        raise click.ClickException(str(exc)) from exc
    except Exception as exc:  # token endpoint or Redis: say which, never what it returned
        raise click.ClickException(f"login failed: {type(exc).__name__}: {exc}") from exc
    click.echo("Logged in: the token pair is stored in Redis for every worker.")
    expiry = pair.expires_at.isoformat() if pair.expires_at else "unknown"
    click.echo(f"access token expires: {expiry}; refresh token: {'yes' if pair.refresh else 'no'}")


def _obtain_code(settings: Settings, listen: bool | None, timeout: int) -> str:
    state = new_state()
    url = authorize_url(settings, state)
    redirect = settings.kseries_redirect_uri
    if listen is None:
        parts = urlsplit(redirect)
        listen = parts.scheme == "http" and parts.hostname in LOOPBACK
    click.echo("Open this URL in a browser, sign in to Lightspeed and approve access:\n")
    click.echo(f"  {url}\n")
    if listen:

        def ready() -> None:
            click.echo(f"Waiting up to {timeout} s for the redirect to {redirect} ...")

        return listen_for_code(redirect, state, timeout_s=timeout, on_ready=ready)
    click.echo(f"After approving, the browser goes to {redirect}?code=...&state=...")
    pasted = click.prompt("Paste that whole URL, or just the code", hide_input=True)
    return code_from_paste(str(pasted), state)


@auth.command("status")
def status_command() -> None:
    """Whether a token pair is stored and when it expires (never the tokens)."""
    settings = get_settings()
    try:
        report = status(_store(settings))
    except Exception as exc:
        raise click.ClickException(f"cannot read the token store: {type(exc).__name__}") from exc
    for line in report.lines():
        click.echo(line)
    click.echo(f"token endpoint: {settings.token_url}")
    if not report.stored:
        raise SystemExit(1)

"""`orderflow auth login|status|logout`: log each restaurant business in to K-Series once, see
every business's tokens, forget one."""

from __future__ import annotations

from urllib.parse import urlsplit

import click

from config.settings import Settings, get_settings
from worker.kseries.auth import TokenEndpoint, TokenStore
from worker.kseries.routing import default_configured
from worker.kseries.tokens import DEFAULT_BUSINESS
from worker.oauth import (
    LOOPBACK,
    Logged,
    LoginError,
    authorize_url,
    code_from_paste,
    listen_for_code,
    log_in,
    log_out,
    new_state,
    statuses,
)

__all__ = ["auth"]


def _store(settings: Settings) -> TokenStore:
    from worker.redis_client import redis_for

    return TokenStore(redis_for(settings))


def _endpoint(settings: Settings) -> TokenEndpoint:
    return TokenEndpoint(settings)


@click.group()
def auth() -> None:
    """Log restaurant businesses in to K-Series (OAuth2 authorization code), one login each;
    check or forget their tokens."""


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
    """Authorize orderflow in a browser as one restaurant business, exchange the code, store
    the token pair in Redis under that business (replacing its older pair, if any)."""
    settings = get_settings()
    try:
        if code is None:
            code = _obtain_code(settings, listen, timeout)
        logged = log_in(settings, _store(settings), code, endpoint=_endpoint(settings))
    except LoginError as exc:
        raise click.ClickException(str(exc)) from exc
    except Exception as exc:  # token endpoint or Redis: say which, never what it returned
        raise click.ClickException(f"login failed: {type(exc).__name__}: {exc}") from exc
    _report_login(logged)


def _report_login(logged: Logged) -> None:
    login, pair = logged.login, logged.pair
    if login is None:
        click.echo(
            "Logged in; K-Series did not say which business: the pair is stored as the default "
            "pair, covering every location no other login lists."
        )
    else:
        locations = ", ".join(map(str, sorted(login.locations))) or "none yet"
        click.echo(
            f"Logged in business {login.business_id} ({login.name}): locations {locations}. "
            "The token pair is stored in Redis for every worker."
        )
        for old in logged.replaced:
            click.echo(f"It replaces the login stored under business {old}.")
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
    """Every business logged in: locations, token expiry, refused or not (never a token)."""
    settings = get_settings()
    try:
        reports = statuses(_store(settings), configured=default_configured(settings))
    except Exception as exc:
        raise click.ClickException(f"cannot read the token store: {type(exc).__name__}") from exc
    if not reports:
        click.echo("no token pair stored: run `orderflow auth login`")
    for report in reports:
        for line in report.lines():
            click.echo(line)
    click.echo(f"token endpoint: {settings.token_url}")
    if not reports:
        raise SystemExit(1)


@auth.command("logout")
@click.argument("business_id")
def logout_command(business_id: str) -> None:
    """Forget one business's login (its pair and locations); BUSINESS_ID `default` forgets
    the default pair."""
    settings = get_settings()
    try:
        forgotten = log_out(_store(settings), business_id)
    except LoginError as exc:
        raise click.ClickException(str(exc)) from exc
    except Exception as exc:
        raise click.ClickException(f"cannot reach the token store: {type(exc).__name__}") from exc
    if not forgotten:
        raise click.ClickException(f"no login stored for business {business_id}")
    if business_id == DEFAULT_BUSINESS:
        click.echo("Forgot the default pair (if ORDERFLOW_KSERIES_ACCESS_TOKEN is set, unset it).")
    else:
        click.echo(
            f"Logged business {business_id} out: its locations are no longer covered (new "
            "orders for them are refused with 422; calls for orders under way are refused "
            "unsent and tried again minutes apart until a login covers them)."
        )

"""Registering where K-Series sends notifications (`orderflow webhook register|show|delete`).

K-Series keeps a webhook per business: each is registered, shown or deleted with the tokens of
every business logged in (and the default pair, when there is one), one after the other; one
business failing does not stop the others, and the command fails naming it afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, TypeVar

import httpx
import redis

from config.logging import REDACTED
from config.settings import Settings
from worker.errors import OrderflowError
from worker.kseries.client import KSeriesClient, default_timeout
from worker.kseries.models import WebhookRegistration
from worker.kseries.routing import BusinessAuth

__all__ = ["WebhookSetupError", "delete", "register", "registration", "show"]

T = TypeVar("T")


class WebhookSetupError(OrderflowError):
    """No business is logged in, or the call failed for some of them (named)."""


def registration(settings: Settings) -> WebhookRegistration:
    """Our endpoint: account data included, Basic credentials when configured."""
    basic = bool(settings.webhook_username and settings.webhook_password)
    return WebhookRegistration(
        endpointId=settings.endpoint_id,
        url=settings.webhook_url,
        withBasicAuth=basic,
        username=settings.webhook_username if basic else None,
        password=settings.webhook_password.get_secret_value()
        if basic and settings.webhook_password
        else None,
        provideAccount=True,
    )


def _redis(settings: Settings) -> redis.Redis:
    from worker.redis_client import redis_for

    return redis_for(settings)


def _transport() -> httpx.BaseTransport | None:
    """None: httpx's own (tests put a fake K-Series here)."""
    return None


@contextmanager
def _clients(settings: Settings) -> Iterator[list[tuple[str, KSeriesClient]]]:
    """A client per business logged in (label: its id, or "default"), on its own tokens."""
    auth = BusinessAuth(settings, _redis(settings))
    states = auth.logins.states()
    if not states:
        raise WebhookSetupError("no business is logged in: run `orderflow auth login` first")
    with ExitStack() as stack:
        clients = []
        for state in states:
            business_id = int(state.business_id) if not state.default else None
            http = httpx.Client(
                base_url=settings.kseries_base_url,
                timeout=default_timeout(settings.kseries_timeout_s),
                auth=auth.for_business(business_id),
                transport=_transport(),
            )
            clients.append((state.business_id, KSeriesClient(stack.enter_context(http))))
        yield clients


def _each(settings: Settings, call: Callable[[KSeriesClient], T]) -> dict[str, T]:
    """`call` for every business; raises WebhookSetupError naming those that failed."""
    done: dict[str, T] = {}
    failed: list[str] = []
    with _clients(settings) as clients:
        for label, client in clients:
            try:
                done[label] = call(client)
            except Exception as exc:  # the others still get theirs
                failed.append(f"business {label}: {type(exc).__name__}: {exc}")
    if failed:
        ok = ", ".join(f"business {label}" for label in done) or "none"
        raise WebhookSetupError(f"failed for {'; '.join(failed)} (done for {ok})")
    return done


def register(settings: Settings) -> str:
    """Create or update our endpoint with every business; says what happened for each."""
    done = _each(settings, lambda client: client.register_webhook(registration(settings)))
    return ", ".join(f"{what} for business {label}" for label, what in done.items())


def show(settings: Settings) -> dict[str, Any] | None:
    """Our registration (password hidden): with one business logged in, as K-Series returns
    it; with several, by business id. None when no business has one."""
    found = _each(settings, lambda client: client.get_webhook(settings.endpoint_id))
    for registered in found.values():
        if registered and "password" in registered:
            registered["password"] = REDACTED
    if not any(found.values()):
        return None
    if len(found) == 1:
        return next(iter(found.values()))
    return dict(found)


def delete(settings: Settings) -> bool:
    """Delete our endpoint at every business; True if any had it."""
    return any(_each(settings, lambda client: client.delete_webhook(settings.endpoint_id)).values())

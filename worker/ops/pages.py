"""Rendering the ops pages: Jinja2 templates shipped as package data, strict headers.

Autoescaping is on for every template (references, reasons and notes are untrusted text), and
each page forbids scripts outright (`script-src 'none'`: the pages have none), frames, foreign
form targets and caching; its one inline stylesheet is allowed by a per-response nonce.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from starlette.responses import HTMLResponse

__all__ = ["page"]


def _part(value: object) -> str:
    """A URL path segment: every reserved character escaped, '/' included."""
    return quote(str(value), safe="")


def _code(text: str) -> Markup:
    """README's wording with its `code spans` shown as code (the text itself escaped)."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text))))  # noqa: S704


def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


_env = Environment(
    loader=PackageLoader("worker.ops", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["part"] = _part
_env.filters["when"] = _when
_env.filters["code"] = _code


def _headers(nonce: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self' data:; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        ),
        "Cache-Control": "no-store",
        "Referrer-Policy": "same-origin",  # no-referrer would make form posts say `Origin: null`
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
    }


def page(
    template: str, *, code: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    """An HTML response rendered from `templates/<template>`."""
    nonce = secrets.token_urlsafe(16)
    html = _env.get_template(template).render(nonce=nonce, **context)
    return HTMLResponse(html, status_code=code, headers={**_headers(nonce), **(headers or {})})

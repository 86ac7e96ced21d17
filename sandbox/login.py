"""Logging in as a restaurant business: `/oauth/authorize`, `/oauth/token` and what a token
covers (`GET /o/op/data/businesses`).

`/oauth/authorize` stands in for Lightspeed's login page: it takes the usual OAuth2 query
(`response_type=code`, `client_id`, `redirect_uri`, `scope`, `state`) plus a sandbox-only
`business_id` naming the restaurant that approves, and redirects (302) to `redirect_uri` with a
`code` bound to that business and the `state`. Without `business_id` a single business approves
at once; with several, a page lists one approval link per business.
"""

from __future__ import annotations

import hmac
from html import escape
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import FastAPI, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from sandbox.access import scope
from sandbox.businesses import Business
from sandbox.engine import Sandbox
from sandbox.formats import JSONDecimalResponse

__all__ = ["login_routes"]

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _with_query(url: str, **params: str | None) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _oauth_error(status: int, error: str, description: str) -> Response:
    body = {"error": error, "error_description": description}
    return JSONDecimalResponse(body, status_code=status, headers=NO_STORE)


def _chooser(request: Request, businesses: list[Business]) -> Response:
    """Lightspeed's login page, reduced to "approve as which restaurant?"."""
    query = list(request.query_params.multi_items())

    def link(business: Business) -> str:
        href = f"{request.url.path}?{urlencode([*query, ('business_id', str(business.id))])}"
        return f'<li><a href="{escape(href)}">{escape(business.name)} ({business.id})</a></li>'

    links = "".join(link(b) for b in businesses)
    page = (
        "<!doctype html><title>K-Series sandbox login</title>"
        f"<h1>Approve access as which business?</h1><ul>{links}</ul>"
    )
    return HTMLResponse(page, headers=NO_STORE)


def login_routes(app: FastAPI, sandbox: Sandbox) -> None:
    @app.get("/oauth/authorize")
    async def authorize(request: Request) -> Response:
        """Approve at once (sandbox): redirect to `redirect_uri` with a code and the state."""
        params = request.query_params
        expected = sandbox.config.client_id
        client_id = params.get("client_id", "")
        if expected is not None and not hmac.compare_digest(client_id.encode(), expected.encode()):
            return _oauth_error(400, "unauthorized_client", "Unknown client_id")
        redirect_uri = params.get("redirect_uri", "")
        if not redirect_uri.startswith(("http://", "https://")):
            return _oauth_error(400, "invalid_request", "redirect_uri must be an http(s) URL")
        state = params.get("state")

        def back(**answer: str | None) -> Response:
            location = _with_query(redirect_uri, **answer, state=state)
            return RedirectResponse(location, status_code=302, headers=NO_STORE)

        if params.get("response_type") != "code":
            return back(error="unsupported_response_type")
        raw = params.get("business_id")
        if raw is None:
            businesses = sandbox.businesses.all()
            if len(businesses) > 1:
                return _chooser(request, businesses)
            business: Business | None = businesses[0]
        else:
            business = sandbox.businesses.get(int(raw)) if raw.strip().isdigit() else None
        if business is None:
            return back(error="access_denied", error_description=f"no business {raw}")
        return back(code=sandbox.tokens.new_code(business.id, redirect_uri))

    @app.post("/oauth/token")
    async def token(request: Request) -> Response:
        """Form-encoded, as OAuth2 wants; client credentials via Basic or the form."""
        raw = (await request.body()).decode("utf-8", errors="replace")
        form = dict(parse_qsl(raw, keep_blank_values=True))
        status, body = sandbox.tokens.grant(form, request.headers.get("authorization"))
        return JSONDecimalResponse(body, status_code=status, headers=NO_STORE)

    @app.get("/o/op/data/businesses")
    async def businesses(request: Request) -> Response:
        """All businesses and business locations associated with the access token."""
        covered = set(scope(sandbox, request))
        return JSONDecimalResponse(
            [b.as_json() for b in sandbox.businesses.all() if b.id in covered]
        )

"""Webhook registration routes (`/o/wh/1/webhook`), each acting for the token's business."""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import Response

from sandbox.access import scope
from sandbox.engine import Sandbox
from sandbox.formats import JSONDecimalResponse
from sandbox.replies import invalid, json_object, spring
from sandbox.webhooks import OBJECT_NAME, parse_endpoint

__all__ = ["webhook_routes"]

PATH = "/o/wh/1/webhook"


def webhook_routes(app: FastAPI, sandbox: Sandbox) -> None:
    def not_found(endpoint_id: str) -> Response:
        message = f"endpoint ID not found for {endpoint_id}"
        return spring(sandbox, 404, message, f"{PATH}/{endpoint_id}")

    async def save(request: Request, *, create: bool) -> Response:
        body = await json_object(request, sandbox)
        if isinstance(body, Response):
            return body
        endpoint, errors = parse_endpoint(body)
        if endpoint is None:
            return invalid(sandbox, OBJECT_NAME, errors, PATH)
        businesses = scope(sandbox, request)
        if not create and sandbox.webhooks.get(businesses, endpoint.endpoint_id) is None:
            return not_found(endpoint.endpoint_id)
        sandbox.webhooks.save(businesses, endpoint)
        return JSONDecimalResponse(endpoint.as_json())

    @app.put(PATH)
    async def create_webhook(request: Request) -> Response:
        """Create; an existing endpointId is overwritten (idempotent re-registration)."""
        return await save(request, create=True)

    @app.post(PATH)
    async def update_webhook(request: Request) -> Response:
        """Update; booleans left out are reset to false, as K-Series documents."""
        return await save(request, create=False)

    @app.get(PATH + "/{endpoint_id}")
    async def get_webhook(endpoint_id: str, request: Request) -> Response:
        endpoint = sandbox.webhooks.get(scope(sandbox, request), endpoint_id)
        if endpoint is None:
            return not_found(endpoint_id)
        return JSONDecimalResponse(endpoint.as_json())

    @app.delete(PATH + "/{endpoint_id}")
    async def delete_webhook(endpoint_id: str, request: Request) -> Response:
        if not sandbox.webhooks.delete(scope(sandbox, request), endpoint_id):
            return not_found(endpoint_id)
        return Response(status_code=200)

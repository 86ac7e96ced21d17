"""The sandbox's own routes (`/_sandbox/...`): knobs, ledger, reset, location state,
businesses, and tokens or codes minted for a business without a browser.

Never faulted and never authenticated: they are for the test harness, not for orderflow.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from sandbox.business_admin import business_routes
from sandbox.engine import Sandbox
from sandbox.formats import JSONDecimalResponse
from sandbox.gateway import ADMIN_PREFIX

__all__ = ["admin_router"]


def admin_router(sandbox: Sandbox) -> APIRouter:
    router = APIRouter(prefix=ADMIN_PREFIX, tags=["sandbox admin"])

    def config_json() -> dict[str, Any]:
        return sandbox.config.model_dump(mode="json")

    @router.get("/health")
    async def health() -> Response:
        return JSONDecimalResponse({"status": "ok"})

    @router.get("/config")
    async def get_config() -> Response:
        return JSONDecimalResponse(config_json())

    @router.patch("/config")
    async def patch_config(request: Request) -> Response:
        """Partial update: only the fields given change; invalid values change nothing."""
        try:
            changes = json.loads(await request.body() or b"{}")
        except ValueError:
            return JSONDecimalResponse({"detail": "body must be a JSON object"}, status_code=400)
        if not isinstance(changes, dict):
            return JSONDecimalResponse({"detail": "body must be a JSON object"}, status_code=400)
        try:
            updated = sandbox.config.patched(changes)
        except ValidationError as exc:
            detail = json.loads(exc.json(include_url=False, include_context=False))
            return JSONDecimalResponse({"detail": detail}, status_code=422)
        sandbox.config.update_from(updated)
        sandbox.config_changed(reseed="seed" in changes)
        return JSONDecimalResponse(config_json())

    @router.get("/ledger")
    async def get_ledger() -> Response:
        return JSONDecimalResponse(sandbox.ledger.as_json())

    @router.post("/reset")
    async def reset(webhooks: bool = False, tokens: bool = False) -> Response:
        await sandbox.reset(webhooks=webhooks, tokens=tokens)
        return JSONDecimalResponse({"status": "reset"})

    @router.post("/locations/{business_location_id}/offline")
    async def offline(business_location_id: int) -> Response:
        sandbox.set_online(business_location_id, online=False)
        return JSONDecimalResponse({"businessLocationId": business_location_id, "online": False})

    @router.post("/locations/{business_location_id}/online")
    async def online(business_location_id: int) -> Response:
        sandbox.set_online(business_location_id, online=True)
        return JSONDecimalResponse({"businessLocationId": business_location_id, "online": True})

    @router.get("/webhooks")
    async def webhooks() -> Response:
        """Every registration, with the business it was made for (`businessId`)."""
        return JSONDecimalResponse(sandbox.webhooks.as_json())

    business_routes(router, sandbox)
    return router

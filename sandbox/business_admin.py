"""Admin routes for businesses (`/_sandbox/businesses`, `/_sandbox/tokens`, `/_sandbox/codes`).

Tests add businesses and give them locations while the sandbox runs ("a location added to a
business later"), and log in as a given restaurant without a browser: `POST /_sandbox/codes`
mints an authorization code for `orderflow auth login --code`, `POST /_sandbox/tokens` a pair.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from sandbox.auth import CODE_TTL_S
from sandbox.businesses import Business, BusinessError
from sandbox.engine import Sandbox
from sandbox.formats import JSONDecimalResponse

__all__ = ["business_routes"]

Id = Annotated[int, Field(gt=0)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class LocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Id
    name: Name | None = None


class BusinessIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Id
    name: Name
    businessLocations: list[LocationIn] = Field(default_factory=list)


def _error(status: int, detail: str) -> Response:
    return JSONDecimalResponse({"detail": detail}, status_code=status)


def business_routes(router: APIRouter, sandbox: Sandbox) -> None:
    directory = sandbox.businesses

    def named(business_id: int | None) -> Business | Response:
        """The business a mint is for: the one named, or the first when none is."""
        if business_id is None:
            return directory.first
        return directory.get(business_id) or _error(404, f"no business {business_id}")

    @router.get("/businesses")
    async def list_businesses() -> Response:
        return JSONDecimalResponse([b.as_admin_json() for b in directory.all()])

    @router.post("/businesses")
    async def add_business(given: BusinessIn) -> Response:
        """A new business; 409 when the id exists or a location belongs to another one."""
        business = Business(given.id, given.name)
        for location in given.businessLocations:
            if location.id in business.locations:
                return _error(422, f"business location {location.id} listed twice")
            business.locations[location.id] = location.name or business.location_name(location.id)
        try:
            directory.add(business)
        except BusinessError as exc:
            return _error(409, str(exc))
        return JSONDecimalResponse(business.as_admin_json(), status_code=201)

    @router.post("/businesses/{business_id}/locations")
    async def add_location(business_id: int, given: LocationIn) -> Response:
        """Give a business a location: 201 when new, 200 when it had it (renamed if named)."""
        business = directory.get(business_id)
        if business is None:
            return _error(404, f"no business {business_id}")
        try:
            new = directory.add_location(business_id, given.id, given.name)
        except BusinessError as exc:
            return _error(409, str(exc))
        return JSONDecimalResponse(business.as_admin_json(), status_code=201 if new else 200)

    @router.post("/tokens")
    async def issue_tokens(business_id: int | None = None) -> Response:
        """A token pair for a business without the OAuth dance (default: the first business)."""
        business = named(business_id)
        if isinstance(business, Response):
            return business
        return JSONDecimalResponse({**sandbox.tokens.issue(business.id), "businessId": business.id})

    @router.post("/codes")
    async def issue_code(
        business_id: int | None = None, redirect_uri: str | None = None
    ) -> Response:
        """An authorization code as if the business had approved access in a browser; bound
        to `redirect_uri` when one is given (the token request must then send the same)."""
        business = named(business_id)
        if isinstance(business, Response):
            return business
        code = sandbox.tokens.new_code(business.id, redirect_uri)
        return JSONDecimalResponse(
            {"code": code, "businessId": business.id, "expiresIn": CODE_TTL_S}
        )

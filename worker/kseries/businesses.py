"""Which restaurant businesses, and which of their locations, a K-Series token acts for.

`GET /o/op/data/businesses` returns "all businesses and business locations associated with the
access token" (OpenAPI `apeLookupBusinesses`): `[{id, name, businessLocations: [{id, name}]}]`.
orderflow reads it with every new login and again on a schedule (`worker.kseries.routing`), and
stores each pair under the business it names (`worker.kseries.logins`).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Annotated

import httpx
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from worker.errors import (
    AuthError,
    KSeriesError,
    RateLimited,
    ServerError,
    TransportError,
    UpstreamError,
)

__all__ = [
    "BUSINESSES_PATH",
    "Bearer",
    "BusinessesUnknown",
    "ListedBusiness",
    "ListedLocation",
    "list_businesses",
]

BUSINESSES_PATH = "/o/op/data/businesses"
Id64 = Annotated[int, Field(gt=0, le=2**63 - 1, strict=True)]


class ListedLocation(BaseModel):
    """One business location as the list names it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: Id64
    name: str | None = None


class ListedBusiness(BaseModel):
    """One business and the locations it owns."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: Id64
    name: str = ""
    businessLocations: tuple[ListedLocation, ...] = ()  # K-Series' name


_LIST = TypeAdapter(list[ListedBusiness])


class BusinessesUnknown(KSeriesError):
    """K-Series did not say which businesses the token covers: no such route (404, 405), or an
    answer that is not a list of businesses."""


class Bearer(httpx.Auth):
    """A fixed access token (a pair just obtained, before it is stored)."""

    def __init__(self, access: str) -> None:
        self._access = access

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._access}"
        yield request

    def __repr__(self) -> str:  # never print a token
        return "Bearer(***)"


def list_businesses(http: httpx.Client, url: str, auth: httpx.Auth) -> list[ListedBusiness]:
    """The businesses the token behind `auth` acts for, each with its locations.

    Raises:
        BusinessesUnknown: K-Series does not say (no such route, or not a business list).
        AuthError: 401/403; RateLimited, ServerError, TransportError: try again later.
    """
    try:
        response = http.get(url, auth=auth, headers={"Accept": "application/json"})
    except httpx.TransportError as exc:
        raise TransportError(
            f"GET {BUSINESSES_PATH}: {type(exc).__name__}", endpoint=BUSINESSES_PATH
        ) from exc
    status, text = response.status_code, response.text
    if status in (404, 405):
        raise BusinessesUnknown(f"GET {BUSINESSES_PATH} answered {status}", endpoint=url)
    if status in (401, 403):
        raise AuthError(status, text, endpoint=BUSINESSES_PATH)
    if status == 429:
        raise RateLimited(status, text, endpoint=BUSINESSES_PATH)
    if status >= 500:
        raise ServerError(status, text, endpoint=BUSINESSES_PATH)
    if not 200 <= status < 300:
        raise UpstreamError(status, text, endpoint=BUSINESSES_PATH)
    try:
        return _LIST.validate_json(response.content)
    except ValidationError as exc:
        raise BusinessesUnknown(
            f"GET {BUSINESSES_PATH}: not a list of businesses", endpoint=BUSINESSES_PATH
        ) from exc

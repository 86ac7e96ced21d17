"""Restaurant businesses and the locations each owns: what a token may act for.

K-Series binds an access token to the business that authorised it, and `GET
/o/op/data/businesses` lists that business with its locations. A location belongs to at most one
business. With no business configured the sandbox has one, `Sandbox Business` (id 1), that owns
every location and lists those it has met, so single-token runs need no setup.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_BUSINESS_ID",
    "Business",
    "BusinessError",
    "Directory",
    "parse_business",
]

DEFAULT_BUSINESS_ID = 1
DEFAULT_BUSINESS_NAME = "Sandbox Business"


class BusinessError(ValueError):
    """A business or location that cannot be added: unknown, duplicated or owned elsewhere."""


@dataclass
class Business:
    id: int
    name: str
    locations: dict[int, str] = field(default_factory=dict)  # id -> name
    owns_every_location: bool = False

    def location_name(self, business_location_id: int) -> str:
        """K-Series' example style: "My Awesome Business - Location 1"."""
        return f"{self.name} - Location {business_location_id}"

    def as_json(self) -> dict[str, Any]:
        """One item of `GET /o/op/data/businesses` (field names as the OpenAPI has them)."""
        return {
            "name": self.name,
            "id": self.id,
            "businessLocations": [
                {"id": bl, "name": name} for bl, name in sorted(self.locations.items())
            ],
        }

    def as_admin_json(self) -> dict[str, Any]:
        return {**self.as_json(), "ownsEveryLocation": self.owns_every_location}


def _positive_id(text: str, what: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise BusinessError(f"{what} must be a whole number, got {text.strip()!r}") from None
    if value <= 0:
        raise BusinessError(f"{what} must be positive, got {value}")
    return value


def parse_business(text: str) -> Business:
    """`ID:NAME:BL[=LOCATION NAME],BL...` (`--business`); the location list may be empty.

    Raises:
        BusinessError: a missing part, an id that is not a positive number, a location twice.
    """
    head, sep, tail = text.rpartition(":")
    if not sep:
        raise BusinessError(f"expected ID:NAME:BL,BL..., got {text!r}")
    id_text, sep, name = head.partition(":")
    if not sep:  # `ID:NAME` without a location list
        id_text, name, tail = head, tail, ""
    name = name.strip()
    if not name:
        raise BusinessError(f"business name missing in {text!r}")
    business = Business(_positive_id(id_text, "business id"), name)
    for item in filter(None, (part.strip() for part in tail.split(","))):
        bl_text, _, location_name = item.partition("=")
        bl = _positive_id(bl_text, "business location id")
        if bl in business.locations:
            raise BusinessError(f"business location {bl} listed twice in {text!r}")
        business.locations[bl] = location_name.strip() or business.location_name(bl)
    return business


class Directory:
    """Every business the sandbox knows, and which one owns a location."""

    def __init__(self, businesses: Iterable[Business] | None = None) -> None:
        self._businesses: dict[int, Business] = {}
        given = list(businesses or [])
        if not given:
            given = [Business(DEFAULT_BUSINESS_ID, DEFAULT_BUSINESS_NAME, owns_every_location=True)]
        for business in given:
            self.add(business)

    def all(self) -> list[Business]:
        return list(self._businesses.values())

    def ids(self) -> list[int]:
        return list(self._businesses)

    def get(self, business_id: int) -> Business | None:
        return self._businesses.get(business_id)

    @property
    def first(self) -> Business:
        """The business an admin-minted token or code gets when none is named."""
        return next(iter(self._businesses.values()))

    def owner_of(self, business_location_id: int) -> Business | None:
        """The business owning a location; a catch-all business adopts one nobody owns."""
        catch_all: Business | None = None
        for business in self._businesses.values():
            if business_location_id in business.locations:
                return business
            if business.owns_every_location and catch_all is None:
                catch_all = business
        if catch_all is not None:
            catch_all.locations[business_location_id] = catch_all.location_name(
                business_location_id
            )
        return catch_all

    def add(self, business: Business) -> None:
        """Raises BusinessError for a known id or a location another business owns."""
        if business.id in self._businesses:
            raise BusinessError(f"business {business.id} exists already")
        for bl in business.locations:
            self._check_free(bl, business.id)
        for bl in business.locations:
            self._claim(bl, business.id)
        self._businesses[business.id] = business

    def add_location(self, business_id: int, business_location_id: int, name: str | None) -> bool:
        """Give a business a location (True when new; renaming an owned one is allowed).

        Raises:
            BusinessError: no such business, or the location belongs to another business.
        """
        business = self._businesses.get(business_id)
        if business is None:
            raise BusinessError(f"no business {business_id}")
        self._check_free(business_location_id, business_id)
        self._claim(business_location_id, business_id)
        new = business_location_id not in business.locations
        business.locations[business_location_id] = name or business.location_name(
            business_location_id
        )
        return new

    def _check_free(self, business_location_id: int, business_id: int) -> None:
        """Refuse a location another business owns; one a catch-all only adopted moves."""
        for other in self._businesses.values():
            if other.id == business_id or business_location_id not in other.locations:
                continue
            if not other.owns_every_location:
                raise BusinessError(
                    f"business location {business_location_id} belongs to business {other.id}"
                )

    def _claim(self, business_location_id: int, business_id: int) -> None:
        for other in self._businesses.values():
            if other.id != business_id and other.owns_every_location:
                other.locations.pop(business_location_id, None)

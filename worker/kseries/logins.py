"""Every restaurant business logged in: its token pair, the locations it covers, and the index
every K-Series call is routed by.

Redis (all renewed on every write, like the pairs):

- `LOGINS_KEY`: hash business id -> `Login` (names, locations, when listed and logged in);
- `LOCATIONS_KEY`: hash business location id -> the business id whose login covers it;
- each business's pair under `tokens.BUSINESS_TOKENS_KEY`, the default pair under `TOKENS_KEY`.

A location is covered by the login whose business list names it (when two lists name it, the
newest wins until the other is read again), else by the default pair (business unknown: the
configured tokens or a login from before businesses were listed) when there is one. Writes to the
index are WATCH/MULTI transactions, so a login, a logout and a re-read never interleave.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis

from worker.constants import PREFIX
from worker.kseries.businesses import ListedBusiness
from worker.kseries.tokens import (
    DEFAULT_BUSINESS,
    TOKENS_TTL_S,
    TokenPair,
    TokenStore,
    claim_key,
    is_refused,
)

__all__ = ["LOCATIONS_KEY", "LOGINS_KEY", "Login", "LoginState", "Logins"]

LOGINS_KEY = PREFIX + ":oauth:businesses"
LOCATIONS_KEY = PREFIX + ":oauth:locations"
LISTING_KEY = PREFIX + ":oauth:listing:{business}"  # set while a re-read is recent (EX)
MAX_TRIES = 20  # WATCH conflicts before giving up (only logins and re-reads write here)


@dataclass(frozen=True)
class Login:
    """One login: the business it is stored under, every business its token lists (usually
    just that one) and their locations."""

    business_id: int
    names: dict[int, str]  # business id -> name
    locations: dict[int, str]  # business location id -> name
    listed_at: datetime
    logged_in_at: datetime

    @classmethod
    def from_listing(
        cls, listing: Sequence[ListedBusiness], now: datetime, logged_in_at: datetime | None = None
    ) -> Login:
        """Stored under the lowest business id the token lists (there is one in practice)."""
        if not listing:
            raise ValueError("a login covers at least one business")
        locations = {
            loc.id: loc.name or f"{b.name} - location {loc.id}"
            for b in listing
            for loc in b.businessLocations
        }
        return cls(
            min(b.id for b in listing),
            {b.id: b.name for b in listing},
            locations,
            now,
            logged_in_at or now,
        )

    @property
    def name(self) -> str:
        return ", ".join(name or f"business {bid}" for bid, name in sorted(self.names.items()))

    def to_json(self) -> str:
        return json.dumps(
            {
                "business_id": self.business_id,
                "names": [[bid, name] for bid, name in self.names.items()],
                "locations": [[bl, name] for bl, name in sorted(self.locations.items())],
                "listed_at": self.listed_at.isoformat(),
                "logged_in_at": self.logged_in_at.isoformat(),
            }
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Login:
        data = json.loads(raw)
        return cls(
            int(data["business_id"]),
            {int(bid): str(name) for bid, name in data["names"]},
            {int(bl): str(name) for bl, name in data["locations"]},
            datetime.fromisoformat(data["listed_at"]),
            datetime.fromisoformat(data["logged_in_at"]),
        )


@dataclass(frozen=True)
class LoginState:
    """What an operator is shown of one pair (`orderflow auth status`, `/metrics`, `/readyz`):
    never a token."""

    business_id: str  # the id, or "default"
    name: str | None = None
    locations: tuple[int, ...] | None = None  # None: every location no login lists (default)
    pair: TokenPair | None = field(default=None, repr=False)  # None: configured, not yet stored
    refused: bool = False

    @property
    def default(self) -> bool:
        return self.business_id == DEFAULT_BUSINESS


class Logins:
    """The logins in Redis and which one covers a location."""

    def __init__(self, client: redis.Redis, *, default_configured: bool = False) -> None:
        self._r = client
        self.default_configured = default_configured  # tokens in the settings: a default pair

    def store(self, business_id: int | None) -> TokenStore:
        """The pair store of a business (None: the default pair)."""
        return TokenStore(self._r, business_id)

    def get(self, business_id: int) -> Login | None:
        raw = self._r.hget(LOGINS_KEY, str(business_id))
        return Login.from_json(raw) if raw else None

    def all(self) -> list[Login]:
        raw: dict[Any, Any] = self._r.hgetall(LOGINS_KEY)
        return sorted((Login.from_json(v) for v in raw.values()), key=lambda x: x.business_id)

    def covering(self, business_location_id: int) -> TokenStore | None:
        """The pair store that covers a location, or None when no pair does.

        Raises:
            redis.RedisError: Redis cannot say.
        """
        with self._r.pipeline(transaction=False) as pipe:
            pipe.hget(LOCATIONS_KEY, str(business_location_id))
            pipe.exists(TokenStore(self._r).key)
            owner, default = pipe.execute()
        if owner:
            return self.store(int(owner))
        return self.store(None) if default or self.default_configured else None

    def covers(self, business_location_id: int) -> bool:
        """Whether some login (or the default pair) covers the location: the API refuses an
        order for one that none covers."""
        return self.covering(business_location_id) is not None

    def save(self, login: Login, pair: TokenPair) -> list[int]:
        """Store a new login's pair and locations, replacing any login of the same business
        (and any other login whose token listed one of its businesses); those replaced, by id."""
        replaced: list[int] = []

        def change(pipe: Any, old: Login | None, others: list[Login]) -> None:
            replaced[:] = [o.business_id for o in ([old] if old else []) + others]
            for other in others:
                pipe.hdel(LOGINS_KEY, str(other.business_id))
                pipe.delete(self.store(other.business_id).key)
            pipe.set(self.store(login.business_id).key, pair.to_json(), ex=TOKENS_TTL_S)

        self._write(login.business_id, login, change, with_others=True)
        return replaced

    def relisted(
        self, business_id: int, listing: Sequence[ListedBusiness], now: datetime
    ) -> Login | None:
        """A login's business list read again: its locations now; None if it was logged out."""
        old = self.get(business_id)
        if old is None:
            return None
        fresh = Login.from_listing(listing, now, old.logged_in_at)
        login = Login(business_id, fresh.names, fresh.locations, now, old.logged_in_at)
        written = self._write(business_id, login, lambda *_: None, must_exist=True)
        return login if written else None

    def forget(self, business_id: int | None) -> bool:
        """Log a business out (None: the default pair): its pair and locations go."""
        if business_id is None:
            return bool(self._r.delete(TokenStore(self._r).key))
        existed: list[bool] = []

        def change(pipe: Any, old: Login | None, others: list[Login]) -> None:
            existed[:] = [old is not None]
            pipe.delete(self.store(business_id).key)

        self._write(business_id, None, change)
        return any(existed)

    def claim_listing(self, business_id: int, seconds: float) -> bool:
        """The right to read a business list again now (no other process did within `seconds`)."""
        key = LISTING_KEY.format(business=business_id)
        return bool(self._r.set(key, "1", nx=True, px=max(1, int(seconds * 1000))))

    def states(self) -> list[LoginState]:
        """Every login and the default pair (when stored or configured), for operators."""
        logins = self.all()
        stores = [self.store(x.business_id) for x in logins] + [self.store(None)]
        raw = self._r.mget([s.key for s in stores])
        pairs = [TokenPair.from_json(r) if r else None for r in raw]
        with_refresh = [p.refresh for p in pairs if p is not None and p.refresh]
        found = self._r.mget([claim_key(t) for t in with_refresh]) if with_refresh else []
        claims = dict(zip(with_refresh, found, strict=True))
        states = []
        for store, pair in zip(stores, pairs, strict=True):
            refused = (
                pair is not None
                and bool(pair.refresh)
                and is_refused(claims.get(pair.refresh or ""))
            )
            if store.business_id is None:
                if pair is None and not self.default_configured:
                    continue
                states.append(LoginState(DEFAULT_BUSINESS, pair=pair, refused=refused))
                continue
            login = next(x for x in logins if x.business_id == store.business_id)
            states.append(
                LoginState(store.label, login.name, tuple(sorted(login.locations)), pair, refused)
            )
        return states

    def _write(
        self,
        business_id: int,
        login: Login | None,
        change: Any,
        *,
        with_others: bool = False,
        must_exist: bool = False,
    ) -> bool:
        """One transaction: the entry of `business_id` becomes `login` (None: removed), the
        index follows, and `change(pipe, old, others)` adds its own writes."""
        for _ in range(MAX_TRIES):
            with self._r.pipeline() as pipe:
                try:
                    pipe.watch(LOGINS_KEY, LOCATIONS_KEY)  # type: ignore[no-untyped-call]
                    raw = pipe.hget(LOGINS_KEY, str(business_id))
                    old = Login.from_json(raw) if raw else None
                    if must_exist and old is None:
                        return False
                    others = self._sharing(pipe, login) if with_others and login else []
                    gone = [x for x in [old, *others] if x is not None]
                    kept = set(login.locations) if login else set()
                    stale = sorted({bl for x in gone for bl in x.locations} - kept)
                    owners = pipe.hmget(LOCATIONS_KEY, [str(bl) for bl in stale]) if stale else []
                    ids = {str(x.business_id) for x in gone}
                    pipe.multi()
                    for bl, owner in zip(stale, owners, strict=True):
                        if owner in ids:  # not claimed meanwhile by a newer list
                            pipe.hdel(LOCATIONS_KEY, str(bl))
                    change(pipe, old, others)
                    if login is None:
                        pipe.hdel(LOGINS_KEY, str(business_id))
                    else:
                        pipe.hset(LOGINS_KEY, str(business_id), login.to_json())
                        if login.locations:
                            mapping = {str(bl): str(business_id) for bl in login.locations}
                            pipe.hset(LOCATIONS_KEY, mapping=mapping)  # type: ignore[arg-type]
                        pipe.expire(LOGINS_KEY, TOKENS_TTL_S)
                        pipe.expire(LOCATIONS_KEY, TOKENS_TTL_S)
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue
        raise redis.WatchError(f"{LOGINS_KEY}: too many concurrent writes")

    @staticmethod
    def _sharing(pipe: Any, login: Login) -> list[Login]:
        """Other logins whose token lists one of this login's businesses."""
        everyone = [Login.from_json(v) for v in pipe.hgetall(LOGINS_KEY).values()]
        return [
            x
            for x in everyone
            if x.business_id != login.business_id and set(x.names) & set(login.names)
        ]

"""Writes that must survive a failover: confirmed on a replica (Redis WAIT) before they count.

Redis replicates asynchronously: a write the primary acknowledged can vanish when a replica that
had not received it is promoted. So before the API answers 202 for an order, and before a
payment reference is POSTed, the order's record is confirmed on `replicas` replicas within
`timeout_ms`, else `NotReplicated` (the API answers 503; the payment waits for its timer).

WAIT counts what replicas acknowledged of the writes *its own connection* made. A pooled client
may have written the record on another connection, so the check is one pipeline on one
connection: read the record (it is on this primary, at this version or later), write a small
mark, WAIT. A replica that acknowledged the mark holds everything written before it.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis

from worker import constants as k
from worker.errors import NotReplicated
from worker.order import Order
from worker.record_codec import decode

if TYPE_CHECKING:
    from config.settings import Settings

__all__ = ["NO_REPLICAS", "ReplicatedWrites", "Replication"]


@dataclass(frozen=True)
class Replication:
    """How many replicas must hold such a write, and how long to wait for them (0: do not)."""

    replicas: int = 0
    timeout_ms: int = 500

    @classmethod
    def from_settings(cls, settings: Settings) -> Replication:
        return cls(replicas=settings.wait_replicas, timeout_ms=settings.redis_wait_ms)


NO_REPLICAS = Replication()  # one Redis, or a deployment that chose not to wait


class ReplicatedWrites:
    """`OrderStore`'s part that confirms a record on replicas; the store provides the client,
    `_errors` (Redis failures as `StoreUnavailable`) and its `Replication`."""

    _r: redis.Redis
    _replication: Replication

    def _errors(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def confirm_replicated(self, order: Order) -> None:
        """Return once `order`'s record, at its version or a later one, is on the replicas.

        Raises:
            NotReplicated: the record is not on the primary (a failover lost it), or fewer
                replicas than required confirmed within the timeout.
            StoreUnavailable: Redis cannot be reached.
        """
        wanted = self._replication.replicas
        if wanted == 0:
            return
        with self._errors():
            pipe = self._r.pipeline(transaction=False)
            pipe.get(k.ORDER_KEY.format(bl=order.business_location_id, ref=order.reference))
            pipe.set(k.REPLICATION_MARK, order.key, px=k.REPLICATION_MARK_TTL_MS)
            pipe.wait(wanted, self._replication.timeout_ms)
            raw, _, acknowledged = pipe.execute()
        if not raw or decode(raw).version < order.version:
            raise NotReplicated(f"order {order.key} is not on the primary (lost in a failover?)")
        if int(acknowledged) < wanted:
            raise NotReplicated(
                f"{acknowledged} of {wanted} replicas confirmed order {order.key} "
                f"within {self._replication.timeout_ms} ms"
            )

"""Redis key layout and TTLs: in one place, so nothing else invents a key (queues: config.queues)."""

from __future__ import annotations

PREFIX = "orderflow"
ORDER_KEY = PREFIX + ":order:{bl}:{ref}"
STATUS_INDEX = PREFIX + ":status:{status}"  # set of "{bl}:{ref}"
REFERENCE_INDEX = PREFIX + ":ref:{ref}"  # set of business location ids using this reference
PAYMENT_INDEX = PREFIX + ":payref:{ref}"  # "{bl}:{ref}" of the order a payment belongs to
NOTIFICATION_KEY = PREFIX + ":notification:{id}"
UNMATCHED = PREFIX + ":unmatched"  # list of notification ids no order claimed
THROTTLE = (
    PREFIX + ":throttle:{bl}"
)  # set while K-Series rate-limits this location (PX = Retry-After)
METRICS = PREFIX + ":metrics:{name}"  # hash label -> count, shared by every process
TIMERS = PREFIX + ":timers"  # zset: member "o:{bl}:{ref}" or "n:{id}", score = due epoch ms

RECORD_TTL_S = 30 * 24 * 3600
NOTIFICATION_TTL_S = 30 * 24 * 3600

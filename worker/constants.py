"""Redis key layout and TTLs: in one place, so nothing else invents a key (queues: config.queues)."""

from __future__ import annotations

PREFIX = "orderflow"
ORDER_KEY = PREFIX + ":order:{bl}:{ref}"
# Indexes are sorted sets scored by when the indexed record expires (epoch ms), so an entry
# ends with its order: readers count only live entries, writers trim the dead ones.
STATUS_INDEX = PREFIX + ":index:status:{status}"  # zset "{bl}:{ref}" -> record expiry
REFERENCE_INDEX = PREFIX + ":index:ref:{ref}"  # zset business location id -> record expiry
PAYMENT_INDEX = PREFIX + ":payref:{ref}"  # "{bl}:{ref}" of the order a payment belongs to (EX)
NOTIFICATION_KEY = PREFIX + ":notification:{id}"
UNMATCHED = PREFIX + ":unmatched"  # list of notification ids no order claimed
READINESS_KEY = PREFIX + ":readiness:{bl}"  # a location's latest ORDER_API notification (JSON)
READINESS_LOCATIONS = PREFIX + ":readiness-locations"  # zset bl -> when its readiness came (ms)
# A kept readiness older than this is ignored: a NOT_READY whose READY was lost holds nothing
# for ever (past it, orders go, or the pre-flight asks K-Series when it is on).
READINESS_FRESH_S = 600
# zset "{bl}:{ref}" -> the order's submit deadline (ms): its queued orders held for NOT_READY
HELD_ORDERS = PREFIX + ":held:{bl}"
HELD_LOCATIONS = PREFIX + ":held-locations"  # zset bl -> the latest deadline of its held orders
# hash bl -> orders of the location that ended undelivered in a row (0: the field is deleted)
UNDELIVERED_IN_A_ROW = PREFIX + ":undelivered-in-a-row"
# A location's usual time from K-Series' 200 to the order on the POS (ms, a moving average of
# what its orders took); forgotten a day after its last order reached the POS.
TIME_TO_POS = PREFIX + ":time-to-pos:{bl}"
TIME_TO_POS_TTL_S = 86_400
THROTTLE = (
    PREFIX + ":throttle:{bl}"
)  # set while K-Series rate-limits this location (PX = Retry-After)
# zset member -> the epoch ms of its turn: calls held by a 429 go one by one; expires
# TURN_KEEP_MS after the last turn given out (a turn not taken by then is dropped)
THROTTLE_TURNS = PREFIX + ":throttle-turns:{bl}"
TURN_KEEP_MS = 30_000
METRICS = PREFIX + ":metrics:{name}"  # hash label -> count, shared by every process
TIMERS = PREFIX + ":timers"  # zset: member "o:{bl}:{ref}" or "n:{id}", score = due epoch ms
# Timers of orders no worker has looked at yet (created, not yet advanced): swept only while the
# new-order queue has room, so a burst of new orders never crowds out work under way.
NEW_TIMERS = PREFIX + ":timers:new"
# Written just before a Redis WAIT, so the WAIT covers every write before it whichever pooled
# connection made them (worker.replication); expires on its own.
REPLICATION_MARK = PREFIX + ":replication-mark"
REPLICATION_MARK_TTL_MS = 60_000
FAILURES = PREFIX + ":failures:{member}"  # count of a task's unexpected errors on one item (EX)
CALLS_KEY = PREFIX + ":calls:{bl}:{ref}"  # list of the order's K-Series calls (JSON), oldest first
CALLS_KEEP = 200  # calls kept per order (the newest)
# Status events to the producer (worker.status_events); timer member "e:{bl}:{ref}".
STATUS_EVENTS = (
    PREFIX + ":status-events:{bl}:{ref}"
)  # list of the order's events (JSON), oldest first
STATUS_EVENTS_LOCK = PREFIX + ":status-events-lock:{bl}:{ref}"  # one deliverer per order at a time
STATUS_EVENTS_RECENT = PREFIX + ":status-events-recent"  # zset "{bl}:{ref}" by last event ms
STATUS_EVENTS_RECENT_KEEP = 10_000  # orders `orderflow events` can list
STATUS_EVENTS_UNDELIVERED = PREFIX + ":status-events-undelivered"  # hash event id -> "{bl}:{ref}"

RECORD_TTL_S = 30 * 24 * 3600  # an order and every index entry of it, from its last write
# Producer input bounds: an order's whole life (scheduled time + delivery limit + grace) must
# end well inside RECORD_TTL_S, so its record never expires while the order is under way.
MAX_DELIVERY_TTL_MS = 24 * 3600 * 1000  # maxTimeToAttemptOrderDeliverToPos (K-Series: int32)
MAX_SCHEDULE_AHEAD_S = 14 * 24 * 3600  # scheduled / collection time at most this far ahead
NOTIFICATION_TTL_S = 30 * 24 * 3600  # a notification not (yet) applied: kept for inspection
APPLIED_NOTIFICATION_TTL_S = 24 * 3600  # an applied one: its order's history has what counts
FAILURE_WINDOW_S = 3600  # unexpected task errors on one item are counted over this window

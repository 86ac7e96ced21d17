"""The stored form of an order record: compressed, versioned ASCII text.

Why: the record is most of the Redis a waiting order costs, and most of a record is what every
record repeats (field names, statuses, the lifecycle's history phrases). Deflate with a preset
dictionary of exactly those (from the schema, never from any order's values) stores a fraction
of the JSON; the client decodes Redis' answers as text, so the bytes go as base64 behind a
version prefix: `z1:` + base64(zlib stream with the preset dictionary `Z1`).

A dictionary is frozen once records use it (a test pins its digest): a new one takes a new
prefix, and `decode` keeps reading every older one for as long as records live (30 days).
Records written before this module are plain JSON (they start with `{`) and still read.

A record that cannot be read raises pydantic's `ValidationError`, as unreadable JSON always
did, so every caller's handling of an unreadable record (`worker.parking`, `orderflow orders`)
is unchanged. Its message never quotes the record: it may hold a customer's data.
"""

from __future__ import annotations

import binascii
import zlib

from pydantic_core import PydanticCustomError, ValidationError

from worker.order import Order

__all__ = ["CURRENT", "DICTIONARIES", "MAX_RECORD_BYTES", "decode", "encode", "unreadable"]

# The preset dictionary of prefix `z1`. FROZEN: records in Redis are compressed against these
# exact bytes (tests/unit/test_record_codec.py pins their sha256); change nothing here, add
# `Z2` and a new prefix instead. Generic by design: field names in the order
# `model_dump_json` writes them, with their JSON punctuation, enum values and the phrases the
# lifecycle writes into histories, and no value of any particular order. Deflate codes a match
# the cheaper the nearer it is to the data, so the rarest text comes first and a waiting
# order's skeleton last.
Z1 = (
    # operator actions, replays and the rarer endings
    b'"replay_of":"","replayed_as":"","status":"resolved","event":"operator.resolved",'
    b'"detail":"by ","event":"operator.replay","detail":"replayed as ; two orders may be on the '
    b'POS","event":"task.parked","detail":"stopped after 5 unexpected errors: ValidationError at '
    b' ValueError at KeyError at .py:","outcome_unknown":true,"late_lookups":1,'
    b'"attempt_base":3,"status":"needs_attention","failure_reason":"not confirmed: '
    b"no answer before the submit deadline, but its sale could not be looked up (on the POS, "
    b"but its check could not be read: payment  could not be verified: on the POS after all "
    b"(orderflow had not been able to look) on the POS, though reported failed (contradiction: "
    b"FAILURE () after SUCCESS; keeping SUCCESS contradiction:  was applied; keeping that "
    b"late failure for  greater than the amount due cancelled on the POS check  not found on "
    b'K-Series","status":"failed","event":"submit.deadline","detail":"not sent: access denied by '
    b"K-Series until the submit deadline (not sent: location rate-limited by K-Series (429) "
    b"until the submit deadline not sent: no worker was free to send it before the submit "
    b"deadline sent without a usable answer before the submit deadline not on the POS before "
    b'its delivery deadline","event":"submit.rejected","detail":"400: ","event":"sale.not_found'
    b'","event":"check.missing","event":"payment.rejected","event":"access.denied","detail":"'
    b"access denied: access denied by K-Series; tries are minutes apart until the credentials "
    b'change","event":"throttled","detail":"ignored: rate-limited: answered 429 held back",'
    b'"event":"held","detail":"held: not sent: readiness: no K-Series login covers this business '
    b'location: log its business in (`orderflow auth login`) first","event":"readiness.ready",'
    b'"detail":"location ready for online orders again (K-Series notified): sending in  s",'
    b'"event":"retry","detail":"submit: sale: check: payment: 500: 502: 503: 504: timeout '
    b"K-Series unreachable: Redis unavailable: status recorded, no effect unhandled payment "
    b'status FAILURE without a reason no reason given","event":"AccountNews:OPEN",'
    b'"event":"AccountNews:UPDATE","event":"AccountNews:CLOSE","event":"AccountNews:CANCEL",'
    b'"event":"OrderNews:FAILURE","event":"OrderNews:CLOSED","event":"OrderNews:CANCELLED",'
    b'"event":"PaymentNews:FAILURE","detail":"duplicate notification, already applied",'
    b'"detail":"ignored: unreadable check: ","detail":"payment not on the check yet",'
    b'"detail":"409: reference already accepted","detail":"late answer (","detail":"late '
    b'answer for  (400: reference already used (accepted before)","detail":"settle again",'
    b'"detail":"nothing outstanding","event":"check.read","detail":"payment  is on the check",'
    # the to-go order and the submission's rarer fields
    b'"type":"toGo","order":{"businessLocationId":,"thirdPartyReference":"","endpointId":"",'
    b'"customerInfo":{"firstName":"","lastName":"","thirdPartyReference":"","email":"",'
    b'"contactNumberAsE164":"+","notes":"","salutation":"","emailNotification":"ENABLE",'
    b'"emailNotification":"DISABLE","emailNotification":"DONT_CHANGE"},"orderNote":"",'
    b'"maxTimeToAttemptOrderDeliverToPos":,"staffId":,"accountProfileCode":"",'
    b'"scheduledTimeForOrderAsIso8601":"","payment":{"paymentMethod":"","paymentAmount":"",'
    b'"tipAmount":""},"deliveryAddress":{"addressLine1":"","addressLine2":"","zip":"",'
    b'"city":""},"collectionCode":"","orderCollectionTimeAsIso8601":"","accountId":"",'
    b'"accountIdentifier":"","tableNumber":"","clientCount":,"items":[{"quantity":1,"sku":"",'
    b'"customItemName":"","customItemPrice":"","modifiers":[{"modifierId":""}],'
    b'"discountCode":"","course":1,"subItems":[{"quantity":1,"sku":""}]}]}},'
    # an order under way: counters, its check, payments and what happened so far
    b'"submit_attempts":1,"poll_attempts":1,"last_error":"","payments":[{"reference":"pay-",'
    b'"amount":"","attempt":1,"status":"uncertain","failure_kind":"timeout","failure_kind":'
    b'"overpaid","failure_kind":"closed","failure_kind":"rejected","failure_kind":"expired",'
    b'"reason":""},{"reference":"pay-","amount":"","attempt":2,"status":"failed",'
    b'"created_at":"","last_sent_at":"","deadline":""},{"reference":"pay-","amount":"",'
    b'"attempt":1,"status":"applied","created_at":"","last_sent_at":"","deadline":""}],'
    b'"account_identifier":"","total":"","paid":"","outstanding":"","payments":[{"reference"'
    b':"pay-","amount":"","attempt":1,"status":"sent","created_at":"","last_sent_at":"",'
    b'"deadline":""}],"seen":["",""],"history":[{"at":"","status":"completed",'
    b'"event":"PaymentNews:SUCCESS","detail":"payment  applied"},{"at":"","status":"confirmed",'
    b'"event":"OrderNews:SUCCESS","detail":"on the POS"},{"at":"","status":"confirmed",'
    b'"event":"settle","detail":"outstanding amount unknown: reading the check"},{"at":"",'
    b'"status":"confirmed","event":"sale.found","detail":"account data"},{"at":"",'
    b'"status":"settling","event":"payment.start","detail":"paying  under pay- (attempt 1)"},'
    b'{"at":"","status":"settling","event":"payment.accepted","detail":"pay-: 200: accepted"},'
    # a waiting order, as a record reads from its first byte: the most common text, so last
    b'{"business_location_id":,"reference":"","status":"submitted","submission":'
    b'{"settleRemaining":{"paymentMethod":"","maxAmount":""},"order":{"businessLocationId":,'
    b'"thirdPartyReference":"","endpointId":"","customerInfo":{"firstName":"","lastName":"",'
    b'"email":""},"maxTimeToAttemptOrderDeliverToPos":,"payment":{"paymentMethod":"",'
    b'"paymentAmount":"","tipAmount":""},"items":[{"quantity":1,"sku":""}]}},"fingerprint":"",'
    b'"version":1,"created_at":"","delivery_ttl_ms":,'
    b'"submit_deadline":"","accepted_at":"","confirm_deadline":"","wake_at":"","history":'
    b'[{"at":"","status":"queued","event":"submitted","detail":"local order queued"},'
    b'{"at":"","status":"submitted","event":"submit.accepted","detail":"200: accepted for '
    b'delivery"}]}'
)

DICTIONARIES = {"z1": Z1}  # every prefix ever written; decode reads them all
CURRENT = "z1"  # what encode writes
MAX_RECORD_BYTES = 16 * 1024 * 1024  # a record inflating past this is corrupt (or a bomb)
# Primed once with the dictionary: a copy per record skips hashing the dictionary on every
# write (a third of the encode's cost). Copying takes the object's lock: threads may share it.
_PACKER = zlib.compressobj(9, zdict=DICTIONARIES[CURRENT])  # level 9: records are small


def encode(order: Order) -> str:
    """The record as stored: `z1:` + base64 of its JSON deflated against `Z1`.

    Fields at their defaults are left out (each reads back as its default, so the order reads
    back equal), and so are nulls, which all default to None."""
    packer = _PACKER.copy()
    packed = packer.compress(order.model_dump_json(exclude_defaults=True).encode())
    packed += packer.flush()
    return f"{CURRENT}:{binascii.b2a_base64(packed, newline=False).decode('ascii')}"


def decode(raw: str | bytes) -> Order:
    """The order a stored record holds, in any format ever written (as text, or as the bytes
    a client without `decode_responses` reads).

    Raises:
        ValidationError: an unknown prefix, corrupt base64 or deflate data, or JSON that is
            no valid order (as `Order.model_validate_json` raises for a plain record).
    """
    if raw[:1] in ("{", b"{"):  # written before records were compressed
        return Order.model_validate_json(raw)
    if isinstance(raw, bytes):
        raw = raw.decode("latin-1")  # never fails; anything not ASCII fails below
    prefix, colon, text = raw.partition(":")
    zdict = DICTIONARIES.get(prefix) if colon else None
    if zdict is None:
        raise unreadable(f"not JSON and no known format prefix ({', '.join(DICTIONARIES)})")
    try:
        packed = binascii.a2b_base64(text, strict_mode=True)
    except ValueError:  # binascii.Error, or a character that is not ASCII
        raise unreadable(f"corrupt base64 after {prefix}:") from None
    unpacker = zlib.decompressobj(zdict=zdict)
    try:
        data = unpacker.decompress(packed, MAX_RECORD_BYTES)
    except zlib.error:
        raise unreadable(f"corrupt compressed data after {prefix}:") from None
    if not unpacker.eof and len(data) >= MAX_RECORD_BYTES:
        raise unreadable(f"inflates to {MAX_RECORD_BYTES} bytes or more")
    if not unpacker.eof or unpacker.unused_data:
        raise unreadable(f"truncated or trailing compressed data after {prefix}:")
    return Order.model_validate_json(data)


def unreadable(why: str) -> ValidationError:
    """The error of a record that cannot be read: the kind an invalid JSON record raises."""
    error = PydanticCustomError(
        "record_unreadable", "stored order record cannot be read: {why}", {"why": why}
    )
    return ValidationError.from_exception_data(
        "Order", [{"type": error, "loc": (), "input": None}], hide_input=True
    )

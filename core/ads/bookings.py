"""Ad-slot bookings in Redis: all-or-nothing reservation of many slots in one Lua script
(no double booking under any concurrency), idempotency keys per advertiser, and cancel /
read / list that only ever show an advertiser its own bookings.

Keys (prefix default `dynaprice:ads:`): `slot:{slot_id}` -> booking id; `booking:{id}` ->
booking JSON; `advertiser:{id}:bookings` and `bookings` -> sets of booking ids; `booked` ->
set of slot ids held; `idem:{advertiser}:{key}` -> "booking id|request fingerprint" (24 h).
The scripts build some keys inside Lua, so this expects one Redis (not Redis Cluster).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from core.redis_text import as_text

IDEMPOTENCY_TTL_S = 86_400
DEFAULT_PREFIX = "dynaprice:ads:"

_BOOK = """
local prior = redis.call('GET', KEYS[1])
if prior then
  local sep = string.find(prior, '|', 1, true)
  return {'replay', string.sub(prior, 1, sep - 1), string.sub(prior, sep + 1)}
end
local taken = {}
for i = 6, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then table.insert(taken, ARGV[i]) end
end
if #taken > 0 then return {'conflict', unpack(taken)} end
for i = 6, #KEYS do
  redis.call('SET', KEYS[i], ARGV[1])
  redis.call('SADD', KEYS[5], ARGV[i])
end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[1])
if tonumber(ARGV[4]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[3], 'EX', ARGV[4])
end
return {'booked', ARGV[1]}
"""

_CANCEL = """
local raw = redis.call('GET', KEYS[1])
if not raw then return {'missing'} end
local booking = cjson.decode(raw)
if ARGV[1] ~= '' and booking['advertiser_id'] ~= ARGV[1] then return {'missing'} end
if booking['status'] ~= 'active' then return {'unchanged', raw} end
booking['status'] = 'cancelled'
booking['cancelled_at'] = ARGV[2]
for _, slot in ipairs(booking['slots']) do
  local key = ARGV[3] .. slot['slot_id']
  if redis.call('GET', key) == booking['id'] then
    redis.call('DEL', key)
    redis.call('SREM', KEYS[2], slot['slot_id'])
  end
end
local out = cjson.encode(booking)
redis.call('SET', KEYS[1], out)
return {'cancelled', out}
"""


class BookingStatus(StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"


class BookedSlot(BaseModel):
    slot_id: str
    location_id: str
    start: datetime = Field(description="local wall-clock start of the one-hour slot")
    price: float = Field(description="rate-card P50 price when booked")
    attentive_p10: float | None = Field(None, description="forecast attentive audience when "
                                        "booked (P10/P50/P90), to judge delivery against")
    attentive_p50: float | None = None
    attentive_p90: float | None = None


class Booking(BaseModel):
    id: str
    advertiser_id: str
    status: BookingStatus
    slots: list[BookedSlot]
    total_price: float
    currency: str
    created_at: datetime
    cancelled_at: datetime | None = None


class SlotsTaken(Exception):
    """Some requested slots are held by another booking."""

    def __init__(self, slot_ids: Sequence[str]) -> None:
        super().__init__(f"already booked: {', '.join(slot_ids)}")
        self.slot_ids = list(slot_ids)


class IdempotencyMismatch(Exception):
    """The idempotency key was used before for a different request."""


class BookingNotFound(KeyError):
    """No such booking visible to the caller (another advertiser's reads as absent)."""



def fingerprint(slots: Iterable[BookedSlot]) -> str:
    """Identity of a booking request: its sorted slot ids."""
    ids = sorted(slot.slot_id for slot in slots)
    return hashlib.sha256(json.dumps(ids).encode()).hexdigest()[:32]


class BookingStore:
    """Bookings of one Redis (a redis-py client; bytes or decoded responses both work)."""

    def __init__(self, client: Any, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self.prefix = prefix
        self._book = client.register_script(_BOOK)
        self._cancel = client.register_script(_CANCEL)

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def book(self, advertiser_id: str, slots: Sequence[BookedSlot], currency: str,
             idempotency_key: str | None = None) -> tuple[Booking, bool]:
        """Reserve every slot or none; (booking, True) when the key replays an earlier one.

        Raises SlotsTaken naming the held slots, IdempotencyMismatch when the key was used
        for other slots.
        """
        if not slots or len({slot.slot_id for slot in slots}) != len(slots):
            raise ValueError("a booking needs distinct slots")
        booking = Booking(
            id=uuid.uuid4().hex, advertiser_id=advertiser_id, status=BookingStatus.ACTIVE,
            slots=list(slots), total_price=round(sum(s.price for s in slots), 2),
            currency=currency, created_at=datetime.now(UTC))
        request = fingerprint(slots)
        idem = self._key("idem", advertiser_id, idempotency_key or f"none-{booking.id}")
        keys = [idem, self._key("booking", booking.id),
                self._key("advertiser", advertiser_id, "bookings"), self._key("bookings"),
                self._key("booked"), *(self._key("slot", s.slot_id) for s in slots)]
        args = [booking.id, booking.model_dump_json(), request,
                IDEMPOTENCY_TTL_S if idempotency_key else 0, "",  # pad: ARGV[i] is KEYS[i]'s slot
                *(s.slot_id for s in slots)]
        outcome = [as_text(part) for part in self._book(keys=keys, args=args)]
        if outcome[0] == "conflict":
            raise SlotsTaken(outcome[1:])
        if outcome[0] == "replay":
            if outcome[2] != request:
                raise IdempotencyMismatch(
                    f"idempotency key {idempotency_key!r} was used for other slots")
            return self.get(outcome[1]), True
        return booking, False

    def get(self, booking_id: str, advertiser_id: str | None = None) -> Booking:
        """The booking; BookingNotFound if absent or (given `advertiser_id`) not theirs."""
        raw = self.client.get(self._key("booking", booking_id))
        if raw is None:
            raise BookingNotFound(booking_id)
        booking = Booking.model_validate_json(raw)
        if advertiser_id is not None and booking.advertiser_id != advertiser_id:
            raise BookingNotFound(booking_id)
        return booking

    def cancel(self, booking_id: str, advertiser_id: str | None = None) -> tuple[Booking, bool]:
        """Release the booking's slots; (booking, True) if this call cancelled it.

        `advertiser_id` None acts for staff (any booking); otherwise only the owner's.
        """
        outcome = [as_text(part) for part in self._cancel(
            keys=[self._key("booking", booking_id), self._key("booked")],
            args=[advertiser_id or "", datetime.now(UTC).isoformat(), self._key("slot", "")])]
        if outcome[0] == "missing":
            raise BookingNotFound(booking_id)
        return Booking.model_validate_json(outcome[1]), outcome[0] == "cancelled"

    def list(self, advertiser_id: str | None = None) -> list[Booking]:
        """An advertiser's bookings (None: everyone's), newest first."""
        index = (self._key("advertiser", advertiser_id, "bookings") if advertiser_id
                 else self._key("bookings"))
        ids = [as_text(i) for i in self.client.smembers(index)]
        if not ids:
            return []
        raws = self.client.mget([self._key("booking", i) for i in ids])
        bookings = [Booking.model_validate_json(raw) for raw in raws if raw is not None]
        return sorted(bookings, key=lambda b: b.created_at, reverse=True)

    def is_booked(self, slot_id: str) -> bool:
        return bool(self.client.exists(self._key("slot", slot_id)))

    def booked_slot_ids(self) -> set[str]:
        """Every slot currently held by an active booking."""
        return {as_text(i) for i in self.client.smembers(self._key("booked"))}

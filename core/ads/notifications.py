"""Advertiser notifications: saved preferences (locations, audience, price ceiling) and the
slots that newly match them because their price dropped or a booking freed them.

The retail `Alert` model (product/store shaped) does not fit ad slots, so ad notifications
go to their own Redis stream `dynaprice:alerts:ads` (each at most once, by a deterministic
id) and to the `dynaprice.alerts` log, and are read back per advertiser.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.redis_text import as_text

ADS_ALERT_STREAM = "dynaprice:alerts:ads"
PREFERENCES_KEY = "dynaprice:ads:preferences"
_NAMESPACE = uuid.UUID("0b7f6c1e-3d1a-4a8e-9c55-2a6d4f1e9b21")
log = logging.getLogger("dynaprice.alerts")

# XADDs a notification unless its id was seen within the guard TTL.
_XADD_ONCE = """
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then
  return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
end
return false
"""


class Preference(BaseModel):
    """What an advertiser wants to hear about; empty `locations` means every location."""

    model_config = ConfigDict(extra="forbid")
    locations: list[str] = Field(default_factory=list, max_length=500)
    target: str = Field("broad", description="rate-card demographic target priced")
    min_target_share: float = Field(0.0, ge=0, le=1, description="minimum share of the "
                                    "expected audience in the targeted age bands")
    price_ceiling: float | None = Field(None, gt=0, description="only slots at or below")
    min_drop_pct: float = Field(5.0, ge=0, le=100, description="smallest drop worth a note")


class NotificationKind(StrEnum):
    PRICE_DROP = "price_drop"
    SLOT_FREED = "slot_freed"


class SlotOffer(BaseModel):
    """A free slot as the matcher sees it."""

    slot_id: str
    location_id: str
    start: datetime
    target: str
    price: float
    target_share: float = 1.0
    previous_price: float | None = None


class AdNotification(BaseModel):
    id: str = Field(description="same advertiser, slot, kind and price -> same id")
    kind: NotificationKind
    advertiser_id: str
    slot_id: str
    location_id: str
    start: datetime
    target: str
    price: float
    previous_price: float | None = None
    created_at: datetime


def matches(preference: Preference, offer: SlotOffer) -> bool:
    """True when the slot is one the preference asks about (ignoring how it changed)."""
    return ((not preference.locations or offer.location_id in preference.locations)
            and offer.target == preference.target
            and offer.target_share >= preference.min_target_share
            and (preference.price_ceiling is None or offer.price <= preference.price_ceiling))


def _notify(kind: NotificationKind, advertiser: str, offer: SlotOffer) -> AdNotification:
    identity = f"{kind}:{advertiser}:{offer.slot_id}:{offer.target}:{offer.price:.2f}"
    return AdNotification(
        id=uuid.uuid5(_NAMESPACE, identity).hex, kind=kind, advertiser_id=advertiser,
        slot_id=offer.slot_id, location_id=offer.location_id, start=offer.start,
        target=offer.target, price=round(offer.price, 2),
        previous_price=None if offer.previous_price is None else round(offer.previous_price, 2),
        created_at=datetime.now(UTC))


def price_drop_notifications(offers: Iterable[SlotOffer],
                             preferences: Mapping[str, Preference]) -> list[AdNotification]:
    """Free slots whose price fell by at least each advertiser's `min_drop_pct`."""
    found = []
    for offer in offers:
        if offer.previous_price is None or offer.previous_price <= 0:
            continue
        drop_pct = 100.0 * (offer.previous_price - offer.price) / offer.previous_price
        for advertiser, preference in preferences.items():
            if drop_pct > 0 and drop_pct >= preference.min_drop_pct \
                    and matches(preference, offer):
                found.append(_notify(NotificationKind.PRICE_DROP, advertiser, offer))
    return found


def freed_slot_notifications(offers: Iterable[SlotOffer],
                             preferences: Mapping[str, Preference],
                             except_advertiser: str | None = None) -> list[AdNotification]:
    """Slots a cancellation released, for every other advertiser they match."""
    return [_notify(NotificationKind.SLOT_FREED, advertiser, offer)
            for offer in offers for advertiser, preference in preferences.items()
            if advertiser != except_advertiser and matches(preference, offer)]



class PreferenceStore:
    """Preferences per advertiser in one Redis hash."""

    def __init__(self, client: Any, key: str = PREFERENCES_KEY) -> None:
        self.client = client
        self.key = key

    def put(self, advertiser_id: str, preference: Preference) -> None:
        self.client.hset(self.key, advertiser_id, preference.model_dump_json())

    def get(self, advertiser_id: str) -> Preference | None:
        raw = self.client.hget(self.key, advertiser_id)
        return None if raw is None else Preference.model_validate_json(raw)

    def all(self) -> dict[str, Preference]:
        return {as_text(k): Preference.model_validate_json(v)
                for k, v in self.client.hgetall(self.key).items()}


class NotificationOutbox:
    """Ad notifications in a Redis stream (each id once) and the alert log."""

    def __init__(self, client: Any, stream_key: str = ADS_ALERT_STREAM,
                 maxlen: int = 100_000, replay_guard_s: int = 86_400) -> None:
        self.client = client
        self.stream_key = stream_key
        self.maxlen = maxlen
        self.replay_guard_s = replay_guard_s
        self._xadd_once = client.register_script(_XADD_ONCE)

    def publish(self, notifications: Sequence[AdNotification]) -> int:
        """Send each notification not sent before; the number newly sent."""
        sent = 0
        for note in notifications:
            added = self._xadd_once(
                keys=[self.stream_key, f"{self.stream_key}:seen:{note.id}"],
                args=[self.replay_guard_s, self.maxlen, "notification", note.model_dump_json(),
                      "advertiser_id", note.advertiser_id, "kind", str(note.kind)])
            if added:
                sent += 1
                log.info("ad notification %s", note.model_dump_json())
        return sent

    def read(self, advertiser_id: str, limit: int = 50, scan: int = 5000) -> list[AdNotification]:
        """An advertiser's newest notifications (looking at the latest `scan` entries)."""
        found = []
        for _, fields in self.client.xrevrange(self.stream_key, count=scan):
            fields = {as_text(k): as_text(v) for k, v in fields.items()}
            if fields.get("advertiser_id") == advertiser_id:
                found.append(AdNotification.model_validate_json(fields["notification"]))
                if len(found) == limit:
                    break
        return found

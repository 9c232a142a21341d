"""Advertiser notifications: which slots match a preference, drops and freed slots, and the
outbox sending each notification once."""

from datetime import datetime

import redis

from core.ads.notifications import (
    NotificationKind,
    NotificationOutbox,
    Preference,
    PreferenceStore,
    SlotOffer,
    freed_slot_notifications,
    matches,
    price_drop_notifications,
)


def _offer(price: float, previous: float | None = None, location: str = "loc-a",
           share: float = 0.5, target: str = "broad") -> SlotOffer:
    return SlotOffer(slot_id=f"{location}@2026-11-30T08", location_id=location,
                     start=datetime(2026, 11, 30, 8), target=target, price=price,
                     target_share=share, previous_price=previous)


def test_a_preference_filters_location_target_share_and_ceiling() -> None:
    preference = Preference(locations=["loc-a"], min_target_share=0.4, price_ceiling=20.0)
    assert matches(preference, _offer(20.0))
    assert not matches(preference, _offer(20.01))
    assert not matches(preference, _offer(10.0, location="loc-b"))
    assert not matches(preference, _offer(10.0, share=0.3))
    assert not matches(preference, _offer(10.0, target="professionals_25_45"))
    assert matches(Preference(), _offer(1e6, location="anywhere"))


def test_price_drops_notify_only_past_each_advertisers_threshold() -> None:
    preferences = {"adv-1": Preference(min_drop_pct=10.0), "adv-2": Preference(min_drop_pct=2.0)}
    notes = price_drop_notifications([_offer(95.0, previous=100.0)], preferences)
    assert [(n.advertiser_id, n.kind) for n in notes] == [("adv-2", NotificationKind.PRICE_DROP)]
    assert notes[0].previous_price == 100.0 and notes[0].price == 95.0
    assert price_drop_notifications([_offer(105.0, previous=100.0)], preferences) == []
    assert price_drop_notifications([_offer(50.0)], preferences) == []


def test_freed_slots_skip_the_advertiser_who_cancelled() -> None:
    preferences = {"adv-1": Preference(), "adv-2": Preference(locations=["loc-a"]),
                   "adv-3": Preference(locations=["loc-z"])}
    notes = freed_slot_notifications([_offer(10.0)], preferences, except_advertiser="adv-1")
    assert [n.advertiser_id for n in notes] == ["adv-2"]


def test_outbox_sends_each_notification_once_and_reads_per_advertiser(
        redis_client: redis.Redis, key_prefix: str) -> None:
    outbox = NotificationOutbox(redis_client, stream_key=f"{key_prefix}alerts")
    notes = freed_slot_notifications([_offer(10.0)], {"adv-1": Preference(),
                                                      "adv-2": Preference()})
    assert outbox.publish(notes) == 2
    assert outbox.publish(notes) == 0  # same ids: not again
    assert [n.advertiser_id for n in outbox.read("adv-2")] == ["adv-2"]
    store = PreferenceStore(redis_client, key=f"{key_prefix}prefs")
    store.put("adv-1", Preference(price_ceiling=5.0))
    assert store.get("adv-1") == Preference(price_ceiling=5.0)
    assert store.get("adv-9") is None
    assert set(store.all()) == {"adv-1"}

"""Bookings over the real Redis: all-or-nothing, no double booking, idempotency, ownership."""

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
import redis

from core.ads.bookings import (
    BookedSlot,
    BookingNotFound,
    BookingStatus,
    BookingStore,
    IdempotencyMismatch,
    SlotsTaken,
)


def _slot(hour: int, location: str = "loc-a") -> BookedSlot:
    return BookedSlot(slot_id=f"{location}@2026-11-30T{hour:02d}", location_id=location,
                      start=datetime(2026, 11, 30, hour), price=10.0 + hour)


@pytest.fixture
def store(redis_client: redis.Redis, key_prefix: str) -> BookingStore:
    return BookingStore(redis_client, prefix=key_prefix)


def test_a_booking_holds_all_its_slots_and_lists_for_its_owner(store: BookingStore) -> None:
    booking, replayed = store.book("adv-1", [_slot(8), _slot(9)], "GBP")
    assert not replayed and booking.status is BookingStatus.ACTIVE
    assert booking.total_price == pytest.approx(37.0)
    assert store.booked_slot_ids() == {"loc-a@2026-11-30T08", "loc-a@2026-11-30T09"}
    assert [b.id for b in store.list("adv-1")] == [booking.id]
    assert store.list("adv-2") == []
    assert store.get(booking.id, "adv-1") == booking


def test_overlapping_booking_takes_nothing(store: BookingStore) -> None:
    store.book("adv-1", [_slot(9)], "GBP")
    with pytest.raises(SlotsTaken) as taken:
        store.book("adv-2", [_slot(8), _slot(9), _slot(10)], "GBP")
    assert taken.value.slot_ids == ["loc-a@2026-11-30T09"]
    assert store.booked_slot_ids() == {"loc-a@2026-11-30T09"}  # 08 and 10 stay free
    assert store.list("adv-2") == []


def test_fifty_concurrent_bookings_of_one_slot_one_wins(store: BookingStore) -> None:
    def attempt(advertiser: int) -> str:
        try:
            store.book(f"adv-{advertiser}", [_slot(18)], "GBP")
            return "booked"
        except SlotsTaken:
            return "conflict"

    with ThreadPoolExecutor(50) as pool:
        outcomes = list(pool.map(attempt, range(50)))
    assert outcomes.count("booked") == 1 and outcomes.count("conflict") == 49
    assert sum(len(store.list(f"adv-{i}")) for i in range(50)) == 1


def test_idempotency_key_replays_and_refuses_other_slots(store: BookingStore) -> None:
    first, _ = store.book("adv-1", [_slot(7)], "GBP", idempotency_key="k1")
    again, replayed = store.book("adv-1", [_slot(7)], "GBP", idempotency_key="k1")
    assert replayed and again.id == first.id
    with pytest.raises(IdempotencyMismatch):
        store.book("adv-1", [_slot(6)], "GBP", idempotency_key="k1")
    other, replayed = store.book("adv-2", [_slot(6)], "GBP", idempotency_key="k1")
    assert not replayed and other.advertiser_id == "adv-2"  # keys are per advertiser
    assert len(store.list("adv-1")) == 1


def test_only_the_owner_or_staff_can_read_and_cancel(store: BookingStore) -> None:
    booking, _ = store.book("adv-1", [_slot(12)], "GBP")
    with pytest.raises(BookingNotFound):
        store.get(booking.id, "adv-2")
    with pytest.raises(BookingNotFound):
        store.cancel(booking.id, "adv-2")
    assert store.is_booked("loc-a@2026-11-30T12")
    cancelled, changed = store.cancel(booking.id, "adv-1")
    assert changed and cancelled.status is BookingStatus.CANCELLED
    assert not store.is_booked("loc-a@2026-11-30T12")
    _, changed_again = store.cancel(booking.id, None)
    assert not changed_again
    rebooked, _ = store.book("adv-2", [_slot(12)], "GBP")
    assert store.get(rebooked.id).advertiser_id == "adv-2"
    store.cancel(booking.id, None)  # cancelling the old booking again must not free it
    assert store.is_booked("loc-a@2026-11-30T12")


def test_a_booking_needs_distinct_slots(store: BookingStore) -> None:
    with pytest.raises(ValueError):
        store.book("adv-1", [_slot(8), _slot(8)], "GBP")
    with pytest.raises(ValueError):
        store.book("adv-1", [], "GBP")

"""Campaign results: the attentive audience each booked slot delivered (from the camera rows
in the lake, rolled up exactly as the forecast's history is) against its forecast at booking.

A slot is `upcoming` before its hour, `live` during it (partly delivered: the lake fills as
the camera actors flush, about every minute) and `done` after it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from core.ads.audience_history import (
    HOUR_KEYS,
    SOURCE_COLUMNS,
    combine_hourly,
    hourly_partial,
    rates,
)
from core.ads.bookings import Booking
from core.lake import AUDIENCE, Lake

SLOT = timedelta(hours=1)
Delivered = Mapping[tuple[str, str, int], Mapping[str, Any]]


def delivered_audience(lake: Lake, locations: Collection[str], first_day: date, last_day: date,
                       zones: Mapping[str, str]) -> Delivered:
    """(location, local date, hour) -> crowd, attentive and attention rate measured there."""
    # raw rows are partitioned by UTC date: a local day can spill into its neighbours
    days = [(first_day + timedelta(days=offset)).isoformat()
            for offset in range(-1, (last_day - first_day).days + 2)]
    where = pc.is_in(pc.field("location"), pa.array(sorted(locations))) & \
        pc.is_in(pc.field("date"), pa.array(days))
    raw = lake.read(AUDIENCE, columns=SOURCE_COLUMNS, filter=where)
    if raw.num_rows == 0:
        return {}
    hourly = rates(combine_hourly([hourly_partial(raw, zones)]), HOUR_KEYS)
    return {(row["location"], row["date"], row["hour"]): row
            for row in hourly.select(["location", "date", "hour", "crowd", "attentive",
                                      "attention_rate"]).to_pylist()}


def slot_state(start: datetime, now: datetime) -> str:
    if now < start:
        return "upcoming"
    return "live" if now < start + SLOT else "done"


def _rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def campaign_results(booking: Booking, delivered: Delivered,
                     now: Mapping[str, datetime]) -> dict[str, Any]:
    """Per slot and in total: forecast (at booking) vs delivered attentive audience.

    `now` is each location's local wall-clock time (slot starts are local hours).
    """
    slots, forecast_total, forecast_to_date, delivered_total = [], 0.0, 0.0, 0.0
    for slot in sorted(booking.slots, key=lambda s: (s.start, s.location_id)):
        state = slot_state(slot.start, now[slot.location_id])
        measured = delivered.get((slot.location_id, slot.start.date().isoformat(),
                                  slot.start.hour)) if state != "upcoming" else None
        attentive = measured["attentive"] if measured else None
        forecast_total += slot.attentive_p50 or 0.0
        if state != "upcoming":
            forecast_to_date += slot.attentive_p50 or 0.0
            delivered_total += attentive or 0.0
        slots.append({
            "slot_id": slot.slot_id, "location_id": slot.location_id,
            "start": slot.start.isoformat(), "state": state, "price": slot.price,
            "forecast": {"p10": _rounded(slot.attentive_p10), "p50": _rounded(slot.attentive_p50),
                         "p90": _rounded(slot.attentive_p90)},
            "delivered": _rounded(attentive),
            "crowd": _rounded(measured["crowd"]) if measured else None,
            "attention_rate": _rounded(measured["attention_rate"], 4) if measured else None,
        })
    states = {slot["state"] for slot in slots}
    return {
        "booking_id": booking.id, "advertiser_id": booking.advertiser_id,
        "status": booking.status, "currency": booking.currency,
        "total_price": booking.total_price,
        "campaign": states.pop() if len(states) == 1 and "live" not in states else "live",
        "slots": slots,
        "totals": {
            "forecast_p50": round(forecast_total, 1),
            "forecast_to_date": round(forecast_to_date, 1),
            "delivered": round(delivered_total, 1),
            "delivery_ratio": round(delivered_total / forecast_to_date, 3)
            if forecast_to_date else None,
        },
    }
